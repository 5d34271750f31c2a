"""The web app in a real browser (issue 3, "Bars"): Debian's chromium driven by Playwright against ``b12 serve --demo``.

The scenarios walk what a patient and a clinician do; every page is checked with axe-core (no violation of impact
moderate or worse), must not scroll sideways on a phone, and is saved as a screenshot at desktop and phone width
(``tests/e2e/screenshots/``). Fixtures (one server, one chromium, a fresh context per test) are in ``conftest.py``,
helpers in ``browser.py``. The server runs on the real clock: dates are read from the pages, never assumed.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser import SCREENSHOTS, browsing, capture, check_axe, check_no_sideways_scroll
from icalendar import Calendar
from playwright.sync_api import Browser, Page, expect

from b12.adapters.web.demo import DEMO_CLINICIAN, DEMO_PATIENT, DEMO_PATIENT_2, DemoAccount

# --- flows shared by the scenarios and the page tour ------------------------------------------------------


def sign_in(page: Page, account: DemoAccount) -> None:
    page.goto("/signin")
    page.get_by_label("Email address").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {account.name}")).to_be_visible()


def long_date(text: str) -> date:
    """A date as the pages write it: ``Sat 21 Nov 2026``."""
    return datetime.strptime(text.strip(), "%a %d %b %Y").date()


def age_today(born: date) -> int:
    today = date.today()  # the server's clock is this machine's
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def fill_assessment(page: Page, *, age: int = 62) -> None:
    """The assessment of vignette V01 (classic pernicious anaemia, UK): B12 150 ng/L, Hb 104 g/L."""
    page.goto("/assess")
    page.check("#patient-sex-female")
    page.get_by_label("Age in years").fill(str(age))
    for row, (test, value, unit) in enumerate((("b12_total", "150", "ng/L"), ("hemoglobin", "104", "g/L"))):
        page.select_option(f"#labs-{row}-test", test)
        page.fill(f"#labs-{row}-value", value)
        page.fill(f"#labs-{row}-unit", unit)
    page.check("#symptoms-fatigue")
    page.check("#symptoms-glossitis")
    page.check("#causes-autoimmune-gastritis")


def open_plan(page: Page) -> None:
    fill_assessment(page)
    page.get_by_role("button", name="Make the plan").click()
    expect(page.locator("main")).to_contain_text("UK-IM-NN")


def open_calculator(page: Page) -> None:
    """The calculator with an answer (also the README's screenshot)."""
    page.goto("/")
    page.get_by_label("Dose, or the volume you draw").fill("1 mg")
    page.get_by_label("Strength on the label").fill("1000 mcg/mL")
    expect(page.locator("#dose-result .answer")).to_contain_text("100 units")
    page.locator("#strength").blur()  # no focus ring in the README's screenshot


def open_compare(page: Page) -> None:
    page.goto("/compare")
    page.check("#regimen-uk-UK-IM-NN")
    page.check("#regimen-us-label-US-FDA-CN")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("table")).to_be_visible()


def open_refused_assessment(page: Page) -> None:
    """The assessment sent back with the problem beside its field (a unit b12 does not know)."""
    page.goto("/assess")
    page.check("#patient-sex-female")
    page.select_option("#labs-0-test", "b12_total")
    page.fill("#labs-0-value", "150")
    page.fill("#labs-0-unit", "ng per litre")
    page.get_by_role("button", name="Make the plan").click()
    expect(page.locator("#labs-0-unit-error")).to_be_visible()


def open_dashboard_link(name: str) -> Callable[[Page], None]:
    def open_page(page: Page) -> None:
        page.goto("/dashboard")
        page.get_by_role("link", name=name, exact=True).first.click()

    return open_page


def open_dana(page: Page) -> None:
    page.goto("/clinician/patients")
    page.get_by_role("link", name=DEMO_PATIENT.name).click()
    expect(page.locator("h1")).to_contain_text(DEMO_PATIENT.name)


def open_dana_course(page: Page) -> None:
    open_dana(page)
    page.get_by_role("link", name=re.compile("^Schedule and amendments")).first.click()
    expect(page.get_by_role("heading", name="Amend the course")).to_be_visible()


def open_refused_amendment(page: Page) -> None:
    open_dana_course(page)
    page.get_by_role("button", name="Record the change").click()
    expect(page.locator("#reason-error")).to_be_visible()


