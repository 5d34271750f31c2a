"""Clinician pages: the patient list with statuses and sorting, creating a patient, a patient's page, starting a
course from the assessment's plan (made again on the server), amending it with a reason, the audit trail."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clinic_fixtures import (
    add_account,
    add_patient,
    form_to,
    forms,
    sign_in,
    start_v01,
    submit,
    v01_form,
)
from fastapi.responses import PlainTextResponse
from test_web_support import Web, field_error, input_value, make_web

from b12.adapters.web.routes import clinician as clinician_routes
from b12.domain.accounts import Account, PatientRecord, Role
from b12.domain.case import Sex
from b12.domain.tracking import AmendmentKind
from b12.services_tracking import record_dose, record_lab, record_reaction, record_symptoms


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from make_web(tmp_path)


@pytest.fixture
def doctor(web: Web) -> Account:
    account = add_account(web, Role.CLINICIAN, "doc@example.org", "Dr Ada Clinician")
    sign_in(web, "doc@example.org")
    return account


def text(page: str) -> str:
    """The page's words, without tags, entities resolved, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def list_order(page: str) -> list[str]:
    """Patient names in the order of the list's rows."""
    return re.findall(r'<th scope="row">\s*<a href="/clinician/patients/[0-9a-f]+">([^<]+)</a>', page)


def row_of(page: str, name: str) -> str:
    match = re.search(rf"<tr>\s*<th scope=\"row\">\s*<a [^>]*>{re.escape(name)}</a>.*?</tr>", page, re.S)
    assert match, f"no row for {name}"
    return text(match.group(0))


# --- the whole round: assessment -> course -> list -> amendment -> audit ----------------------------------


def start_from_plan(web: Web, patient: PatientRecord, **changes: str | None) -> Any:
    """Run the V01 assessment and submit the plan's start form as a browser would, with ``changes``."""
    plan_page = web.post("/assess", v01_form())
    assert plan_page.status_code == 200, text(plan_page.text)[:500]
    form = form_to(plan_page.text, "/clinician/courses")
    values = {"course__patient": patient.id, "course__confirm_regimen": "on", **changes}
    return submit(web, form.with_values(**values), form.action)


def test_a_clinician_signs_in_to_the_patient_list(web: Web) -> None:
    add_account(web, Role.CLINICIAN, "doc@example.org", "Dr Ada Clinician")
    response = sign_in(web, "doc@example.org")
    assert response.headers["location"] == "/clinician/patients"
    page = web.client.get("/clinician/patients").text
    assert "<h1>Your patients</h1>" in page
    assert '<a href="/clinician/patients" aria-current="page">Your patients</a>' in page


def test_a_course_started_from_the_v01_plan_shows_on_the_list_as_due(web: Web, doctor: Account) -> None:
    patient = add_patient(web, doctor, "Vera One")
    response = start_from_plan(web, patient)
    assert response.status_code == 303, text(response.text)[:800]
    assert response.headers["location"] == f"/clinician/patients/{patient.id}"
    (course,) = web.store.courses.values()
    assert (course.patient_id, course.regimen_id, course.start) == (patient.id, "UK-IM-NN", date(2026, 1, 5))
    assert (course.strength, course.syringe, course.created_by) == ("1 mg/mL", "U-100", doctor.id)

    detail = web.client.get(response.headers["location"]).text
    assert "Course started for Vera One: UK-IM-NN from 5 Jan 2026." in text(detail)
    assert f'href="/clinician/courses/{course.id}"' in detail
    listing = web.client.get("/clinician/patients").text
    assert "Due" in row_of(listing, "Vera One")
    assert '<time datetime="2026-01-05">Mon 5 Jan 2026</time>' in listing


