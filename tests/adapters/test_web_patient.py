"""The patient's pages: dashboard, two-tap dose log, skip, symptom diary, lab entry, and a prescription entered
from the label; refused input beside its field; another patient's course is never readable or writable."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from test_web_support import NOW, Web, field_error, input_value, make_web

from b12.adapters.web.routes import patient as patient_routes
from b12.domain.accounts import Account, PatientRecord, Role
from b12.domain.case import Sex
from b12.domain.prescription import parse_prescription
from b12.domain.tracking import Course
from b12.services_tracking import record_dose, record_lab, record_symptoms, start_course_from_prescription

PASSWORD = "correct horse battery"
LABEL = "Hydroxocobalamin 1000 mcg/mL, inject 1 mL IM once a week for 4 weeks then monthly, U-100 syringe"


# --- helpers shared with test_web_exports.py ---------------------------------------------------------------


def add_patient(web: Web, email: str, name: str, *, clinician: Account | None = None) -> Account:
    record = PatientRecord(uuid.uuid4().hex, name, Sex.FEMALE, NOW, clinician_id=clinician.id if clinician else None)
    account = Account(
        uuid.uuid4().hex, email, name, Role.PATIENT, web.passwords.hash(PASSWORD), NOW, patient_id=record.id
    )
    with web.uow:
        web.uow.accounts.add_patient(record)
        web.uow.accounts.add_account(account)
        web.uow.commit()
    return account


def add_clinician(web: Web, email: str = "doc@example.org") -> Account:
    account = Account(uuid.uuid4().hex, email, "Dr Who", Role.CLINICIAN, web.passwords.hash(PASSWORD), NOW)
    web.add_account(account)
    return account


def add_course(web: Web, account: Account, label: str = LABEL, start: date | None = None) -> Course:
    assert account.patient_id
    prescription = parse_prescription(label)
    started = start_course_from_prescription(
        web.uow, web.clock, account, account.patient_id, prescription, start=start or NOW.date()
    )
    return started.course


def sign_in(web: Web, account: Account) -> None:
    web.client.cookies.clear()
    response = web.post("/signin", {"email": account.email, "password": PASSWORD})
    assert response.status_code == 303, response.text


class _Forms(HTMLParser):
    """The fields of every form of a page, as a browser would send them untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, list[tuple[str, str]]] = {}
        self._form: list[tuple[str, str]] | None = None
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = self.forms.setdefault(a.get("action", ""), [])
        elif self._form is None:
            return
        elif tag == "input" and a.get("name") and a.get("type") not in ("submit", "checkbox", "radio"):
            self._form.append((a["name"], a.get("value", "")))
        elif tag == "input" and a.get("name") and "checked" in a:
            self._form.append((a["name"], a.get("value", "on")))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._form is None:
            return
        if tag == "select" and self._select is not None:
            chosen = next((v for v, s in self._options if s), self._options[0][0] if self._options else "")
            self._form.append((self._select, chosen))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._form.append((self._textarea, self._text))
            self._textarea = None
        elif tag == "form":
            self._form = None


def page_form(page: str, action: str) -> dict[str, str]:
    """The form posting to ``action`` on ``page``, with the values it shows (hidden ones included)."""
    parser = _Forms()
    parser.feed(page)
    assert action in parser.forms, f"no form posting to {action}: {sorted(parser.forms)}"
    return dict(parser.forms[action])


def text_of(page: str) -> str:
    page = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def selected(page: str, field_id: str) -> str | None:
    match = re.search(rf'<select id="{re.escape(field_id)}".*?</select>', page, re.S)
    assert match, field_id
    option = re.search(r'<option value="([^"]*)" selected', match.group(0))
    return html.unescape(option.group(1)) if option else None


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from make_web(tmp_path)


@pytest.fixture
def ana(web: Web) -> Account:
    return add_patient(web, "ana@example.org", "Ana Patient")


@pytest.fixture
def ben(web: Web) -> Account:
    return add_patient(web, "ben@example.org", "Ben Other")


@pytest.fixture
def course(web: Web, ana: Account) -> Course:
    return add_course(web, ana)


# --- the dashboard ---------------------------------------------------------------------------------------------


