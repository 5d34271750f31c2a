"""Shared pieces of the clinician and access tests: accounts, patients and courses on the fakes, and forms read
from a page the way a browser sends them (hidden fields, selected options, checked boxes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from typing import Any

from test_web_support import Web

from b12.adapters.case_json import case_from_json
from b12.domain.accounts import Account, PatientRecord, Role
from b12.domain.case import Sex
from b12.domain.tracking import Course
from b12.services import plan_case
from b12.services_tracking import start_course_from_plan

PASSWORD = "correct horse battery"

# VIGNETTES V01 (tests/vectors/vignettes.toml): F 62, total B12 150 ng/L, autoimmune gastritis -> UK-IM-NN.
V01: dict[str, Any] = {
    "guideline": "uk",
    "start": "2026-01-05",
    "patient": {"sex": "female", "age": 62},
    "symptoms": ["fatigue", "glossitis"],
    "causes": ["autoimmune_gastritis"],
    "labs": [
        {"test": "b12_total", "value": 150, "unit": "ng/L"},
        {"test": "hemoglobin", "value": 104, "unit": "g/L"},
        {"test": "mcv", "value": 108, "unit": "fL"},
    ],
}


def v01_form(start: str = "2026-01-05") -> list[tuple[str, str]]:
    """The assessment form a clinician fills in for V01."""
    fields = [
        ("guideline", "uk"),
        ("start", start),
        ("lab_rows", "4"),
        ("patient.sex", "female"),
        ("patient.age", "62"),
        ("syringe", "U-100"),
        ("symptoms", "fatigue"),
        ("symptoms", "glossitis"),
        ("causes", "autoimmune_gastritis"),
        ("action", "plan"),
    ]
    for row, lab in enumerate(V01["labs"]):
        fields += [(f"labs[{row}].{key}", str(lab[key])) for key in ("test", "value", "unit")]
    return fields


def add_account(web: Web, role: Role, email: str, name: str, patient_id: str | None = None) -> Account:
    created = Account(
        uuid.uuid4().hex, email, name, role, web.passwords.hash(PASSWORD), web.clock.now(), patient_id=patient_id
    )
    web.add_account(created)
    return created


def add_patient(
    web: Web, clinician: Account | None, name: str, *, sex: Sex = Sex.FEMALE, birth: date = date(1963, 6, 1)
) -> PatientRecord:
    patient = PatientRecord(
        uuid.uuid4().hex, name, sex, web.clock.now(), birth_date=birth, clinician_id=clinician.id if clinician else None
    )
    with web.uow:
        web.uow.accounts.add_patient(patient)
        web.uow.commit()
    return patient


def start_v01(web: Web, clinician: Account, patient: PatientRecord, start: str = "2026-01-05") -> Course:
    """A V01 course for ``patient``, started through the service (as the start form does)."""
    plan = plan_case(case_from_json({**V01, "start": start}))
    return start_course_from_plan(web.uow, web.clock, clinician, patient.id, plan)


def sign_in(web: Web, email: str) -> Any:
    web.client.cookies.clear()
    return web.post("/signin", {"email": email, "password": PASSWORD})


# --- forms as a browser sends them ------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)

    def with_values(self, **changes: str | None) -> list[tuple[str, str]]:
        """The fields with some replaced (``None`` removes); names with dots are passed as ``course__start``."""
        named = {k.replace("__", "."): v for k, v in changes.items()}
        kept = [(k, v) for k, v in self.fields if k not in named]
        return kept + [(k, v) for k, v in named.items() if v is not None]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: list[Any] | None = None  # [name, selected, first]
        self._textarea: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is None or ("name" not in a and tag in ("input", "select", "textarea")):
            return
        elif tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form.fields.append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button", "image", "reset"):
                self._form.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = [a["name"], None, None]
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select[2] is None:
                self._select[2] = value
            if "selected" in a:
                self._select[1] = value
        elif tag == "textarea":
            self._textarea = [a["name"], ""]

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, selected, first = self._select
            self._form.fields.append((name, selected if selected is not None else first or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.fields.append((self._textarea[0], self._textarea[1]))
            self._textarea = None


def forms(page: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(page)
    return parser.forms


def form_to(page: str, action: str) -> Form:
    found = [f for f in forms(page) if f.action.split("#")[0] == action]
    assert len(found) == 1, f"{len(found)} forms post to {action}"
    return found[0]


def submit(web: Web, fields: list[tuple[str, str]], action: str) -> Any:
    data: dict[str, list[str]] = {}
    for key, value in fields:
        data.setdefault(key, []).append(value)
    return web.client.post(action.split("#")[0], data=data, follow_redirects=False)