def test_amending_the_maintenance_interval_to_2_months_recomputes_the_dates_and_is_audited(
    web: Web, doctor: Account
) -> None:
    patient = add_patient(web, doctor, "Vera One")
    course = start_v01(web, doctor, patient)
    page = web.client.get(f"/clinician/courses/{course.id}").text
    # Six loading doses to 16 Jan, then every 3 months from the last loading dose (V01).
    assert '<time datetime="2026-01-16">' in page
    assert '<time datetime="2026-04-16">' in page
    assert '<time datetime="2026-03-16">' not in page

    form = form_to(page, f"/clinician/courses/{course.id}/amend")
    reason = "Symptoms come back before the 3-monthly dose (V30)"
    fields = form.with_values(change="set_maintenance_interval", months="2", reason=reason)
    response = submit(web, fields, form.action)
    assert response.status_code == 303, text(response.text)[:800]

    page = web.client.get(response.headers["location"]).text
    assert "Amended: Set the maintenance interval." in text(page)
    assert '<time datetime="2026-03-16">' in page
    assert '<time datetime="2026-05-16">' in page
    assert '<time datetime="2026-04-16">' not in page
    assert "every 2 months (label: every 2–3 months)" in text(page)  # the phase in force
    assert "Set the maintenance interval : every 2 months" in text(page)  # the amendment
    assert reason in text(page)
    (amendment,) = web.store.amendments.values()
    assert (amendment.kind, amendment.params, amendment.reason) == (
        AmendmentKind.SET_MAINTENANCE_INTERVAL,
        {"months": 2},
        reason,
    )

    trail = text(web.client.get(f"/clinician/courses/{course.id}/audit").text)
    assert "Amended the course: Set the maintenance interval" in trail
    assert f"Reason: {reason}" in trail
    assert "Months: 2" in trail
    assert trail.index("Amended the course") < trail.index("Started a course")  # newest first
    assert "Dr Ada Clinician (clinician)" in trail
    assert "Mon 5 Jan 2026 09:00:00 UTC" in trail


def test_an_amendment_without_a_reason_is_refused_beside_the_field_and_keeps_what_was_typed(
    web: Web, doctor: Account
) -> None:
    course = start_v01(web, doctor, add_patient(web, doctor, "Vera One"))
    page = web.client.get(f"/clinician/courses/{course.id}").text
    form = form_to(page, f"/clinician/courses/{course.id}/amend")
    response = submit(web, form.with_values(change="set_maintenance_interval", months="2", reason="  "), form.action)
    assert response.status_code == 422
    assert field_error(response.text, "reason") == "Give the reason for the change: it is kept with the course"
    assert input_value(response.text, "months") == "2"
    assert 'value="set_maintenance_interval" checked' in response.text
    assert not web.store.amendments


@pytest.mark.parametrize(
    ("changes", "field_id", "message"),
    [
        ({"change": None}, "change", "Choose what to change"),
        ({"months": "13"}, "months", "A whole number of months from 1 to 12"),
        ({"months": "two"}, "months", "'two' is not a whole number: enter digits only, for example 2"),
        ({"months": ""}, "months", "Enter the interval in months, from 1 to 12"),
        ({"effective": "5/1/2026"}, "effective", "Enter the date as YYYY-MM-DD, for example 2026-03-01"),
        ({"effective": "2025-12-01"}, "effective", "The course starts on 2026-01-05; this is before it"),
        ({"change": "switch_route", "regimen": ""}, "regimen", "Choose the regimen to switch to"),
        (
            {"change": "teleport"},
            "change",
            "Use one of set_maintenance_interval, end_loading, switch_route, stop, review",
        ),
        (
            {"change": "switch_route", "regimen": "UK-ORAL-MAL", "phase": "loading"},
            "phase",
            "UK-ORAL-MAL has the phases oral",
        ),
    ],
)
def test_a_refused_amendment_says_why_beside_the_field(
    web: Web, doctor: Account, changes: dict[str, str | None], field_id: str, message: str
) -> None:
    course = start_v01(web, doctor, add_patient(web, doctor, "Vera One"))
    form = form_to(web.client.get(f"/clinician/courses/{course.id}").text, f"/clinician/courses/{course.id}/amend")
    values = {"change": "set_maintenance_interval", "months": "2", "reason": "Because", **changes}
    response = submit(web, form.with_values(**values), form.action)
    assert response.status_code == 422
    assert field_error(response.text, field_id) == message
    assert not web.store.amendments