def open_dana_course_audit(page: Page) -> None:
    open_dana_course(page)
    page.get_by_role("link", name="Audit trail", exact=True).click()
    expect(page.locator("table.audit")).to_be_visible()


def open_dana_audit(page: Page) -> None:
    open_dana(page)
    page.get_by_role("link", name="Audit trail", exact=True).click()
    expect(page.locator("table.audit")).to_be_visible()


def go(path: str) -> Callable[[Page], None]:
    def open_path(page: Page) -> None:
        page.goto(path)

    return open_path


# name -> (who is signed in, how to get there). Each page is checked with axe-core and for sideways scrolling at
# phone width, and captured at both widths.
PAGES: dict[str, tuple[DemoAccount | None, Callable[[Page], None]]] = {
    "calculator": (None, open_calculator),
    "assessment-form": (None, go("/assess")),
    "assessment-refused": (None, open_refused_assessment),
    "plan": (None, open_plan),
    "compare": (None, open_compare),
    "questions": (None, go("/questions")),
    "rules": (None, go("/rules")),
    "rule": (None, go("/rules/UK-IM-NN")),
    "sign-in": (None, go("/signin")),
    "sign-up": (None, go("/signup")),
    "not-found": (None, go("/no-such-page")),
    "patient-dashboard": (DEMO_PATIENT, go("/dashboard")),
    "patient-dashboard-overdue": (DEMO_PATIENT_2, go("/dashboard")),
    "patient-prescription": (DEMO_PATIENT, go("/prescription")),
    "patient-exports": (DEMO_PATIENT, open_dashboard_link("Calendar, summary and downloads")),
    "summary": (DEMO_PATIENT, open_dashboard_link("Summary for your clinician")),
    "clinician-patients": (DEMO_CLINICIAN, go("/clinician/patients")),
    "clinician-new-patient": (DEMO_CLINICIAN, go("/clinician/patients/new")),
    "clinician-patient": (DEMO_CLINICIAN, open_dana),
    "clinician-plan-with-start": (DEMO_CLINICIAN, open_plan),
    "clinician-course-amend": (DEMO_CLINICIAN, open_dana_course),
    "clinician-amend-refused": (DEMO_CLINICIAN, open_refused_amendment),
    "clinician-course-audit": (DEMO_CLINICIAN, open_dana_course_audit),
    "clinician-patient-audit": (DEMO_CLINICIAN, open_dana_audit),
}


@pytest.fixture(scope="module")
def signed_in(chromium: Browser, web_server: Any) -> Callable[[DemoAccount], dict[str, Any]]:
    """The cookies of a session signed in as the account (signed in once per module, through the form)."""
    states: dict[str, dict[str, Any]] = {}

    def state(account: DemoAccount) -> dict[str, Any]:
        if account.email not in states:
            with browsing(chromium, web_server.base_url) as page:
                sign_in(page, account)
                states[account.email] = dict(page.context.storage_state())
        return states[account.email]

    return state


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_passes_axe_fits_a_phone_without_sideways_scroll_and_is_captured_at_both_widths(
    chromium: Browser, web_server: Any, signed_in: Callable[[DemoAccount], dict[str, Any]], name: str
) -> None:
    account, open_page = PAGES[name]
    options = {"storage_state": signed_in(account)} if account is not None else {}
    with browsing(chromium, web_server.base_url, **options) as page:
        open_page(page)
        expect(page.locator("h1")).to_have_count(1)
        check_axe(page, name)
        check_no_sideways_scroll(page, name)
        desktop, phone = capture(page, name)
    assert desktop.stat().st_size > 0
    assert phone.stat().st_size > 0


# --- the calculator ---------------------------------------------------------------------------------------


def test_calculator_answers_as_you_type_without_the_button(page: Page) -> None:
    page.goto("/")
    page.evaluate("() => { window.notReloaded = true; }")  # gone if the form were posted the plain way
    requests: list[dict[str, str]] = []
    page.on("request", lambda r: r.url.endswith("/dose") and requests.append(r.headers))
    page.get_by_label("Strength on the label").press_sequentially("1000 mcg/mL")
    page.get_by_label("Dose, or the volume you draw").press_sequentially("0.5 mg")

    answer = page.locator("#dose-result .answer")
    expect(answer).to_contain_text("Draw up 0.5 mL")
    expect(answer).to_contain_text("50 units")
    assert page.evaluate("() => window.notReloaded === true")
    assert requests, "no request to /dose while typing"
    assert all(r.get("hx-request") == "true" for r in requests)

    # A dose b12 cannot read is answered beside its field, as you type too.
    page.get_by_label("Dose, or the volume you draw").fill("lots")
    expect(page.locator("#dose-error")).to_be_visible()
    expect(page.locator("#dose-result")).not_to_contain_text("Draw up")


