"""The printable clinician summary: what it shows, that user text is escaped, and that the PDF renders."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from b12.adapters.report import DISCLAIMER, clinician_summary_html, clinician_summary_pdf
from b12.domain.accounts import PatientRecord
from b12.domain.alerts import Alert, Severity
from b12.domain.analytes import Analyte
from b12.domain.case import Route, Sex
from b12.domain.guidelines import find_regimen
from b12.domain.guidelines.thresholds import ThresholdSet, load_threshold_set
from b12.domain.regimen import Product
from b12.domain.tracking import (
    Amendment,
    AmendmentKind,
    Course,
    DoseGiven,
    DoseSkipped,
    History,
    LabEntry,
    Reaction,
    SymptomEntry,
    TrackedSymptom,
)

NOW = datetime(2025, 5, 2, 14, 30, tzinfo=UTC)
PEOPLE = {"clinician-1": "Dr R. Patel", "nurse-1": "Nurse J. Lee"}


@pytest.fixture(scope="module")
def nice() -> ThresholdSet:
    return load_threshold_set("nice-ng239")


def _patient(name: str = "Ann Example") -> PatientRecord:
    return PatientRecord("patient-1", name, Sex.FEMALE, datetime(2024, 12, 1, tzinfo=UTC), birth_date=date(1961, 3, 14))


def _course() -> Course:
    guideline, regimen = find_regimen("UK-IM-NN", "uk")
    return Course(
        id="course-1",
        patient_id="patient-1",
        guideline=guideline.id,
        guideline_version=guideline.version,
        regimen_id=regimen.id,
        phases=regimen.phases,
        product=Product.HYDROXOCOBALAMIN,
        strength="1000 mcg/mL",
        syringe="U-100",
        start=date(2025, 1, 6),
        created_by="clinician-1",
        created_at=datetime(2025, 1, 3, 9, tzinfo=UTC),
        lifelong=True,
    )


def _dose(number: int, day: date, **extra: object) -> DoseGiven:
    return DoseGiven(
        id=f"dose-{number}",
        course_id="course-1",
        at=datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
        dose_mg=1.0,
        product=Product.HYDROXOCOBALAMIN,
        route=Route.IM,
        given_by="nurse-1",
        site="left deltoid",
        batch="AB123",
        expiry=date(2026, 5, 1),
        **extra,  # type: ignore[arg-type]
    )


def _history(course: Course) -> History:
    loading = [date(2025, 1, 6) + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)]
    doses = (
        *(_dose(i, day) for i, day in enumerate(loading)),
        _dose(9, date(2025, 4, 11), reaction="itchy rash", note="first maintenance dose"),
    )
    labs = (
        LabEntry("lab-1", "patient-1", date(2025, 1, 2), Analyte.B12_TOTAL, 150, "ng/L", 150, "ng/L"),
        LabEntry(
            "lab-2",
            "patient-1",
            date(2025, 1, 2),
            Analyte.HEMOGLOBIN,
            10.8,
            "g/dL",
            108,
            "g/L",
            lower_limit=12,
            upper_limit=16,
        ),
        LabEntry("lab-3", "patient-1", date(2025, 4, 10), Analyte.B12_TOTAL, 310, "pmol/L", 420.1, "ng/L"),
    )
    symptoms = tuple(
        SymptomEntry(
            f"symptom-{i}",
            "patient-1",
            datetime(2025, 1, 1, 8, tzinfo=UTC) + timedelta(days=14 * i),
            {TrackedSymptom.FATIGUE: 8 - i, TrackedSymptom.PARAESTHESIA: 6 - 2 * i},
            note="worse in the evenings" if i == 1 else None,
        )
        for i in range(4)
    )
    amendments = (
        Amendment(
            "amendment-1",
            "course-1",
            datetime(2025, 4, 1, 11, tzinfo=UTC),
            "clinician-1",
            AmendmentKind.SET_MAINTENANCE_INTERVAL,
            date(2025, 4, 11),
            "Symptoms return in the last 3 weeks before each dose",
            {"months": 2},
        ),
    )
    reactions = (Reaction("reaction-1", "dose-2", datetime(2025, 1, 10, 15, tzinfo=UTC), "sore site", severe=True),)
    skips = (DoseSkipped("skip-1", "course-1", date(2025, 3, 3), datetime(2025, 3, 3, 18, tzinfo=UTC), "flu"),)
    return History(course, doses, skips, amendments, symptoms, reactions, labs)


@dataclass
class _Status:
    """A stand-in for the course status being written elsewhere: only the attributes the report reads."""

    phase: str = "maintenance"
    next_due: date = date(2025, 6, 11)
    overdue: bool = False
    adherence: float = 0.857
    red_flags: list[Alert] = field(
        default_factory=lambda: [Alert("SAFE-K", Severity.WARNING, "Check potassium in the first 48 hours.", ("S38",))]
    )


def _text(page: str) -> str:
    """The page's visible text, tags removed and white space collapsed."""
    body = page[page.index("<body") :]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _summary(nice: ThresholdSet, status: object | None = None, **options: object) -> str:
    course = _course()
    return clinician_summary_html(
        _patient(),
        course,
        status,
        _history(course),
        thresholds=nice,
        now=NOW,
        people=PEOPLE,
        **options,  # type: ignore[arg-type]
    )