def test_ending_loading_switching_and_stopping_are_kept_with_their_reasons(web: Web, doctor: Account) -> None:
    course = start_v01(web, doctor, add_patient(web, doctor, "Vera One"))
    action = f"/clinician/courses/{course.id}/amend"
    for change, extra in (
        ("review", {}),
        ("end_loading", {}),
        ("switch_route", {"regimen": "UK-ORAL-MAL"}),
        ("stop", {}),
    ):
        form = form_to(web.client.get(f"/clinician/courses/{course.id}").text, action)
        response = submit(web, form.with_values(change=change, reason=f"reason for {change}", **extra), action)
        assert response.status_code == 303, (change, text(response.text)[:600])
    kinds = [a.kind.value for a in sorted(web.store.amendments.values(), key=lambda a: a.reason)]
    assert sorted(kinds) == ["end_loading", "review", "stop", "switch_route"]
    page = web.client.get(f"/clinician/courses/{course.id}").text
    assert "it cannot be amended" in text(page)
    assert not [f for f in forms(page) if f.action.startswith(action)]
    assert "Stopped" in text(page)


# --- starting a course: the plan is made again on the server ----------------------------------------------


def test_the_start_form_carries_the_assessment_not_the_plan(web: Web, doctor: Account) -> None:
    add_patient(web, doctor, "Vera One")
    form = form_to(web.post("/assess", v01_form()).text, "/clinician/courses")
    names = {name for name, _ in form.fields}
    assert {"labs[0].value", "patient.sex", "causes", "course.patient", "course.start", "course.strength"} <= names
    assert not names & {"regimen", "schedule", "phases", "plan"}
    assert ("course.regimen", "UK-IM-NN") in form.fields
    assert ("course.strength", "1 mg/mL") in form.fields


def test_a_changed_assessment_makes_another_plan_and_the_confirmed_regimen_is_refused(
    web: Web, doctor: Account
) -> None:
    patient = add_patient(web, doctor, "Vera One")
    # The hidden B12 result is changed to 900 ng/L, and the rest dropped: the plan made again treats no one.
    dropped = {f"labs[{row}].{key}": None for row in (1, 2) for key in ("test", "value", "unit")}
    response = start_from_plan(web, patient, causes=None, symptoms=None, **dropped, **{"labs[0].value": "900"})
    assert response.status_code == 422
    assert "This plan recommends no treatment to start." in text(response.text)
    # A neurological symptom is slipped in: the plan made again is UK-IM-NEURO, not the regimen confirmed.
    response = start_from_plan(web, patient, symptoms="paraesthesia")
    assert response.status_code == 422
    assert field_error(response.text, "course-confirm-regimen") == (
        "The plan now recommends UK-IM-NEURO, not UK-IM-NN: read the plan below and confirm again"
    )
    # The hidden regimen is changed: the plan made again still says UK-IM-NN, and the form says so.
    response = start_from_plan(web, patient, course__regimen="UK-IM-NEURO")
    assert response.status_code == 422
    assert field_error(response.text, "course-confirm-regimen") == (
        "The plan now recommends UK-IM-NN, not UK-IM-NEURO: read the plan below and confirm again"
    )
    assert not web.store.courses


@pytest.mark.parametrize(
    ("changes", "field_id", "message"),
    [
        ({"course__patient": ""}, "course-patient", "Choose one of your patients"),
        ({"course__confirm_regimen": None}, "course-confirm-regimen", "Confirm the regimen UK-IM-NN for this patient"),
        ({"course__start": ""}, "course-start", "Enter the date of the first dose, for example 2026-01-05"),
        ({"course__start": "2026-13-01"}, "course-start", "'2026-13-01' is not a real date"),
        ({"course__strength": "1000 mcg"}, "course-strength", None),
    ],
)
def test_a_refused_start_says_why_beside_the_field_and_keeps_what_was_typed(
    web: Web, doctor: Account, changes: dict[str, str | None], field_id: str, message: str | None
) -> None:
    patient = add_patient(web, doctor, "Vera One")
    response = start_from_plan(web, patient, **changes)
    assert response.status_code == 422
    error = field_error(response.text, field_id)
    assert error if message is None else error.startswith(message), error
    again = form_to(response.text, "/clinician/courses")
    for name, value in changes.items():
        if value is not None:
            assert (name.replace("__", "."), value) in again.fields
    assert ("labs[0].value", "150") in again.fields  # the assessment is still carried
    assert not web.store.courses


