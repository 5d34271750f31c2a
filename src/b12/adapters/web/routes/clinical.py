"""Clinical pages: assessment -> plan, and regimens compared side by side.

Nothing here is stored, as with ``b12 plan``: the assessment is posted (patient data stays out of addresses
and logs) and the comparison, which holds only regimen IDs and a date, is a bookmarkable GET. Starting a
course from a plan is a write and belongs to the tracking pages (``_plan_actions.html`` is where its button
goes, behind ``require_clinician``).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from b12.adapters.plan_json import comparison_to_dict, plan_to_dict
from b12.adapters.web import deps
from b12.adapters.web.assessment import (
    MAX_LAB_ROWS,
    Choice,
    blank_form,
    choices,
    lab_rows,
    lab_units,
    label,
    plan_from_form,
)
from b12.adapters.web.forms import FormState
from b12.domain.errors import CaseError, UnknownGuidelineError
from b12.domain.guidelines import GUIDELINE_IDS, find_regimen, load_guideline
from b12.domain.plan import Plan
from b12.services import compare_regimens, plan_regimens

router = APIRouter()


def _assess_page(
    request: Request, form: FormState, plan: Plan | None = None, *, status_code: int = 200
) -> HTMLResponse:
    context: dict[str, Any] = {
        "form": form,
        "rows": range(lab_rows(form)),
        "max_rows": MAX_LAB_ROWS,
        "choices": choices(),
        "units": lab_units(),
        "label": label,
        "plan": plan_to_dict(plan) if plan else None,
        "compare_url": _compare_url(plan) if plan else None,
    }
    return deps.render(request, "assess.html", context, status_code=status_code)


def _compare_url(plan: Plan) -> str | None:
    ids = plan_regimens(plan)
    if len(ids) < 2:
        return None
    qualified = [f"{find_regimen(r, plan.guideline.id)[0].id}:{r}" for r in ids]
    query = urlencode([("start", plan.case.start.isoformat()), *(("regimens", q) for q in qualified)])
    return f"/compare?{query}"


@router.get("/assess", name="assess", response_class=HTMLResponse)
def assess_form(request: Request) -> HTMLResponse:
    """The assessment form: labs with units, symptoms, causes, conditions, patient, guideline, choices."""
    return _assess_page(request, blank_form(deps.get_clock(request).today()))


@router.post("/assess", response_class=HTMLResponse)
async def assess(request: Request) -> HTMLResponse:
    """The plan for the assessment, or the form again with each problem beside its field (422)."""
    form = FormState.of(await request.form())
    if form.text("action") == "add_lab":
        form.values["lab_rows"] = str(min(lab_rows(form) + 1, MAX_LAB_ROWS))
        return _assess_page(request, form)
    plan = plan_from_form(form)
    if plan is None:
        return _assess_page(request, form, status_code=422)
    return _assess_page(request, form, plan)


def _regimen_choices() -> list[tuple[str, list[Choice]]]:
    groups = []
    for guideline_id in GUIDELINE_IDS:
        guideline = load_guideline(guideline_id)
        groups.append(
            (
                guideline.title,
                [Choice(f"{guideline_id}:{r.id}", f"{r.id}: {r.title}") for r in guideline.regimens.values()],
            )
        )
    return groups


@router.get("/compare", name="compare", response_class=HTMLResponse)
def compare(request: Request) -> HTMLResponse:
    """Regimens side by side over the same first year: injections, mg, switch date, estimated retained."""
    form = FormState.of(request.query_params)
    comparison: dict[str, Any] | None = None
    asked = "start" in form.values or "regimens" in form.values
    if not asked:
        form.values["start"] = deps.get_clock(request).today().isoformat()
    else:
        start: date | None = None
        try:
            start = date.fromisoformat(form.text("start"))
        except ValueError:
            form.add_error("start", f"{form.text('start')!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-01-05")
        try:
            if start is not None:
                comparison = comparison_to_dict(compare_regimens(start, form.all("regimens")))
        except CaseError:
            form.add_error("regimens", "Choose at least two regimens to compare")
        except UnknownGuidelineError as error:
            form.add_error("regimens", str(error))
    context = {"form": form, "groups": _regimen_choices(), "comparison": comparison}
    return deps.render(request, "compare.html", context, status_code=422 if form.errors else 200)
