"""Exports of a course: .ics download and private subscription URL (with VALARMs), printable summary and PDF,
CSV of doses, labs and symptoms; only for the patient and the clinician looking after them."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from test_web_patient import PASSWORD, add_clinician, add_course, add_patient, sign_in
from test_web_support import NOW, TestClient, Web, make_web

from b12.adapters.csv_export import DOSE_COLUMNS, LAB_COLUMNS, SYMPTOM_COLUMNS
from b12.adapters.web.routes import exports as export_routes
from b12.adapters.web.routes.exports import csp_safe_svg, summary_policy
from b12.domain.accounts import Account
from b12.domain.tracking import Course
from b12.services_tracking import record_dose, record_lab, record_symptoms

LOADING = "Hydroxocobalamin 1000 mcg/mL, inject 1 mL IM once a week for 4 weeks then monthly"


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from make_web(tmp_path)


@pytest.fixture
def doctor(web: Web) -> Account:
    return add_clinician(web)


@pytest.fixture
def ana(web: Web, doctor: Account) -> Account:
    return add_patient(web, "ana@example.org", "Ana Patient", clinician=doctor)


@pytest.fixture
def ben(web: Web) -> Account:
    return add_patient(web, "ben@example.org", "Ben Other")


@pytest.fixture
def course(web: Web, ana: Account) -> Course:
    """Ana's course with one dose given, a lab in pg/mL and a diary entry."""
    assert ana.patient_id
    started = add_course(web, ana, LOADING)
    record_dose(web.uow, web.clock, ana, started.id, site="left deltoid", batch="=HYPERLINK(1)")
    record_lab(web.uow, web.clock, ana, ana.patient_id, "b12_total", 180, "pg/mL", taken=NOW.date() - timedelta(days=3))
    record_symptoms(web.uow, web.clock, ana, ana.patient_id, {"fatigue": 6, "paraesthesia": 2}, note="tired")
    return started


# --- calendar ---------------------------------------------------------------------------------------------------


def _events(content: bytes) -> list[Any]:
    calendar = Calendar.from_ical(content)
    return list(calendar.walk("VEVENT"))