def test_a_patient_of_another_clinician_cannot_be_chosen(web: Web, doctor: Account) -> None:
    other = add_account(web, Role.CLINICIAN, "other@example.org", "Dr Other")
    theirs = add_patient(web, other, "Olga Other")
    response = start_from_plan(web, theirs)
    assert response.status_code == 422
    assert field_error(response.text, "course-patient") == "Choose one of your patients"
    assert "Olga Other" not in response.text
    assert not web.store.courses


def test_the_assessment_must_be_the_chosen_patients(web: Web, doctor: Account) -> None:
    man = add_patient(web, doctor, "Max Male", sex=Sex.MALE)
    response = start_from_plan(web, man)
    assert field_error(response.text, "course-patient") == (
        "The assessment is for a female patient; Max Male is recorded as male"
    )
    young = add_patient(web, doctor, "Yara Young", birth=date(1990, 1, 1))
    response = start_from_plan(web, young)
    assert (
        field_error(response.text, "course-patient")
        == "The assessment gives an age of 62; Yara Young is 36 on the start date"
    )
    assert not web.store.courses


def test_the_plan_page_offers_the_start_form_only_to_clinicians(web: Web) -> None:
    page = web.post("/assess", v01_form()).text
    assert not [f for f in forms(page) if f.action == "/clinician/courses"]
    assert "to start a course from a plan" in text(page)
    add_account(web, Role.PATIENT, "pat@example.org", "Pat Patient")
    sign_in(web, "pat@example.org")
    page = web.post("/assess", v01_form()).text
    assert not [f for f in forms(page) if f.action == "/clinician/courses"]


# --- patients: creating, the list, sorting ----------------------------------------------------------------


def test_a_new_patient_is_assigned_to_the_clinician_and_audited(web: Web, doctor: Account) -> None:
    fields = {"name": "  Nora   New ", "sex": "female", "birth_date": "1980-02-03", "pregnant": "on"}
    response = web.post("/clinician/patients", fields)
    assert response.status_code == 303, text(response.text)[:600]
    (patient,) = web.store.patients.values()
    assert (patient.name, patient.sex, patient.birth_date) == ("Nora New", Sex.FEMALE, date(1980, 2, 3))
    assert (patient.clinician_id, patient.pregnant, patient.breastfeeding) == (doctor.id, True, False)
    assert response.headers["location"] == f"/clinician/patients/{patient.id}"
    (entry,) = [e for e in web.store.audit if e.action == "patient.create"]
    assert (entry.actor_id, entry.entity_id) == (doctor.id, patient.id)
    assert entry.detail == {"name": "Nora New", "sex": "female", "birth_date": "1980-02-03"}
    page = web.client.get(response.headers["location"]).text
    assert "Nora New" in page
    assert "pregnant" in page
    assert "No course" in row_of(web.client.get("/clinician/patients").text, "Nora New")


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"name": ""}, "name", "Enter the patient's name"),
        ({"name": "x" * 201}, "name", "Enter a name of at most 200 characters"),
        ({"sex": ""}, "sex", "Choose female or male (the guideline data is written for these two)"),
        ({"birth_date": ""}, "birth-date", "Enter the date of birth, for example 1964-03-12"),
        ({"birth_date": "12/03/1964"}, "birth-date", "Enter the date as YYYY-MM-DD, for example 1964-03-12"),
        ({"birth_date": "2030-01-01"}, "birth-date", "Enter a date of birth between 1900 and today"),
        ({"sex": "male", "pregnant": "on"}, "pregnant", "Only a female patient can be recorded as pregnant"),
    ],
)
def test_a_new_patient_with_bad_input_is_refused_beside_the_field_and_kept(
    web: Web, doctor: Account, fields: dict[str, str], field_id: str, message: str
) -> None:
    data = {"name": "Nora New", "sex": "female", "birth_date": "1980-02-03", **fields}
    response = web.post("/clinician/patients", data)
    assert response.status_code == 422
    assert field_error(response.text, field_id) == message
    if "birth_date" in fields:
        assert input_value(response.text, "birth-date") == fields["birth_date"]
    assert input_value(response.text, "name") == data["name"]
    assert not web.store.patients