# --- accounts ---------------------------------------------------------------------------------------------


def test_a_wrong_password_is_refused_beside_the_field_keeping_the_email(page: Page) -> None:
    page.goto("/signin")
    page.get_by_label("Email address").fill(DEMO_PATIENT.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error-message").first).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_value(DEMO_PATIENT.email)
    expect(page.get_by_text(re.compile("Signed in as"))).to_have_count(0)


# --- the patient ------------------------------------------------------------------------------------------


def test_a_patient_signs_in_logs_a_dose_and_a_symptom_and_the_next_dose_moves(page: Page) -> None:
    sign_in(page, DEMO_PATIENT)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    before = long_date(page.locator("#next-dose-date").inner_text())
    doses_before = page.locator("#doses tbody tr").count()

    # Two taps: open "Log this dose", confirm.
    page.get_by_text("Log this dose").click()
    page.get_by_role("button", name="Confirm: I had this dose").click()

    expect(page.locator("#doses tbody tr")).to_have_count(doses_before + 1)
    after = long_date(page.locator("#next-dose-date").inner_text())
    assert after > before, f"the next dose stayed on {before} after a dose was logged"
    expect(page.locator("#doses tbody tr").first).to_contain_text(f"{date.today():%a} {date.today().day}")

    page.select_option("#scores-fatigue", "3")
    page.select_option("#scores-paraesthesia", "1")
    page.fill("#symptoms-note", "Less tired since the last injection.")
    page.get_by_role("button", name="Save diary entry").click()

    newest = page.locator("table.diary tbody tr").first
    expect(newest).to_contain_text(f"{date.today():%a} {date.today().day} {date.today():%b %Y}")
    cells = newest.locator("td")
    expect(cells.nth(1)).to_have_text("3")  # fatigue, the diary's first symptom column
    expect(cells.nth(2)).to_have_text("1")  # paraesthesia


def _table_dates(page: Page, caption: str, keep: Callable[[list[str]], bool] = lambda cells: True) -> list[date]:
    table = page.locator("table", has=page.locator("caption", has_text=caption))
    rows = [row.locator("td").all_inner_texts() for row in table.locator("tbody tr").all()]
    return [long_date(cells[0]) for cells in rows if keep(cells)]


def test_the_ics_download_parses_back_with_the_doses_and_reviews_the_dashboard_shows(page: Page) -> None:
    sign_in(page, DEMO_PATIENT)
    next_due = long_date(page.locator("#next-dose-date").inner_text())
    upcoming = _table_dates(page, "Doses coming up")
    reviews = _table_dates(page, "Reviews and blood tests expected", lambda cells: cells[2].startswith("Due in"))
    assert upcoming
    assert reviews, "the demo course has reviews to come"

    with page.expect_download() as download:
        page.get_by_role("link", name="Download your dose calendar (.ics)").click()
    assert download.value.suggested_filename.endswith(".ics")
    calendar = Calendar.from_ical(Path(download.value.path()).read_bytes())

    events = calendar.walk("VEVENT")
    doses = [e for e in events if isinstance(e.DTSTART, datetime)]  # doses are timed, follow-ups all-day
    followups = [e for e in events if not isinstance(e.DTSTART, datetime)]
    dose_days = [e.DTSTART.date() for e in doses]
    assert dose_days == sorted(dose_days)
    assert dose_days[0] == next_due
    assert dose_days[: len(upcoming)] == upcoming
    for event in doses:
        assert str(event["SUMMARY"]).startswith("Hydroxocobalamin 1 mg IM"), event["SUMMARY"]
        (alarm,) = event.walk("VALARM")
        assert alarm["ACTION"] == "DISPLAY"
        assert alarm["TRIGGER"].dt == -timedelta(hours=2)
    assert set(reviews) <= {e.DTSTART for e in followups}
    assert all(len(e.walk("VALARM")) == 1 for e in followups)


def test_the_clinician_summary_pdf_downloads_and_renders(page: Page, tmp_path: Path) -> None:
    sign_in(page, DEMO_PATIENT)
    with page.expect_download() as download:
        page.get_by_role("link", name="as a PDF").click()
    assert download.value.suggested_filename.endswith(".pdf")
    pdf = tmp_path / "summary.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")

    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
        assert DEMO_PATIENT.name in text
        assert "hydroxocobalamin" in text.lower()
        leaked = re.findall(r"\b[A-Z]\w+\(\w+=[^,)]*", text)  # a Python repr such as NextDose(due=...
        assert not leaked, f"the PDF shows program values instead of words: {leaked[:3]}"
    if shutil.which("pdftoppm"):
        SCREENSHOTS.mkdir(exist_ok=True)
        prefix = SCREENSHOTS / "summary-pdf"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)], check=True
        )
        rendered = prefix.with_suffix(".png")
        assert rendered.read_bytes().startswith(b"\x89PNG")


