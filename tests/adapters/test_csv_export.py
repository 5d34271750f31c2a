"""CSV exports: header rows, ISO dates, original beside normalised values, and no formula injection."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from b12.adapters.csv_export import (
    DOSE_COLUMNS,
    LAB_COLUMNS,
    SYMPTOM_COLUMNS,
    doses_csv,
    labs_csv,
    symptoms_csv,
)
from b12.domain.analytes import Analyte
from b12.domain.case import Route
from b12.domain.regimen import Product
from b12.domain.tracking import DoseGiven, LabEntry, Reaction, SymptomEntry, TrackedSymptom


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _dose(dose_id: str, at: datetime, **extra: object) -> DoseGiven:
    return DoseGiven(
        id=dose_id,
        course_id="course-1",
        at=at,
        dose_mg=1.0,
        product=Product.HYDROXOCOBALAMIN,
        route=Route.IM,
        given_by="practice nurse",
        **extra,  # type: ignore[arg-type]
    )


def test_doses_have_a_header_and_one_row_each_oldest_first() -> None:
    doses = [
        _dose("d2", datetime(2025, 1, 8, 10, tzinfo=UTC), site="right deltoid"),
        _dose("d1", datetime(2025, 1, 6, 10, tzinfo=UTC), site="left deltoid", batch="AB123", expiry=date(2026, 5, 1)),
    ]
    text = doses_csv(doses)
    assert text.splitlines()[0] == ",".join(DOSE_COLUMNS)
    assert text.endswith("\r\n")
    rows = _rows(text)
    assert [row["id"] for row in rows] == ["d1", "d2"]
    assert rows[0] == {
        "id": "d1",
        "course_id": "course-1",
        "given_at": "2025-01-06T10:00:00+00:00",
        "date": "2025-01-06",
        "dose_mg": "1",
        "product": "hydroxocobalamin",
        "route": "im",
        "site": "left deltoid",
        "batch": "AB123",
        "expiry": "2026-05-01",
        "given_by": "practice nurse",
        "reaction": "",
        "note": "",
    }


def test_dose_times_can_be_written_in_the_patients_time_zone() -> None:
    [row] = _rows(doses_csv([_dose("d1", datetime(2025, 6, 30, 23, 30, tzinfo=UTC))], tz="Europe/London"))
    assert row["given_at"] == "2025-07-01T00:30:00+01:00"
    assert row["date"] == "2025-07-01"


def test_reactions_recorded_later_are_joined_to_their_dose() -> None:
    dose = _dose("d1", datetime(2025, 1, 6, 10, tzinfo=UTC), reaction="stinging")
    later = [Reaction("r1", "d1", datetime(2025, 1, 7, 9, tzinfo=UTC), "red patch", severe=True)]
    [row] = _rows(doses_csv([dose], reactions=later))
    assert row["reaction"] == "stinging; red patch (severe)"


def test_labs_keep_the_reported_value_and_unit_beside_the_normalised_ones() -> None:
    labs = [
        LabEntry("l2", "patient-1", date(2025, 4, 10), Analyte.B12_TOTAL, 310, "pmol/L", 420.1, "ng/L"),
        LabEntry(
            "l1", "patient-1", date(2025, 1, 2), Analyte.HEMOGLOBIN, 10.8, "g/dL", 108, "g/L", 16.0, lower_limit=12.0
        ),
    ]
    text = labs_csv(labs)
    assert text.splitlines()[0] == ",".join(LAB_COLUMNS)
    assert _rows(text) == [
        {
            "id": "l1",
            "taken": "2025-01-02",
            "analyte": "hemoglobin",
            "value": "10.8",
            "unit": "g/dL",
            "normalised_value": "108",
            "normalised_unit": "g/L",
            "lower_limit": "12",
            "upper_limit": "16",
        },
        {
            "id": "l2",
            "taken": "2025-04-10",
            "analyte": "b12_total",
            "value": "310",
            "unit": "pmol/L",
            "normalised_value": "420.1",
            "normalised_unit": "ng/L",
            "lower_limit": "",
            "upper_limit": "",
        },
    ]


def test_a_micro_sign_survives_the_round_trip() -> None:
    [row] = _rows(
        labs_csv([LabEntry("l1", "patient-1", date(2025, 1, 2), Analyte.HOMOCYSTEINE, 18, "µmol/L", 18, "µmol/L")])
    )
    assert row["unit"] == "µmol/L"


def test_symptoms_have_one_column_per_symptom_and_blanks_where_not_scored() -> None:
    entries = [
        SymptomEntry("s1", "patient-1", datetime(2025, 1, 1, 8, tzinfo=UTC), {TrackedSymptom.FATIGUE: 8}),
        SymptomEntry(
            "s2",
            "patient-1",
            datetime(2025, 1, 15, 8, tzinfo=UTC),
            {TrackedSymptom.FATIGUE: 6, TrackedSymptom.PARAESTHESIA: 0},
            note="better",
        ),
    ]
    text = symptoms_csv(entries)
    assert text.splitlines()[0] == ",".join(SYMPTOM_COLUMNS)
    assert SYMPTOM_COLUMNS[3:-1] == tuple(symptom.value for symptom in TrackedSymptom)
    first, second = _rows(text)
    assert first["recorded_at"] == "2025-01-01T08:00:00+00:00"
    assert first["date"] == "2025-01-01"
    assert (first["fatigue"], first["paraesthesia"], first["vision"]) == ("8", "", "")
    assert (second["fatigue"], second["paraesthesia"], second["note"]) == ("6", "0", "better")


@pytest.mark.parametrize(
    "typed",
    ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"],
    ids=["equals", "plus", "minus", "at", "tab", "carriage-return"],
)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_quoted(typed: str) -> None:
    dose = _dose("d1", datetime(2025, 1, 6, 10, tzinfo=UTC), note=typed, batch=typed, site=typed)
    [row] = _rows(doses_csv([dose]))
    assert row["note"] == row["batch"] == row["site"] == "'" + typed


def test_formula_quoting_applies_to_every_export() -> None:
    [lab] = _rows(labs_csv([LabEntry("=l1", "p", date(2025, 1, 2), Analyte.MCV, 101, "fL", 101, "fL")]))
    entry = SymptomEntry("s1", "p", datetime(2025, 1, 1, tzinfo=UTC), {TrackedSymptom.MOOD: 3}, note="@me")
    [symptom] = _rows(symptoms_csv([entry]))
    assert (lab["id"], symptom["note"]) == ("'=l1", "'@me")


def test_ordinary_text_with_commas_quotes_and_line_breaks_is_kept_as_written() -> None:
    note = 'bruised, "a little"\nsettled next day'
    [row] = _rows(doses_csv([_dose("d1", datetime(2025, 1, 6, 10, tzinfo=UTC), note=note)]))
    assert row["note"] == note


def test_empty_exports_still_have_their_header() -> None:
    assert doses_csv([]) == ",".join(DOSE_COLUMNS) + "\r\n"
    assert labs_csv([]) == ",".join(LAB_COLUMNS) + "\r\n"
    assert symptoms_csv([]) == ",".join(SYMPTOM_COLUMNS) + "\r\n"