@pytest.fixture
def four(web: Web, doctor: Account) -> dict[str, PatientRecord]:
    """Alice (no course), Bob (a course due since November: overdue), Carol (due today), Dana (starts in February)."""
    people = {name: add_patient(web, doctor, name) for name in ("Carol", "alice", "Dana", "Bob")}
    start_v01(web, doctor, people["Bob"], "2025-11-03")
    start_v01(web, doctor, people["Carol"])
    start_v01(web, doctor, people["Dana"], "2026-02-02")
    return people


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["Bob", "Carol", "Dana", "alice"]),
        ("?sort=status", ["Bob", "Carol", "Dana", "alice"]),
        ("?sort=status&order=desc", ["alice", "Dana", "Carol", "Bob"]),
        ("?sort=name", ["alice", "Bob", "Carol", "Dana"]),
        ("?sort=name&order=desc", ["Dana", "Carol", "Bob", "alice"]),
        ("?sort=next_due", ["Bob", "Carol", "Dana", "alice"]),
        ("?sort=next_due&order=desc", ["Dana", "Carol", "Bob", "alice"]),
        ("?sort=shoe-size&order=sideways", ["Bob", "Carol", "Dana", "alice"]),
    ],
)
def test_the_patient_list_sorts_by_name_next_due_and_status(
    web: Web, four: dict[str, PatientRecord], query: str, expected: list[str]
) -> None:
    response = web.client.get(f"/clinician/patients{query}")
    assert response.status_code == 200
    assert list_order(response.text) == expected


def test_the_list_shows_each_patients_status(web: Web, four: dict[str, PatientRecord]) -> None:
    page = web.client.get("/clinician/patients").text
    assert "Overdue" in row_of(page, "Bob")
    assert "TRK-OVERDUE" not in row_of(page, "Bob")
    assert row_of(page, "Carol").startswith("Carol Female, 62 Due")
    assert "On track" in row_of(page, "Dana")
    assert "Mon 2 Feb 2026" in row_of(page, "Dana")
    assert "No course" in row_of(page, "alice")
    # The headings sort, as links that work without JavaScript; the active one says which way.
    assert '<th scope="col" aria-sort="ascending">' in page
    assert 'href="/clinician/patients?sort=name&amp;order=asc"' in page
    assert 'href="/clinician/patients?sort=status&amp;order=desc"' in page


def test_a_red_flag_and_a_review_due_are_shown_with_their_rule_ids(web: Web, doctor: Account) -> None:
    patient = add_patient(web, doctor, "Rita Red")
    course = start_v01(web, doctor, patient, "2025-09-01")
    for day in (1, 3, 5, 8, 10, 12):
        at = datetime(2025, 9, day, 10, tzinfo=UTC)
        record_dose(web.uow, web.clock, doctor, course.id, at=at, site="left deltoid")
    dose = max(web.store.doses.values(), key=lambda d: d.at)
    record_reaction(web.uow, web.clock, doctor, course.id, dose.id, "Itchy rash", severe=True)
    page = web.client.get("/clinician/patients").text
    row = row_of(page, "Rita Red")
    assert "Red flag" in row
    assert "Review due" in row
    assert "SAFE-COBALT" in row
    detail = web.client.get(f"/clinician/patients/{patient.id}").text
    assert 'id="red-flags-title"' in detail
    assert '<a class="rule-id" href="/rules/SAFE-COBALT">SAFE-COBALT</a>' in detail
    assert re.search(r'Sources: <a href="https?://[^"]+"', detail)  # sources linked to their addresses