def test_a_patient_signs_in_and_lands_on_the_dashboard_with_the_next_dose(
    web: Web, ana: Account, course: Course
) -> None:
    response = web.post("/signin", {"email": ana.email, "password": PASSWORD})
    assert response.headers["location"] == "/dashboard"
    page = web.client.get("/dashboard").text
    text = text_of(page)
    assert "Mon 5 Jan 2026 today" in text
    assert "1 mg of hydroxocobalamin, injection into a muscle" in text
    assert "Draw up 1 mL of 1000 mcg/mL" in text
    assert "100 units on a U-100 syringe" in text
    assert "Suggested site left deltoid" in text
    assert 'id="next-dose-date"' in page


@pytest.mark.parametrize(
    ("label", "shown", "absent"),
    [
        ("Hydroxocobalamin 1000 mcg/mL, 1 mL IM every 3 months", "Draw up 1 mL of 1000 mcg/mL", "units on a"),
        (
            "Cyanocobalamin 1000 mcg tablets, take 1 tablet by mouth once a day",
            "1 mg of cyanocobalamin, by mouth",
            "Draw up",
        ),
    ],
    ids=["injection-without-insulin-syringe", "tablets"],
)
def test_the_next_dose_says_only_what_applies_to_the_course(
    web: Web, ana: Account, label: str, shown: str, absent: str
) -> None:
    add_course(web, ana, label)
    sign_in(web, ana)
    response = web.client.get("/dashboard")
    assert response.status_code == 200
    assert shown in text_of(response.text)
    assert absent not in text_of(response.text)


def test_a_patient_without_a_course_is_asked_for_the_prescription(web: Web, ana: Account) -> None:
    sign_in(web, ana)
    page = web.client.get("/dashboard").text
    assert "No course of treatment yet" in page
    assert 'href="/prescription"' in page


def test_the_dashboard_shows_red_flags_first_with_rule_links_and_sources(
    web: Web, ana: Account, course: Course
) -> None:
    assert ana.patient_id
    record_dose(web.uow, web.clock, ana, course.id, site="left deltoid")
    record_lab(web.uow, web.clock, ana, ana.patient_id, "b12_total", 900, "pg/mL", taken=NOW.date())
    record_symptoms(web.uow, web.clock, ana, ana.patient_id, {"paraesthesia": 1}, at=NOW.replace(hour=7))
    web.clock.advance(days=3)
    record_symptoms(web.uow, web.clock, ana, ana.patient_id, {"paraesthesia": 6})
    sign_in(web, ana)
    page = web.client.get("/dashboard").text
    flags = page.index("Red flags: please act on these")
    assert flags < page.index("Next dose")
    assert 'href="/rules/DX-RECENT-INJ"' in page[flags:]
    assert 'href="/rules/NEURO-URGENT"' in page[flags:]
    assert re.search(r'<span class="badge">(critical|warning)</span>', page[flags:])


def test_the_timeline_is_inline_svg_without_styles_the_policy_would_block(
    web: Web, ana: Account, course: Course
) -> None:
    assert ana.patient_id
    record_lab(web.uow, web.clock, ana, ana.patient_id, "b12_total", 150, "pg/mL", taken=NOW.date())
    sign_in(web, ana)
    page = web.client.get("/dashboard").text
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg
    assert 'role="img"' in svg.group(0)
    assert "style=" not in svg.group(0)
    assert "<style" not in svg.group(0)
    assert "<script" not in page.replace('<script src="/static/js/htmx.min.js', "")