def test_the_ics_download_parses_back_with_the_upcoming_doses_and_their_reminders(
    web: Web, ana: Account, course: Course
) -> None:
    sign_in(web, ana)
    response = web.client.get(f"/exports/{course.id}/calendar.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert "attachment" in response.headers["content-disposition"]
    events = _events(response.content)
    doses = [e for e in events if "Hydroxocobalamin 1 mg IM" in str(e["SUMMARY"])]
    starts = [e.decoded("DTSTART").date() for e in doses]
    # Loading: weekly from the dose given on 5 Jan (3 more), then monthly from the last loading dose.
    assert starts[:5] == [date(2026, 1, 12), date(2026, 1, 19), date(2026, 1, 26), date(2026, 2, 26), date(2026, 3, 26)]
    assert all(s <= NOW.date() + timedelta(days=365) for s in starts)
    for event in doses:
        alarms = event.walk("VALARM")
        assert len(alarms) == 1
        assert str(alarms[0]["ACTION"]) == "DISPLAY"
        assert alarms[0].decoded("TRIGGER") == -timedelta(hours=2)
    reviews = [e for e in events if str(e["SUMMARY"]).startswith("Review with your clinician")]
    assert [e.decoded("DTSTART") for e in reviews] == [date(2026, 4, 5)]
    assert reviews[0].walk("VALARM")


def test_monthly_doses_from_the_31st_skip_no_short_month(web: Web, ana: Account) -> None:
    web.clock.set(datetime(2026, 1, 31, 9, 0, tzinfo=NOW.tzinfo))
    started = add_course(web, ana, "Hydroxocobalamin 1000 mcg/mL, 1 mL IM every month", start=date(2026, 1, 31))
    record_dose(web.uow, web.clock, ana, started.id)
    sign_in(web, ana)
    events = _events(web.client.get(f"/exports/{started.id}/calendar.ics").content)
    starts = [e.decoded("DTSTART").date() for e in events if "Hydroxocobalamin" in str(e["SUMMARY"])]
    # One dose in every month (FREQ=MONTHLY from the 31st would skip February, April, June, ...), counted by
    # the tracking domain from the dose of 28 February.
    assert [(d.year, d.month) for d in starts[:6]] == [(2026, m) for m in range(2, 8)]
    assert starts[0] == date(2026, 2, 28)


def test_a_private_subscription_url_works_without_a_session_and_404s_once_revoked(
    web: Web, ana: Account, course: Course
) -> None:
    sign_in(web, ana)
    created = web.post(f"/exports/{course.id}/calendar-links", {})
    assert created.status_code == 303
    assert web.store.audit[-1].action == "calendar.link.create"
    page = web.client.get(f"/exports/{course.id}").text
    match = re.search(r'value="(http://testserver/calendar/([A-Za-z0-9_-]{40,})\.ics)"', page)
    assert match, "the page shows the link"
    url, token = match.group(1), match.group(2)
    assert f'href="webcal://testserver/calendar/{token}.ics"' in page

    anonymous = TestClient(web.client.app)  # a calendar app: no cookie, no session
    feed = anonymous.get(url)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(feed.content)
    assert str(calendar["URL"]) == url
    assert _events(feed.content)[0].walk("VALARM")

    revoked = web.post(f"/exports/{course.id}/calendar-links/revoke", {"token": token})
    assert revoked.status_code == 303
    assert web.store.audit[-1].action == "calendar.link.revoke"
    assert anonymous.get(url).status_code == 404
    assert token not in web.client.get(f"/exports/{course.id}").text


def test_a_token_for_every_course_follows_the_latest_course(web: Web, ana: Account, course: Course) -> None:
    assert ana.patient_id
    later = add_course(
        web, ana, "Hydroxocobalamin 1000 mcg/mL, 1 mL IM every 2 months", start=NOW.date() + timedelta(days=1)
    )
    with web.uow:
        token = web.uow.calendar.create_calendar_token(ana.patient_id, None, NOW)
        web.uow.commit()
    feed = TestClient(web.client.app).get(f"/calendar/{token.token}.ics")
    assert feed.status_code == 200
    assert str(Calendar.from_ical(feed.content)["UID"]) == f"{later.id}@b12"


def test_an_unknown_calendar_token_is_not_found(web: Web) -> None:
    assert web.client.get("/calendar/not-a-token.ics").status_code == 404


def test_only_the_patient_makes_subscription_links(web: Web, doctor: Account, course: Course) -> None:
    sign_in(web, doctor)
    assert web.post(f"/exports/{course.id}/calendar-links", {}).status_code == 404
    assert "Make a private link" not in web.client.get(f"/exports/{course.id}").text
    assert not web.store.calendar_tokens


# --- summary, PDF, CSV ------------------------------------------------------------------------------------------


def test_the_printable_summary_has_the_plot_doses_labs_and_diary_under_a_strict_policy(
    web: Web, ana: Account, course: Course
) -> None:
    sign_in(web, ana)
    response = web.client.get(f"/exports/{course.id}/summary")
    assert response.status_code == 200
    page = response.text
    assert "Ana Patient" in page
    assert "left deltoid" in page
    assert "180 pg/mL" in page
    assert "<svg" in page
    assert "1 of 1 due on time" in page
    assert "PhaseProgress(" not in page
    assert "NextDose(" not in page
    assert "@page" in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "style=" not in svg
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy
    assert "'sha256-" in policy
    assert "default-src 'none'" in policy
    assert policy == summary_policy(page)


def test_the_pdf_summary_is_a_pdf(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    response = web.client.get(f"/exports/{course.id}/summary.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("kind", "columns", "expected"),
    [
        ("doses", DOSE_COLUMNS, {"site": "left deltoid", "batch": "'=HYPERLINK(1)", "dose_mg": "1"}),
        ("labs", LAB_COLUMNS, {"value": "180", "unit": "pg/mL", "normalised_unit": "ng/L"}),
        ("symptoms", SYMPTOM_COLUMNS, {"fatigue": "6", "paraesthesia": "2", "balance": "", "note": "tired"}),
    ],
)
def test_csv_exports_have_their_header_and_rows(
    web: Web, ana: Account, course: Course, kind: str, columns: tuple[str, ...], expected: dict[str, str]
) -> None:
    sign_in(web, ana)
    response = web.client.get(f"/exports/{course.id}/{kind}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f"b12-{kind}-" in response.headers["content-disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(text.splitlines()[0].split(",")) == columns
    assert len(rows) == 1
    assert {k: rows[0][k] for k in expected} == expected


def test_the_clinician_looking_after_the_patient_may_export(web: Web, doctor: Account, course: Course) -> None:
    sign_in(web, doctor)
    for path in ("", "/calendar.ics", "/summary", "/doses.csv"):
        assert web.client.get(f"/exports/{course.id}{path}").status_code == 200


def test_the_exports_page_links_every_export(web: Web, ana: Account, course: Course) -> None:
    sign_in(web, ana)
    page = web.client.get(f"/exports/{course.id}").text
    for name in ("calendar.ics", "summary", "summary.pdf", "doses.csv", "labs.csv", "symptoms.csv"):
        assert f'href="/exports/{course.id}/{name}"' in page


def test_svg_styles_become_presentation_attributes() -> None:
    svg = (
        '<svg width="10pt"><metadata>x</metadata><defs><style type="text/css">*{stroke-linejoin: round}</style></defs>'
        '<path d="M 0 0" style="fill: #d55e00; opacity: 0.22"/>'
        '<text style="font-family: \'DejaVu Sans\', sans-serif; fill: #222" fill="red">a &lt; b</text></svg>'
    )
    safe = csp_safe_svg(svg)
    assert "style" not in safe
    assert "metadata" not in safe
    assert '<path d="M 0 0" fill="#d55e00" opacity="0.22"/>' in safe
    assert "font-family=\"'DejaVu Sans', sans-serif\"" in safe
    assert 'fill="red"' in safe
    assert 'fill="#222"' not in safe
    assert safe.startswith('<svg stroke-linejoin="round"')


# --- authorisation: every route --------------------------------------------------------------------------------

Attempt = Callable[[Web, Course, str], Any]


def _get(path: str) -> Attempt:
    return lambda web, other, token: web.client.get(path.format(id=other.id, token=token))


def _post(path: str, data: dict[str, str] | None = None) -> Attempt:
    def attempt(web: Web, other: Course, token: str) -> Any:
        return web.post(path.format(id=other.id), {k: v.format(token=token) for k, v in (data or {}).items()})

    return attempt


def _feed(web: Web, other: Course, token: str) -> Any:
    # The feed takes no session: a token is the only way in. Another patient's course cannot be reached with a
    # made-up, a revoked, or one's own token (which names one's own course).
    web.post(f"/exports/{other.id}/calendar-links", {})  # refused (404): Ana may not make links for Ben
    return web.client.get("/calendar/" + token[::-1] + ".ics")


# Every route of routes/exports.py, tried by patient A against patient B's course (and B's calendar token);
# a route missing here fails test_every_export_route_is_in_the_authorisation_table.
AUTHORISATION: dict[tuple[str, str], Attempt] = {
    ("GET", "/exports/{course_id}"): _get("/exports/{id}"),
    ("GET", "/exports/{course_id}/calendar.ics"): _get("/exports/{id}/calendar.ics"),
    ("GET", "/calendar/{token}.ics"): _feed,
    ("POST", "/exports/{course_id}/calendar-links"): _post("/exports/{id}/calendar-links"),
    ("POST", "/exports/{course_id}/calendar-links/revoke"): _post(
        "/exports/{id}/calendar-links/revoke", {"token": "{token}"}
    ),
    ("GET", "/exports/{course_id}/summary"): _get("/exports/{id}/summary"),
    ("GET", "/exports/{course_id}/summary.pdf"): _get("/exports/{id}/summary.pdf"),
    ("GET", "/exports/{course_id}/doses.csv"): _get("/exports/{id}/doses.csv"),
    ("GET", "/exports/{course_id}/labs.csv"): _get("/exports/{id}/labs.csv"),
    ("GET", "/exports/{course_id}/symptoms.csv"): _get("/exports/{id}/symptoms.csv"),
}


def test_every_export_route_is_in_the_authorisation_table() -> None:
    routes = {(m, r.path) for r in export_routes.router.routes for m in r.methods if m != "HEAD"}  # type: ignore[attr-defined]
    assert routes == set(AUTHORISATION)


@pytest.mark.parametrize("route", sorted(AUTHORISATION), ids=lambda r: f"{r[0]} {r[1]}")
def test_a_patient_cannot_export_or_change_another_patients_course(
    web: Web, ana: Account, ben: Account, route: tuple[str, str]
) -> None:
    assert ben.patient_id
    add_course(web, ana, LOADING)
    other = add_course(web, ben, "Cyanocobalamin 1000 mcg/mL, 1 mL IM every month")
    record_dose(web.uow, web.clock, ben, other.id, site="right thigh", note="Ben's secret note")
    sign_in(web, ben)
    assert web.post(f"/exports/{other.id}/calendar-links", {}).status_code == 303
    token = next(iter(web.store.calendar_tokens))
    before = web.store.copy()
    sign_in(web, ana)
    response = AUTHORISATION[route](web, other, token)
    assert response.status_code == 404
    assert "Ben" not in response.text
    assert "secret" not in response.text
    assert web.store.calendar_tokens == before.calendar_tokens
    assert web.store.doses == before.doses
    assert web.store.courses == before.courses
    assert web.uow.calendar.calendar_token(token) is not None  # Ben's link still works


@pytest.mark.parametrize("path", ["", "/calendar.ics", "/summary", "/summary.pdf", "/labs.csv"])
def test_a_clinician_who_does_not_look_after_the_patient_gets_404(web: Web, course: Course, path: str) -> None:
    sign_in(web, add_clinician(web, "stranger@example.org"))
    assert web.client.get(f"/exports/{course.id}{path}").status_code == 404


def test_exports_send_a_visitor_to_sign_in(web: Web, course: Course) -> None:
    response = web.client.get(f"/exports/{course.id}/doses.csv", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")
    assert PASSWORD  # the shared helpers' password, kept for sign_in