# --- a patient's page and the audit trail -----------------------------------------------------------------


def test_the_patient_page_shows_courses_next_dose_and_recent_facts(web: Web, doctor: Account) -> None:
    patient = add_patient(web, doctor, "Vera One")
    course = start_v01(web, doctor, patient)
    record_dose(web.uow, web.clock, doctor, course.id, site="left deltoid", batch="B-123")
    record_lab(web.uow, web.clock, doctor, patient.id, "b12_total", 150, "pg/mL", taken=date(2026, 1, 2))
    record_symptoms(web.uow, web.clock, doctor, patient.id, {"fatigue": 6, "glossitis": 2}, note="tired")
    page = web.client.get(f"/clinician/patients/{patient.id}").text
    words = text(page)
    assert "Next dose Wed 7 Jan 2026 : 1 mg IM hydroxocobalamin · 1 mL · 100 units · site: right deltoid" in words
    assert "left deltoid" in words
    assert "B-123" in words
    assert "Dr Ada Clinician (clinician)" in words
    assert "150 pg/mL" in words
    assert "150 ng/L" in words
    assert "fatigue 6, glossitis 2" in words
    assert "tired" in words
    assert "1 on time of 1 due" in words
    assert f'href="/clinician/patients/{patient.id}/audit"' in page


def test_the_patient_audit_trail_lists_every_write_newest_first(web: Web, doctor: Account) -> None:
    response = web.post("/clinician/patients", {"name": "Vera One", "sex": "female", "birth_date": "1963-06-01"})
    (patient,) = web.store.patients.values()
    web.clock.advance(minutes=5)
    course = start_v01(web, doctor, patient)
    web.clock.advance(minutes=5)
    record_dose(web.uow, web.clock, doctor, course.id, site="left deltoid")
    web.clock.advance(minutes=5)
    record_symptoms(web.uow, web.clock, doctor, patient.id, {"fatigue": 6})
    trail = web.client.get(f"{response.headers['location']}/audit").text
    words = text(trail)
    actions = ["Recorded symptoms", "Recorded a dose", "Started a course", "Created the patient record"]
    positions = [words.index(a) for a in actions]
    assert positions == sorted(positions)
    assert "4 entries, newest first" in words
    assert "Mon 5 Jan 2026 09:15:00 UTC" in words
    assert "Site: left deltoid" in words
    course_trail = text(web.client.get(f"/clinician/courses/{course.id}/audit").text)
    assert "Recorded a dose" in course_trail
    assert "Recorded symptoms" not in course_trail


def test_the_patient_and_course_pages_link_every_export_of_the_course(web: Web, doctor: Account) -> None:
    patient = add_patient(web, doctor, "Vera One")
    course = start_v01(web, doctor, patient)
    pages = (
        web.client.get(f"/clinician/patients/{patient.id}").text,
        web.client.get(f"/clinician/courses/{course.id}").text,
    )
    for _, template in clinician_routes.COURSE_EXPORTS:
        path = template.format(course_id=course.id)
        for page in pages:
            assert f'<a href="{path}">' in page, path
        assert web.client.get(path).status_code == 200, path  # the clinician may follow each link


def test_an_export_link_is_offered_only_where_the_app_has_its_route(web: Web, doctor: Account) -> None:
    app = web.client.app
    request = type("R", (), {"app": app})()
    links = [("Here", "/exports/{course_id}/doses.csv"), ("Not built", "/exports/{course_id}/fax")]
    assert clinician_routes.existing_links(request, links, course_id="c1") == [("Here", "/exports/c1/doses.csv")]  # type: ignore[arg-type]
    app.add_api_route("/exports/{course_id}/fax", lambda course_id: PlainTextResponse(""))  # type: ignore[attr-defined]
    assert len(clinician_routes.existing_links(request, links, course_id="c1")) == 2  # type: ignore[arg-type]