def test_the_header_names_patient_course_guideline_version_thresholds_and_the_disclaimer(nice: ThresholdSet) -> None:
    text = _text(_summary(nice))
    assert "Ann Example" in text
    assert "Patient ID patient-1" in text
    assert "Born 14 Mar 1961" in text
    assert "Course course-1, started 6 Jan 2025" in text
    assert f"Guideline uk version {_course().guideline_version}" in text
    assert "Regimen UK-IM-NN" in text
    assert "Thresholds NICE NG239 (March 2024), vitamin B12 deficiency in over 16s (version 2024-03)" in text
    assert "Summary made 2 May 2025 15:30" in text  # 14:30 UTC is 15:30 in London in May
    assert "b12 is decision support; a clinician decides." in text
    assert DISCLAIMER == "b12 is decision support; a clinician decides."
    assert "1 mg IM three times a week for 2 weeks (6 doses)" in text


def test_the_timeline_plot_is_inline_svg_with_its_description(nice: ThresholdSet) -> None:
    page = _summary(nice)
    assert '<svg xmlns:xlink="http://www.w3.org/1999/xlink"' in page
    assert "<?xml" not in page
    assert '<desc id="b12-b12_total-desc">' in page
    # One result in ng/L, one in pmol/L: the tie goes to the latest unit, and NICE's own pmol/L bands are drawn.
    assert "Deficiency confirmed (&lt;133)" in page


def test_the_plot_can_be_embedded_as_a_png_instead(nice: ThresholdSet) -> None:
    page = _summary(nice, plot="png")
    assert '<img class="plot" src="data:image/png;base64,iVBORw0KGgo' in page
    assert "<svg" not in page


def test_doses_given_show_date_dose_site_batch_expiry_who_and_reaction(nice: ThresholdSet) -> None:
    text = _text(_summary(nice))
    assert "Doses given (7)" in text
    assert "6 Jan 2025 10:00 1 mg hydroxocobalamin IM left deltoid AB123 1 May 2026 Nurse J. Lee" in text
    assert "sore site (severe)" in text  # a reaction recorded against dose-2
    assert "itchy rash first maintenance dose" in text
    assert "11 Apr 2025 11:00" in text  # 10:00 UTC in British Summer Time
    assert "3 Mar 2025 3 Mar 2025 18:00 flu" in text  # the skipped dose


def test_labs_show_the_value_as_reported_beside_the_normalised_one(nice: ThresholdSet) -> None:
    text = _text(_summary(nice))
    assert "2 Jan 2025 Total B12 150 ng/L same Deficiency confirmed (<180 ng/L)" in text
    assert "2 Jan 2025 Haemoglobin 10.8 g/dL 108 g/L 12–16 g/dL" in text
    assert "10 Apr 2025 Total B12 310 pmol/L 420.1 ng/L Deficiency unlikely (>258 pmol/L)" in text