def test_checkpoints_show_their_state_in_words(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    text = text_of(web.client.get("/dashboard").text)
    assert "Reviews and blood tests expected" in text
    assert re.search(r"Sun 5 Apr 2026 .* Due in 90 days", text)


# --- logging a dose, skipping -------------------------------------------------------------------------------


def test_logging_the_due_dose_takes_two_taps_and_moves_the_next_dose(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    page = web.client.get("/dashboard").text
    assert re.search(r"<summary[^>]*>Log this dose</summary>", page)  # tap 1 opens the confirmation
    action = f"/dashboard/{course.id}/doses"
    form = page_form(page, action)
    assert form["dose.dose"] == "1 mg"
    assert form["dose.site"] == "left deltoid"
    assert form["dose.due"] == "2026-01-05"
    response = web.client.post(action, data=form, follow_redirects=False)  # tap 2: confirm
    assert response.status_code == 303
    dose = next(iter(web.store.doses.values()))
    assert (dose.dose_mg, dose.site, dose.at, dose.given_by) == (1.0, "left deltoid", NOW, ana.id)
    assert web.store.audit[-1].action == "dose.record"
    after = web.client.get(response.headers["location"]).text
    assert "Recorded: 1 mg on Mon 05 Jan 2026 into the left deltoid. Your next dose is due on Mon 12 Jan 2026." in (
        text_of(after)
    )
    assert "Mon 12 Jan 2026 in 7 days" in text_of(after)
    assert page_form(after, action)["dose.site"] == "right deltoid"


def test_a_second_tap_on_confirm_changes_nothing_and_says_why(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    action = f"/dashboard/{course.id}/doses"
    form = page_form(web.client.get("/dashboard").text, action)
    assert web.client.post(action, data=form, follow_redirects=False).status_code == 303
    again = web.client.post(action, data=form, follow_redirects=False)
    assert again.status_code == 409
    assert "already been recorded or skipped" in again.text
    assert len(web.store.doses) == 1


def test_a_dose_with_changed_details_is_recorded_as_typed(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    action = f"/dashboard/{course.id}/doses"
    form = page_form(web.client.get("/dashboard").text, action)
    form.update(
        {
            "dose.at": "2026-01-05T08:15",
            "dose.dose": "1 mL",
            "dose.site": "left thigh",
            "dose.batch": "AB12",
            "dose.expiry": "2027-03-31",
            "dose.note": "by the nurse",
        }
    )
    assert web.client.post(action, data=form, follow_redirects=False).status_code == 303
    dose = next(iter(web.store.doses.values()))
    assert (dose.dose_mg, dose.site, dose.batch, dose.expiry, dose.note) == (
        1.0,
        "left thigh",
        "AB12",
        date(2027, 3, 31),
        "by the nurse",
    )
    assert dose.at.hour == 8
    assert dose.at.minute == 15


def test_skipping_the_due_dose_moves_the_next_dose_and_is_audited(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    page = web.client.get("/dashboard").text
    action = f"/dashboard/{course.id}/skip"
    form = page_form(page, action)
    form["skip.reason"] = "away on holiday"
    response = web.client.post(action, data=form, follow_redirects=False)
    assert response.status_code == 303
    skip = next(iter(web.store.skips.values()))
    assert (skip.due, skip.reason) == (date(2026, 1, 5), "away on holiday")
    assert web.store.audit[-1].action == "dose.skip"
    after = text_of(web.client.get(response.headers["location"]).text)
    assert "The dose due on Mon 05 Jan 2026 is recorded as skipped." in after
    assert "Mon 12 Jan 2026 in 7 days" in after


# --- symptom diary, labs ---------------------------------------------------------------------------------------


def test_a_symptom_diary_entry_is_saved_with_its_scores(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    action = f"/dashboard/{course.id}/symptoms"
    form = page_form(web.client.get("/dashboard").text, action)
    assert set(form) >= {f"scores.{s}" for s in ("fatigue", "paraesthesia", "balance", "memory", "mood")}
    form.update({"scores.fatigue": "7", "scores.paraesthesia": "0", "scores.vision": "2", "symptoms.note": "tired"})
    response = web.client.post(action, data=form, follow_redirects=False)
    assert response.status_code == 303
    entry = next(iter(web.store.symptoms.values()))
    assert {s.value: v for s, v in entry.scores.items()} == {"fatigue": 7, "paraesthesia": 0, "vision": 2}
    assert entry.note == "tired"
    assert web.store.audit[-1].action == "symptoms.record"
    after = web.client.get(response.headers["location"]).text
    assert "Symptom diary saved (3 symptoms scored)." in after
    assert re.search(
        r"Mon 5 Jan 2026</td><td>7</td><td>0</td><td>–</td><td>–</td><td>–</td><td>–</td><td>2</td>", after
    )


def test_a_lab_result_in_pg_per_ml_is_kept_as_reported_beside_ng_per_l(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    action = f"/dashboard/{course.id}/labs"
    form = page_form(web.client.get("/dashboard").text, action)
    assert form["lab.taken"] == "2026-01-05"
    form.update({"lab.analyte": "b12_total", "lab.value": "180", "lab.unit": "pg/mL", "lab.lower_limit": "197"})
    response = web.client.post(action, data=form, follow_redirects=False)
    assert response.status_code == 303
    lab = next(iter(web.store.labs.values()))
    assert (lab.value, lab.unit, lab.normalised_value, lab.normalised_unit, lab.lower_limit) == (
        180.0,
        "pg/mL",
        180.0,
        "ng/L",
        197.0,
    )
    assert web.store.audit[-1].action == "lab.record"
    after = text_of(web.client.get(response.headers["location"]).text)
    assert "Total B12 180 pg/mL 180 ng/L" in after


def test_active_b12_in_pmol_per_l_is_kept_and_haemoglobin_in_g_per_dl_is_converted(
    web: Web, ana: Account, course: Course
) -> None:
    sign_in(web, ana)
    action = f"/dashboard/{course.id}/labs"
    for analyte, value, unit in (("b12_active", "35", "pmol/L"), ("hemoglobin", "11.2", "g/dL")):
        form = page_form(web.client.get("/dashboard").text, action)
        form.update({"lab.analyte": analyte, "lab.value": value, "lab.unit": unit})
        assert web.client.post(action, data=form, follow_redirects=False).status_code == 303
    labs = sorted(web.store.labs.values(), key=lambda lab: lab.analyte.value)
    assert [(lab.value, lab.unit, lab.normalised_value, lab.normalised_unit) for lab in labs] == [
        (35.0, "pmol/L", 35.0, "pmol/L"),
        (11.2, "g/dL", 112.0, "g/L"),
    ]


# --- refused input: beside the field, values kept, nothing stored ---------------------------------------------

BAD_INPUTS = [
    pytest.param("doses", {"dose.at": "yesterday"}, "dose-at", "Enter the date and time", id="dose-time-not-a-date"),
    pytest.param("doses", {"dose.at": "2026-01-06T09:00"}, "dose-at", "cannot be in the future", id="dose-in-future"),
    pytest.param("doses", {"dose.at": "2025-12-01T09:00"}, "dose-at", "course starts on", id="dose-before-start"),
    pytest.param("doses", {"dose.dose": "two spoons"}, "dose-dose", "did not understand", id="dose-not-understood"),
    pytest.param("doses", {"dose.dose": "100 IU"}, "dose-dose", "", id="dose-in-iu"),
    pytest.param("doses", {"dose.expiry": "31/03/2027"}, "dose-expiry", "YYYY-MM-DD", id="expiry-not-iso"),
    pytest.param("doses", {"dose.site": "left ear"}, "dose-site", "Choose one of the sites", id="site-not-listed"),
    pytest.param("doses", {"dose.batch": "x" * 201}, "dose-batch", "under 200 characters", id="batch-too-long"),
    pytest.param("symptoms", {"scores.fatigue": "11"}, "scores-fatigue", "from 0", id="score-above-10"),
    pytest.param("symptoms", {"scores.mood": "-1"}, "scores-mood", "from 0", id="score-negative"),
    pytest.param("symptoms", {}, "scores", "Score at least one symptom", id="no-score"),
    pytest.param(
        "symptoms", {"scores.fatigue": "3", "symptoms.at": "2026-02-01T10:00"}, "symptoms-at", "future", id="future"
    ),
    pytest.param("labs", {"lab.analyte": ""}, "lab-analyte", "Choose the test", id="no-test"),
    pytest.param("labs", {"lab.value": "1,5"}, "lab-value", "decimal point", id="decimal-comma"),
    pytest.param("labs", {"lab.value": "lots"}, "lab-value", "not a number", id="value-not-a-number"),
    pytest.param("labs", {"lab.value": "0"}, "lab-value", "above 0", id="value-zero"),
    pytest.param("labs", {"lab.unit": ""}, "lab-unit", "Enter the unit", id="no-unit"),
    pytest.param("labs", {"lab.unit": "furlongs"}, "lab-unit", "furlongs", id="unknown-unit"),
    pytest.param("labs", {"lab.unit": "%"}, "lab-unit", "", id="unit-of-another-kind"),
    pytest.param("labs", {"lab.taken": "2026-01-06"}, "lab-taken", "future", id="taken-in-future"),
    pytest.param("labs", {"lab.taken": "5 Jan"}, "lab-taken", "YYYY-MM-DD", id="taken-not-a-date"),
    pytest.param("labs", {"lab.upper_limit": "high"}, "lab-upper-limit", "not a number", id="limit-not-a-number"),
]
_GOOD_LAB = {"lab.analyte": "b12_total", "lab.value": "180", "lab.unit": "ng/L"}


@pytest.mark.parametrize(("kind", "typed", "field_id", "message"), BAD_INPUTS)
def test_bad_input_is_refused_beside_its_field_with_what_was_typed_kept(
    web: Web, ana: Account, course: Course, kind: str, typed: dict[str, str], field_id: str, message: str
) -> None:
    sign_in(web, ana)
    action = f"/dashboard/{course.id}/{kind}"
    form = page_form(web.client.get("/dashboard").text, action)
    if kind == "labs":
        form.update(_GOOD_LAB)
    form.update(typed)
    before = len(web.store.audit)
    response = web.client.post(action, data=form, follow_redirects=False)
    assert response.status_code == 422
    page = response.text
    error = field_error(page, field_id)
    assert error
    assert message in error, error
    for name, value in typed.items():
        element = name.replace(".", "-").replace("_", "-")
        if element in ("dose-site", "lab-analyte") or element.startswith("scores-"):
            if f'<option value="{value}"' in page:  # a value the list offers stays chosen
                assert selected(page, element) == (value or None)
        elif name.endswith("note"):
            continue
        else:
            assert input_value(page, element) == value
    assert '<details class="action" id="log-dose" open>' in page or kind != "doses"
    assert len(web.store.audit) == before
    assert not web.store.doses
    assert not web.store.symptoms
    assert not web.store.labs


def test_a_refused_diary_keeps_every_score_typed(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    action = f"/dashboard/{course.id}/symptoms"
    form = page_form(web.client.get("/dashboard").text, action)
    form.update({"scores.fatigue": "4", "scores.balance": "12", "symptoms.note": "dizzy <b>"})
    page = web.client.post(action, data=form).text
    assert selected(page, "scores-fatigue") == "4"
    assert field_error(page, "scores-balance")
    assert "dizzy &lt;b&gt;</textarea>" in page


# --- a prescription entered from the label ---------------------------------------------------------------------


def _prescription(web: Web, **fields: str) -> Any:
    form = page_form(web.client.get("/prescription").text, "/prescription")
    form.update(fields)
    return web.client.post("/prescription", data=form, follow_redirects=False)


def test_a_prescription_line_is_read_back_in_plain_words_then_confirmed_into_a_course(web: Web, ana: Account) -> None:
    sign_in(web, ana)
    line = "Hydroxocobalamin 1000 mcg/mL, inject 1 mL IM once a week for 4 weeks then monthly"
    response = _prescription(web, text=line, action="check")
    assert response.status_code == 200
    words = (
        "1 mg (1 mL of 1000 mcg/mL) by injection into a muscle once a week for 4 weeks (4 injections), "
        "then once a month"
    )
    assert words in text_of(response.text)
    assert not web.store.courses
    form = page_form(response.text, "/prescription")
    assert form["confirmed"] == words
    assert form["text"] == line
    form["action"] = "confirm"
    confirmed = web.client.post("/prescription", data=form, follow_redirects=False)
    assert confirmed.status_code == 303
    course = next(iter(web.store.courses.values()))
    assert (course.patient_id, course.source_text, course.start) == (ana.patient_id, line, NOW.date())
    assert confirmed.headers["location"] == f"/dashboard/{course.id}/started"
    assert web.store.audit[-1].action == "course.create"
    started = web.client.get(confirmed.headers["location"]).text
    assert words in text_of(started)
    assert "Compared with" in started
    assert 'href="/rules/' in started  # each difference names its rule
    assert "Go to your dashboard" in started


def test_structured_fields_alone_make_a_prescription(web: Web, ana: Account) -> None:
    sign_in(web, ana)
    fields = {
        "product": "hydroxocobalamin",
        "strength": "1000 mcg/mL",
        "dose": "1 mL",
        "route": "im",
        "frequency": "every 3 months",
    }
    response = _prescription(web, **fields)
    assert "1 mg (1 mL of 1000 mcg/mL) by injection into a muscle every 3 months" in text_of(response.text)
    form = page_form(response.text, "/prescription")
    form["action"] = "confirm"
    assert web.client.post("/prescription", data=form, follow_redirects=False).status_code == 303
    started = next(iter(web.store.courses.values()))
    page = web.client.get(f"/dashboard/{started.id}/started").text
    assert started.regimen_id is None or started.regimen_id in page


def test_an_unclear_prescription_asks_its_questions_beside_the_fields_and_starts_nothing(
    web: Web, ana: Account
) -> None:
    sign_in(web, ana)
    response = _prescription(web, text="inject 1 mL IM once a week then", action="check")
    assert response.status_code == 422
    page = response.text
    assert "what strength is on the label" in field_error(page, "strength")
    assert "hydroxocobalamin or cyanocobalamin" in field_error(page, "product")
    assert "How long does the once a week part last" in field_error(page, "text")
    assert "How often after" in field_error(page, "text")
    assert "inject 1 mL IM once a week then</textarea>" in page
    assert "b12 needs to know more" in page
    assert 'name="confirmed"' not in page
    assert "Yes, start tracking" not in page
    assert not web.store.courses


def test_a_prescription_that_says_too_little_asks_rather_than_guesses(web: Web, ana: Account) -> None:
    sign_in(web, ana)
    page = _prescription(web, text="hydroxocobalamin 1 mg IM twice a day", action="check").text
    assert "twice a day" in field_error(page, "text")
    assert not web.store.courses


def test_confirming_a_prescription_changed_after_its_read_back_reads_it_back_again(web: Web, ana: Account) -> None:
    sign_in(web, ana)
    first = _prescription(web, text="Hydroxocobalamin 1 mg IM every 3 months", action="check")
    form = page_form(first.text, "/prescription")
    form.update({"text": "Hydroxocobalamin 1 mg IM every 2 months", "action": "confirm"})
    again = web.client.post("/prescription", data=form, follow_redirects=False)
    assert again.status_code == 200
    assert "changed since it was read back" in again.text
    assert "every 2 months" in page_form(again.text, "/prescription")["confirmed"]
    assert not web.store.courses


@pytest.mark.parametrize(
    ("typed", "field_id", "message"),
    [
        ({"start": "next week"}, "start", "YYYY-MM-DD"),
        ({"start": "2031-01-01"}, "start", "within three years"),
        ({"guideline": "mars"}, "guideline", "Choose a guideline"),
        ({"sites": " , "}, "sites", "at least one injection site"),
        ({"strength": "1000 furlongs"}, "strength", ""),
        ({"text": "x" * 501}, "text", "under 500 characters"),
    ],
)
def test_prescription_form_problems_are_shown_beside_the_field(
    web: Web, ana: Account, typed: dict[str, str], field_id: str, message: str
) -> None:
    sign_in(web, ana)
    base = {"text": "Hydroxocobalamin 1 mg IM every 3 months", "action": "check"}
    response = _prescription(web, **{**base, **typed})
    assert response.status_code == 422
    error = field_error(response.text, field_id)
    assert error
    assert message in error
    if field_id not in ("text", "guideline"):
        assert input_value(response.text, field_id) == typed[field_id]
    assert not web.store.courses


def test_signing_up_alone_leads_to_the_dashboard_and_then_the_prescription(web: Web) -> None:
    data = {
        "name": "Sol Alone",
        "email": "sol@example.org",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "sex": "female",
    }
    response = web.post("/signup", data)
    assert response.headers["location"] == "/dashboard"
    assert "Enter your prescription" in web.client.get("/dashboard").text


# --- roles and authorisation ---------------------------------------------------------------------------------


def test_patient_pages_are_not_found_for_a_clinician(web: Web, course: Course) -> None:
    sign_in(web, add_clinician(web))
    for path in ("/dashboard", f"/dashboard/{course.id}", "/prescription", f"/dashboard/{course.id}/started"):
        assert web.client.get(path).status_code == 404


def test_patient_pages_send_a_visitor_to_sign_in(web: Web) -> None:
    response = web.client.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=")


def test_every_form_on_the_dashboard_carries_the_csrf_token(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    page = web.client.get("/dashboard").text
    parser = _Forms()
    parser.feed(page)
    assert len(parser.forms) >= 5
    assert all(dict(fields).get("csrf_token") for fields in parser.forms.values())
    response = web.client.post(f"/dashboard/{course.id}/doses", data={"dose.dose": "1 mg"})
    assert response.status_code == 403
    assert not web.store.doses


Attempt = Callable[[Web, Course], Any]


def _post(path: str, data: dict[str, str] | None = None) -> Attempt:
    def attempt(web: Web, other: Course) -> Any:
        return web.post(path.format(id=other.id), data or {})

    return attempt


def _get(path: str) -> Attempt:
    return lambda web, other: web.client.get(path.format(id=other.id))


# Every route of routes/patient.py, tried by patient A against patient B's course; a route missing here fails
# test_every_patient_route_is_in_the_authorisation_table.
AUTHORISATION: dict[tuple[str, str], tuple[Attempt, int]] = {
    ("GET", "/dashboard"): (_get("/dashboard"), 200),  # A's own dashboard: B's data must not be on it
    ("GET", "/dashboard/{course_id}"): (_get("/dashboard/{id}"), 404),
    ("POST", "/dashboard/{course_id}/doses"): (_post("/dashboard/{id}/doses", {"dose.dose": "1 mg"}), 404),
    ("POST", "/dashboard/{course_id}/skip"): (_post("/dashboard/{id}/skip"), 404),
    ("POST", "/dashboard/{course_id}/symptoms"): (_post("/dashboard/{id}/symptoms", {"scores.fatigue": "3"}), 404),
    ("POST", "/dashboard/{course_id}/labs"): (
        _post("/dashboard/{id}/labs", {"lab.analyte": "b12_total", "lab.value": "150", "lab.unit": "ng/L"}),
        404,
    ),
    ("GET", "/dashboard/{course_id}/started"): (_get("/dashboard/{id}/started"), 404),
    ("GET", "/prescription"): (_get("/prescription"), 200),  # no course in the address: nothing of B's to ask for
    ("POST", "/prescription"): (
        _post(
            "/prescription",
            {
                "text": "Hydroxocobalamin 1 mg IM every 3 months",
                "start": "2026-01-05",
                "guideline": "uk",
                "sites": "left thigh",
                "action": "check",
            },
        ),
        200,
    ),
}


def _routes(router: Any) -> set[tuple[str, str]]:
    return {(method, route.path) for route in router.routes for method in route.methods if method != "HEAD"}


def test_every_patient_route_is_in_the_authorisation_table() -> None:
    assert _routes(patient_routes.router) == set(AUTHORISATION)


@pytest.mark.parametrize("route", sorted(AUTHORISATION), ids=lambda r: f"{r[0]} {r[1]}")
def test_a_patient_cannot_read_or_change_another_patients_course(
    web: Web, ana: Account, ben: Account, route: tuple[str, str]
) -> None:
    assert ben.patient_id
    add_course(web, ana)
    other = add_course(web, ben, "Cyanocobalamin 1000 mcg/mL, 1 mL IM every month")
    record_dose(web.uow, web.clock, ben, other.id, site="right thigh", note="Ben's secret note")
    record_lab(web.uow, web.clock, ben, ben.patient_id, "b12_total", 321, "ng/L", taken=NOW.date())
    before = web.store.copy()
    sign_in(web, ana)
    attempt, expected = AUTHORISATION[route]
    response = attempt(web, other)
    assert response.status_code == expected
    assert "Ben" not in response.text
    assert "321" not in response.text
    assert other.id not in response.text
    after = web.store
    assert after.doses == before.doses
    assert after.skips == before.skips
    assert after.symptoms == before.symptoms
    assert after.labs == before.labs
    assert [c for c in after.courses.values() if c.patient_id == ben.patient_id] == [other]