def test_every_form_on_the_clinician_pages_carries_the_csrf_token(web: Web, doctor: Account) -> None:
    patient = add_patient(web, doctor, "Vera One")
    course = start_v01(web, doctor, patient)
    token = web.csrf()
    pages = {
        "/clinician/patients/new": web.client.get("/clinician/patients/new").text,
        "/assess (plan)": web.post("/assess", v01_form()).text,
        "/clinician/courses/…": web.client.get(f"/clinician/courses/{course.id}").text,
        "refused amendment": web.post(f"/clinician/courses/{course.id}/amend", {"change": "stop"}).text,
        "refused start": start_from_plan(web, patient, course__patient="").text,
    }
    for where, page in pages.items():
        posted = re.findall(r'<form[^>]*method="post".*?</form>', page, re.S)
        assert len(posted) >= 2, where  # the page's own form, and signing out
        for form in posted:
            assert f'name="csrf_token" value="{token}"' in form, where


# --- who may see these pages ------------------------------------------------------------------------------


def clinician_paths(patient_id: str, course_id: str) -> list[tuple[str, str]]:
    """Every route of the clinician pages, with its path parameters filled in."""
    params = {"patient_id": patient_id, "course_id": course_id}
    found = []
    for route in clinician_routes.router.routes:
        path = route.path.format(**params)  # type: ignore[attr-defined]
        for method in sorted(route.methods):  # type: ignore[attr-defined]
            found.append((method, path))
    return found


def test_patient_role_users_get_404_on_every_clinician_page(web: Web) -> None:
    doctor = add_account(web, Role.CLINICIAN, "doc@example.org", "Dr Ada Clinician")
    patient = add_patient(web, doctor, "Vera One")
    course = start_v01(web, doctor, patient)
    add_account(web, Role.PATIENT, "vera@example.org", "Vera One", patient_id=patient.id)
    sign_in(web, "vera@example.org")
    before = web.store.copy()
    for method, path in clinician_paths(patient.id, course.id):
        if method == "GET":
            response = web.client.get(path)
        else:
            response = web.post(path, {"change": "stop", "reason": "x", "name": "X", "sex": "male"})
        assert response.status_code == 404, (method, path)
        assert "Page not found" in response.text
    assert web.store.courses == before.courses
    assert web.store.amendments == before.amendments
    assert web.store.patients == before.patients


def test_a_visitor_is_sent_to_sign_in(web: Web) -> None:
    response = web.client.get("/clinician/patients?sort=name", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fclinician%2Fpatients%3Fsort%3Dname"


def test_a_clinician_sees_neither_the_patients_nor_the_courses_of_another(web: Web, doctor: Account) -> None:
    other = add_account(web, Role.CLINICIAN, "other@example.org", "Dr Other")
    theirs = add_patient(web, other, "Olga Other")
    course = start_v01(web, other, theirs)
    mine = add_patient(web, doctor, "Vera One")
    assert list_order(web.client.get("/clinician/patients").text) == ["Vera One"]
    for path in (
        f"/clinician/patients/{theirs.id}",
        f"/clinician/patients/{theirs.id}/audit",
        f"/clinician/courses/{course.id}",
        f"/clinician/courses/{course.id}/audit",
    ):
        response = web.client.get(path)
        assert response.status_code == 404, path
        assert "Olga Other" not in response.text, path
    response = web.post(f"/clinician/courses/{course.id}/amend", {"change": "stop", "reason": "mine now"})
    assert response.status_code == 404
    assert not web.store.amendments
    assert mine.id in web.store.patients


def test_pages_render_for_a_course_far_in_the_future_and_long_ago(web: Web, doctor: Account) -> None:
    patient = add_patient(web, doctor, "Vera One")
    start_v01(web, doctor, patient, "2024-01-01")
    start_v01(web, doctor, patient, "2027-01-01")
    web.clock.set(web.clock.now() + timedelta(days=400))
    for path in ("/clinician/patients", f"/clinician/patients/{patient.id}", f"/clinician/patients/{patient.id}/audit"):
        assert web.client.get(path).status_code == 200, path
    for course in web.store.courses.values():
        assert web.client.get(f"/clinician/courses/{course.id}").status_code == 200