# --- the clinician ----------------------------------------------------------------------------------------

NEW_PATIENT = "Pat Playwright"
NEW_PATIENT_BORN = date(1966, 5, 14)


def _maintenance_days(page: Page) -> list[date]:
    rows = page.locator("table.schedule tbody tr").all()
    return [
        date.fromisoformat(str(row.locator("time").get_attribute("datetime")))
        for row in rows
        if row.locator("td").nth(1).inner_text().startswith("maintenance")
    ]


def _gaps(days: list[date]) -> list[int]:
    return [(b - a).days for a, b in itertools.pairwise(days)]


def test_a_clinician_runs_an_assessment_starts_a_course_and_amends_it(page: Page) -> None:
    sign_in(page, DEMO_CLINICIAN)
    expect(page).to_have_url(re.compile(r"/clinician/patients$"))

    page.get_by_role("link", name="Add a patient").click()
    page.get_by_label("Name").fill(NEW_PATIENT)
    page.check("#sex-female")
    page.get_by_label("Date of birth").fill(NEW_PATIENT_BORN.isoformat())
    page.get_by_role("button", name="Add the patient").click()
    expect(page.locator("h1")).to_contain_text(NEW_PATIENT)

    fill_assessment(page, age=age_today(NEW_PATIENT_BORN))
    page.get_by_role("button", name="Make the plan").click()
    start = page.locator("form.start-course")
    expect(start).to_contain_text("UK-IM-NN")
    start.get_by_label("Patient", exact=True).select_option(
        label=f"{NEW_PATIENT} (female, born {NEW_PATIENT_BORN.isoformat()})"
    )
    start.get_by_label(re.compile("I confirm the regimen UK-IM-NN")).check()
    start.get_by_role("button", name="Start the course").click()
    expect(page.get_by_role("status")).to_contain_text(f"Course started for {NEW_PATIENT}: UK-IM-NN")
    expect(page.locator("h1")).to_contain_text(NEW_PATIENT)

    page.get_by_role("link", name=re.compile("^Schedule and amendments")).first.click()
    before = _maintenance_days(page)
    assert len(before) >= 2
    assert min(_gaps(before)) >= 89, f"UK-IM-NN maintenance is every 3 months: {before}"

    page.get_by_label("Set the maintenance interval").check()
    page.get_by_label("New maintenance interval in months").fill("2")
    page.get_by_label("Reason").fill("Symptoms return before the 3-monthly dose (BNF: every 2 months).")
    page.get_by_role("button", name="Record the change").click()
    expect(page.get_by_role("status")).to_contain_text("Amended: Set the maintenance interval")

    after = _maintenance_days(page)
    assert len(after) >= 2
    assert all(59 <= gap <= 62 for gap in _gaps(after)), f"every 2 months after the amendment: {after}"
    amendments = page.locator("ol.amendments")
    expect(amendments).to_contain_text("every 2 months")
    expect(amendments).to_contain_text("Symptoms return before the 3-monthly dose")

    page.get_by_role("link", name="Audit trail", exact=True).click()
    trail = page.locator("table.audit")
    expect(trail).to_contain_text("Amended the course: Set the maintenance interval")
    expect(trail).to_contain_text(DEMO_CLINICIAN.name)
