"""Public pages: readiness, the dose calculator, the plain-language answers, the rule catalogue."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from b12.adapters.web import deps
from b12.adapters.web.calculator import FIELDS, calculate, label_strengths, syringe_note
from b12.adapters.web.forms import FormState
from b12.adapters.web.plain import answers
from b12.domain.guidelines import sources
from b12.services import rule_catalogue

router = APIRouter()


@router.get("/healthz", name="healthz", include_in_schema=False)
def healthz(request: Request) -> JSONResponse:
    """200 once the startup check has reached the database, 503 before."""
    ready = bool(deps.wiring(request).state.get("ready"))
    return JSONResponse({"status": "ok" if ready else "starting"}, status_code=200 if ready else 503)


def _home(request: Request, form: FormState, answer: object, *, status_code: int = 200) -> HTMLResponse:
    context = {
        "form": form,
        "answer": answer,
        "strengths": label_strengths(),
        "note": syringe_note(),
        "fields": FIELDS,
    }
    return deps.render(request, "home.html", context, status_code=status_code)


@router.get("/", name="home", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """How many mg is my injection? — the dose calculator."""
    return _home(request, FormState(values={"syringe": "U-100"}), None)


@router.post("/dose", name="dose", response_class=HTMLResponse)
async def dose(request: Request) -> HTMLResponse:
    """The calculator's answer: a fragment for htmx (as you type), the whole page for a plain form post."""
    form = FormState.of(await request.form())
    live = deps.is_htmx(request)
    answer = calculate(form, live=live)
    status = 422 if form.errors else 200
    if live:
        context = {"form": form, "answer": answer, "note": syringe_note(), "fields": FIELDS, "oob": True}
        return deps.render(request, "_dose_result.html", context, status_code=status)
    return _home(request, form, answer, status_code=status)


@router.get("/questions", name="questions", response_class=HTMLResponse)
def questions(request: Request) -> HTMLResponse:
    """Plain-language answers to the questions patients ask, drawn from the guideline data with sources."""
    return deps.render(request, "questions.html", {"answers": answers()})


@router.get("/rules", name="rules", response_class=HTMLResponse)
def rules(request: Request) -> HTMLResponse:
    """Every rule, regimen and threshold set b12 applies, with its sources."""
    return deps.render(request, "rules.html", {"entries": rule_catalogue()})


@router.get("/rules/{rule_id}", name="rule", response_class=HTMLResponse)
def rule(request: Request, rule_id: str) -> Response:
    """One rule: its text, the guidelines that use it, and each source's title and address."""
    entry = next((e for e in rule_catalogue() if e.id.upper() == rule_id.upper()), None)
    if entry is None:
        raise HTTPException(404)
    known = sources()
    cited = [known[s] for s in entry.sources if s in known]
    return deps.render(request, "rule.html", {"entry": entry, "cited": cited})