def test_the_symptom_timeline_is_a_table_of_scores_by_date(nice: ThresholdSet) -> None:
    page = _summary(nice)
    text = _text(page)
    assert "Date fatigue paraesthesia Note" in text
    assert "1 Jan 2025 8 6" in text
    assert "15 Jan 2025 7 4 worse in the evenings" in text
    assert "12 Feb 2025 5 0" in text
    assert '<td class="score s8">8</td>' in page


def test_amendments_are_listed_with_who_and_why(nice: ThresholdSet) -> None:
    text = _text(_summary(nice))
    assert (
        "1 Apr 2025 12:00 11 Apr 2025 Dr R. Patel Maintenance interval changed: every 2 months "
        "Symptoms return in the last 3 weeks before each dose"
    ) in text


def test_red_flags_show_rule_ids_and_sources_most_severe_first(nice: ThresholdSet) -> None:
    urgent = Alert("NEURO-URGENT", Severity.CRITICAL, "Paraesthesia is worse: contact the clinician.", ("S18",))
    text = _text(_summary(nice, _Status(), alerts=[urgent]))
    assert "critical NEURO-URGENT Paraesthesia is worse: contact the clinician. [S18]" in text
    assert "warning SAFE-K Check potassium in the first 48 hours. [S38]" in text
    assert text.index("NEURO-URGENT") < text.index("SAFE-K")
    assert "S18 Pernicious Anaemia Society" in text  # the source list names what was cited


def test_the_status_is_read_from_any_object_that_has_its_attributes(nice: ThresholdSet) -> None:
    text = _text(_summary(nice, _Status()))
    assert "Phase maintenance Next dose due 11 Jun 2025 Overdue no Adherence 86%" in text


def test_without_a_status_the_summary_still_renders(nice: ThresholdSet) -> None:
    text = _text(_summary(nice, None))
    assert "Status" not in text.split("Red flags and prompts")[1].split("Timeline")[0]
    assert "None recorded at the time of this summary." in text


def test_an_empty_history_says_what_is_missing(nice: ThresholdSet) -> None:
    course = _course()
    page = clinician_summary_html(_patient(), course, None, History(course), thresholds=nice, now=NOW)
    text = _text(page)
    for message in (
        "No doses recorded yet.",
        "No lab results recorded yet.",
        "No symptom scores recorded yet.",
        "The course has not been amended.",
        "No total B12 results yet",
    ):
        assert message in text or message in page


def test_text_typed_by_users_is_escaped(nice: ThresholdSet) -> None:
    course = _course()
    page = clinician_summary_html(
        _patient('<script>alert("x")</script>'), course, None, _history(course), thresholds=nice, now=NOW
    )
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_the_print_style_sheet_sets_a4_margins_and_hides_navigation(nice: ThresholdSet) -> None:
    page = _summary(nice)
    assert "size: A4;" in page
    assert "margin: 16mm 14mm 18mm 14mm;" in page
    assert "nav, .no-print, button, form { display: none; }" in page
    assert 'counter(page) " of " counter(pages)' in page


def test_the_pdf_is_a_pdf_whose_first_page_renders(nice: ThresholdSet, tmp_path: Path) -> None:
    course = _course()
    pdf = clinician_summary_pdf(
        _patient(), course, _Status(), _history(course), thresholds=nice, now=NOW, people=PEOPLE
    )
    assert pdf.startswith(b"%PDF-")
    assert b"%%EOF" in pdf[-64:]
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftoppm, pdftotext) is not installed")
    (tmp_path / "summary.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "summary.pdf", "page"], cwd=tmp_path, check=True
    )
    [page_one] = tmp_path.glob("page-*.png")
    png = page_one.read_bytes()
    assert png.startswith(b"\x89PNG")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert abs(width / height - 210 / 297) < 0.01  # A4 portrait
    text = subprocess.run(
        ["pdftotext", "-layout", "summary.pdf", "-"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout
    assert "Ann Example" in text
    assert "b12 is decision support; a clinician decides." in text
    assert "Page 1 of" in text
    assert "Deficiency confirmed" in text  # the plot's band labels are text in the PDF too
