"""FHIR R4 import and export (``b12.adapters.fhir``): round trips, located problems, all-or-nothing imports.

Imports run on the in-memory :class:`tests.fakes.FakeUnitOfWork` and, once, on the real SQL unit of work over
SQLite. Fixtures are in ``tests/vectors/fhir``: the shared interop examples and b12's own files.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
import typer
from fhir.resources.R4B.medicationrequest import MedicationRequest
from typer.testing import CliRunner

from b12.adapters import fhir
from b12.adapters.cli.fhir_cli import register
from b12.adapters.fhir import FhirImportError, Problem
from b12.adapters.sql.db import make_engine
from b12.adapters.sql.migrations import upgrade
from b12.adapters.sql.repository import unit_of_work_factory
from b12.domain.accounts import PatientRecord
from b12.domain.analytes import Analyte
from b12.domain.case import Route, Sex
from b12.domain.guidelines import load_guideline
from b12.domain.regimen import Product
from b12.domain.tracking import Amendment, AmendmentKind, Course, DoseGiven, LabEntry, normalise_lab
from b12.ports import UnitOfWork
from fakes import FakeUnitOfWork

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "fhir"
T0 = datetime(2025, 1, 8, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
PATIENT = "example"
COURSE = "course-1"
GUIDELINES = ("uk", "us-label", "us-practice")


def vector(name: str) -> str:
    return (VECTORS / name).read_text(encoding="utf-8")


def make_course(
    course_id: str = COURSE, *, guideline_id: str = "uk", regimen_id: str = "UK-IM-NN", start: date = date(2025, 1, 8)
) -> Course:
    guideline = load_guideline(guideline_id)
    regimen = guideline.regimens[regimen_id]
    return Course(
        id=course_id,
        patient_id=PATIENT,
        guideline=guideline.id,
        guideline_version=guideline.version,
        regimen_id=regimen.id,
        phases=regimen.phases,
        product=regimen.product,
        strength=guideline.strengths[regimen.product],
        syringe="U-100" if regimen.route is Route.IM else None,
        start=start,
        created_by="clin-1",
        created_at=T0,
        lifelong=regimen.lifelong,
    )


def seed(uow: UnitOfWork, *courses: Course) -> UnitOfWork:
    """The patient of the examples (``Patient/example``) and ``courses`` (default: one UK-IM-NN course)."""
    with uow:
        uow.accounts.add_patient(PatientRecord(id=PATIENT, name="Example", sex=Sex.FEMALE, created_at=T0))
        for course in courses or (make_course(),):
            uow.tracking.add_course(course)
        uow.commit()
    return uow


def fake_store(*courses: Course) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    seed(uow, *courses)
    return uow


def facts_of(uow: UnitOfWork, course_id: str = COURSE) -> tuple[list[LabEntry], list[DoseGiven]]:
    with uow:
        history = uow.tracking.history(course_id)
    assert history is not None
    return sorted(history.labs, key=lambda e: e.id), sorted(history.doses, key=lambda d: d.id)


def dose(dose_id: str, at: datetime, **changes: Any) -> DoseGiven:
    values: dict[str, Any] = {
        "id": dose_id,
        "course_id": COURSE,
        "at": at,
        "dose_mg": 1.0,
        "product": Product.HYDROXOCOBALAMIN,
        "route": Route.IM,
        "given_by": "practice nurse",
        "site": "left deltoid",
        "batch": "B-2291",
        "expiry": date(2027, 8, 31),
        "reaction": None,
        "note": None,
    }
    values.update(changes)
    return DoseGiven(**values)


def lab(lab_id: str, analyte: Analyte, value: float, unit: str, **changes: Any) -> LabEntry:
    normalised = normalise_lab(analyte, value, unit)
    return LabEntry(
        id=lab_id,
        patient_id=PATIENT,
        taken=changes.pop("taken", date(2025, 1, 6)),
        analyte=analyte,
        value=value,
        unit=unit,
        normalised_value=normalised[0],
        normalised_unit=normalised[1],
        **changes,
    )


def import_text(uow: UnitOfWork, text: str, name: str = "file.json", **options: Any) -> fhir.ImportSummary:
    return fhir.import_fhir(uow, text, at=NOW, name=name, **options)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def bundle_of(*entries: dict[str, Any], kind: str = "collection") -> str:
    return json.dumps({"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in entries]})


def b12_observation(**changes: Any) -> dict[str, Any]:
    resource = json.loads(vector("observation-b12.json"))
    resource.update(changes)
    return {k: v for k, v in resource.items() if v is not None}


def administration(**changes: Any) -> dict[str, Any]:
    resource = json.loads(vector("medicationadministration.json"))
    resource["request"] = {"reference": f"MedicationRequest/{COURSE}"}
    resource.update(changes)
    return {k: v for k, v in resource.items() if v is not None}


def rejected(uow: FakeUnitOfWork, text: str, **options: Any) -> tuple[Problem, ...]:
    """The problems of an import that must fail, after checking that it changed nothing."""
    before, commits = copy.deepcopy(uow.committed), uow.commits
    with pytest.raises(FhirImportError) as caught:
        import_text(uow, text, **options)
    assert uow.committed == before
    assert uow.commits == commits
    return caught.value.problems


# --- importing the shared examples ------------------------------------------------------------------------


def test_the_example_observation_becomes_a_lab_entry_keeping_the_reported_value_and_unit() -> None:
    uow = fake_store()
    summary = import_text(uow, vector("observation-b12.json"))
    assert (summary.labs, summary.doses, summary.skipped) == (1, 0, ())
    labs, _ = facts_of(uow)
    assert (labs[0].normalised_value, labs[0].normalised_unit) == (148.0, "ng/L")
    assert labs == [
        lab(
            "b12-total-2025-01-06",
            Analyte.B12_TOTAL,
            148.0,
            "pg/mL",
            lower_limit=180.0,
            upper_limit=914.0,
        )
    ]


def test_the_example_administration_becomes_a_dose_with_batch_and_expiry_read_from_its_note() -> None:
    uow = fake_store()
    import_text(uow, vector("medicationadministration.json"), course_id=COURSE)
    _, doses = facts_of(uow)
    assert doses == [
        DoseGiven(
            id="b12-dose-3",
            course_id=COURSE,
            at=datetime(2025, 1, 13, 10, 5, tzinfo=UTC),
            dose_mg=1.0,
            product=Product.HYDROXOCOBALAMIN,
            route=Route.IM,
            given_by=fhir.NOT_RECORDED,
            site="Left deltoid",
            batch="AB123",
            expiry=date(2026, 3, 31),  # "exp 2026-03": the last day of the month on the label
            reaction=None,
            note="Batch AB123, exp 2026-03; no reaction",
        )
    ]


@pytest.mark.parametrize(
    ("name", "options"),
    [
        pytest.param("observation-b12.json", {}, id="observation"),
        pytest.param("medicationadministration.json", {"course_id": COURSE}, id="administration"),
        pytest.param("observations.ndjson", {}, id="ndjson"),
    ],
)
def test_import_export_import_of_an_example_file_gives_the_same_facts(name: str, options: dict[str, Any]) -> None:
    first = fake_store()
    import_text(first, vector(name), name=name, **options)
    exported = fhir.export_course(first, COURSE, today=TODAY)
    second = fake_store()
    import_text(second, fhir.dumps(exported))
    assert facts_of(second) == facts_of(first)
    assert facts_of(first) != ([], [])


@pytest.mark.parametrize("name", ["medicationrequest-hydroxocobalamin.json", "careplan.json"])
def test_an_example_request_or_care_plan_is_skipped_with_a_reason_and_writes_nothing(name: str) -> None:
    uow = fake_store()
    summary = import_text(uow, vector(name), name=name)
    assert (summary.labs, summary.doses, summary.unchanged) == (0, 0, 0)
    assert len(summary.skipped) == 1
    assert "describes the course" in summary.skipped[0].message
    assert uow.commits == 1  # the seed only


@pytest.mark.parametrize(
    "name", ["medicationrequest-hydroxocobalamin.json", "careplan.json", "medicationadministration.json"]
)
def test_the_example_resources_pass_the_required_code_check(name: str) -> None:
    assert fhir.check_codes(json.loads(vector(name))) == []


def test_codes_outside_their_value_sets_are_found_although_fhir_resources_accepts_them() -> None:
    request = json.loads(vector("medicationrequest-hydroxocobalamin.json"))
    request["status"] = "finalized"
    request["dosageInstruction"][1]["timing"]["repeat"]["periodUnit"] = "fortnight"
    MedicationRequest.model_validate(request)  # the models let both through
    problems = fhir.check_codes(request)
    assert [p.path for p in problems] == ["status", "dosageInstruction[1].timing.repeat.periodUnit"]
    assert "'fortnight' is not a code of its value set" in problems[1].message


# --- exporting a course -----------------------------------------------------------------------------------


def test_the_exported_request_has_the_example_loading_dosage_and_a_calendar_month_maintenance() -> None:
    bundle = fhir.export_course(fake_store(), COURSE, today=TODAY)
    example = json.loads(vector("medicationrequest-hydroxocobalamin.json"))
    (request,) = resources(bundle, "MedicationRequest")
    assert (request["status"], request["intent"]) == ("active", "order")
    loading, maintenance = request["dosageInstruction"]
    expected = copy.deepcopy(example["dosageInstruction"][0])
    del expected["timing"]["repeat"]["dayOfWeek"]  # b12 counts the weekly pattern from the first dose given
    assert loading == expected
    assert maintenance["sequence"] == 2
    assert maintenance["timing"] == example["dosageInstruction"][1]["timing"]
    assert maintenance["route"] == example["dosageInstruction"][1]["route"]
    assert maintenance["doseAndRate"] == example["dosageInstruction"][1]["doseAndRate"]
    assert maintenance["text"] == (
        "Then 1 mg by intramuscular injection every 3 months (calendar months, not 30-day periods), "
        "for life if the cause is irreversible"
    )
    assert "count" not in maintenance["timing"]["repeat"]
    assert maintenance["patientInstruction"] == "No fixed end: for life if the cause is irreversible."


def test_the_care_plan_references_the_request_and_schedules_the_three_month_review() -> None:
    uow = fake_store()
    with uow:
        uow.tracking.add_dose(dose("d1", datetime(2025, 1, 8, 10, tzinfo=UTC)))
        uow.commit()
    (plan,) = resources(fhir.export_course(uow, COURSE, today=TODAY), "CarePlan")
    assert (plan["status"], plan["intent"], plan["period"]) == ("active", "plan", {"start": "2025-01-08"})
    assert plan["activity"][0] == {"reference": {"reference": f"MedicationRequest/{COURSE}"}}
    review = plan["activity"][1]["detail"]
    assert (review["kind"], review["status"]) == ("Appointment", "scheduled")
    assert review["scheduledTiming"] == {"event": ["2025-04-08"]}
    assert "FU-UK" in review["description"]


def test_a_course_for_anaemia_has_follow_up_blood_tests_coded_with_loinc() -> None:
    course = dataclasses.replace(make_course(), anaemia=True)
    uow = fake_store(course)
    with uow:
        uow.tracking.add_dose(dose("d1", datetime(2025, 1, 8, 10, tzinfo=UTC)))
        uow.commit()
    (plan,) = resources(fhir.export_course(uow, COURSE, today=TODAY), "CarePlan")
    tests = [a["detail"] for a in plan["activity"][1:] if a["detail"]["kind"] == "ServiceRequest"]
    assert tests, plan["activity"]
    codes = {c["code"] for detail in tests for c in detail["code"].get("coding", ())}
    assert codes <= {"718-7", "787-2", fhir.CBC_PANEL_LOINC}
    assert fhir.CBC_PANEL_LOINC in codes


def test_a_stopped_course_exports_a_stopped_request_and_a_revoked_plan() -> None:
    uow = fake_store()
    with uow:
        uow.tracking.add_dose(dose("d1", datetime(2025, 1, 8, 10, tzinfo=UTC)))
        uow.tracking.add_amendment(
            Amendment("a1", COURSE, T0 + timedelta(days=10), "clin-1", AmendmentKind.STOP, date(2025, 1, 18), "ok")
        )
        uow.commit()
    bundle = fhir.export_course(uow, COURSE, today=TODAY)
    assert resources(bundle, "MedicationRequest")[0]["status"] == "stopped"
    plan = resources(bundle, "CarePlan")[0]
    assert plan["status"] == "revoked"
    assert plan["period"] == {"start": "2025-01-08", "end": "2025-01-18"}


ALL_REGIMENS = [
    pytest.param(g, r, id=r)
    for g in GUIDELINES
    for r in load_guideline(g).regimens  # every regimen b12 knows
]


@pytest.mark.parametrize(("guideline_id", "regimen_id"), ALL_REGIMENS)
def test_every_regimen_exports_a_valid_request_with_one_dosage_per_phase(guideline_id: str, regimen_id: str) -> None:
    course = make_course(guideline_id=guideline_id, regimen_id=regimen_id)
    bundle = fhir.export_course(fake_store(course), COURSE, today=TODAY)
    assert fhir.check_codes(bundle) == []
    (request,) = resources(bundle, "MedicationRequest")
    dosages = request["dosageInstruction"]
    assert [d["sequence"] for d in dosages] == list(range(1, len(course.phases) + 1))
    for phase, dosage in zip(course.phases, dosages, strict=True):
        repeat = dosage["timing"]["repeat"]
        assert repeat["periodUnit"] in {"d", "wk", "mo"}
        assert ("count" in repeat) == (phase.ending.value == "count")
        assert ("boundsDuration" in repeat) == (phase.ending.value == "duration")
        assert ("patientInstruction" in dosage) == phase.open_ended
        assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
        assert dosage["text"].startswith("Then " if dosage["sequence"] > 1 else tuple("0123456789"))
        assert ("calendar months" in dosage["text"]) == (repeat["periodUnit"] == "mo")


@pytest.mark.parametrize(
    ("guideline_id", "regimen_id", "sequence", "text"),
    [
        ("uk", "UK-IM-NEURO", 1, "1 mg by intramuscular injection on alternate days until no further improvement"),
        ("us-label", "US-FDA-CN", 1, "100 micrograms by intramuscular injection once a day for 7 days (7 doses)"),
        (
            "us-label",
            "US-FDA-CN",
            2,
            "Then 100 micrograms by intramuscular injection on alternate days for 7 doses "
            "(only if there is clinical improvement and a reticulocyte response)",
        ),
        ("us-label", "US-FDA-CN", 3, "Then 100 micrograms by intramuscular injection every 4 days for 3 weeks"),
        ("us-practice", "US-STABLER", 2, "Then 1 mg by intramuscular injection once a week for 8 weeks (8 doses)"),
        (
            "uk",
            "UK-ORAL-DIET",
            1,
            "150 micrograms by mouth once a day, until levels are normal and the diet has "
            "improved (vegans may need it for life)",
        ),
    ],
)
def test_a_dosage_text_is_the_clinically_equivalent_sentence(
    guideline_id: str, regimen_id: str, sequence: int, text: str
) -> None:
    phase = load_guideline(guideline_id).regimens[regimen_id].phases[sequence - 1]
    assert fhir.dosage_text(phase, sequence) == text


def test_a_duration_phase_is_bounded_by_a_ucum_duration() -> None:
    phase = load_guideline("us-label").regimens["US-FDA-CN"].phases[2]
    repeat = fhir.dosage_instruction(phase, 3)["timing"]["repeat"]
    assert repeat == {
        "boundsDuration": {"value": 3, "unit": "weeks", "system": fhir.UCUM_SYSTEM, "code": "wk"},
        "frequency": 1,
        "period": 4,
        "periodUnit": "d",
    }


# --- round trips --------------------------------------------------------------------------------------------


def a_course_with_facts(uow: UnitOfWork) -> UnitOfWork:
    """Doses with every optional field set or not, and labs in mixed units, with and without limits."""
    london = timezone(timedelta(hours=1))
    with uow:
        tracking = uow.tracking
        tracking.add_dose(dose("d1", datetime(2025, 1, 8, 10, 0, tzinfo=UTC), reaction="slight redness"))
        tracking.add_dose(
            dose("d2", datetime(2025, 1, 10, 9, 30, tzinfo=london), batch=None, expiry=None, site=None, note="ok")
        )
        tracking.add_dose(
            dose(
                "d3",
                datetime(2025, 1, 13, 8, tzinfo=UTC),
                given_by=fhir.NOT_RECORDED,
                batch=None,
                expiry=None,
                note="lot 5 of the box",
            )
        )
        tracking.add_dose(dose("d4", datetime(2025, 1, 15, 8, tzinfo=UTC), batch=None, note="from a new box"))
        tracking.add_dose(dose("d5", datetime(2025, 1, 17, 8, tzinfo=UTC), dose_mg=0.5, note="half dose\nsecond line"))
        tracking.add_lab(lab("l1", Analyte.B12_TOTAL, 148.0, "pg/mL", lower_limit=180.0))
        tracking.add_lab(lab("l2", Analyte.B12_TOTAL, 109.2, "pmol/L", taken=date(2025, 2, 20)))
        tracking.add_lab(lab("l3", Analyte.MMA, 0.52, "µmol/L", upper_limit=0.4))
        tracking.add_lab(lab("l4", Analyte.HEMOGLOBIN, 10.9, "g/dL", lower_limit=12.0, upper_limit=15.5))
        tracking.add_lab(lab("l5", Analyte.B12_ACTIVE, 21.0, "pmol/L"))
        tracking.add_lab(lab("l6", Analyte.MCV, 104.0, "fl", upper_limit=99.0))
        uow.commit()
    return uow


def test_export_import_export_of_a_course_is_identical() -> None:
    first = fhir.export_course(a_course_with_facts(fake_store()), COURSE, today=TODAY)
    second_store = fake_store()
    summary = import_text(second_store, fhir.dumps(first))
    assert (summary.labs, summary.doses) == (6, 5)
    assert [p.message for p in summary.skipped] == [
        "a MedicationRequest describes the course, which is created in b12; only its facts are imported",
        "a CarePlan describes the course, which is created in b12; only its facts are imported",
    ]
    assert fhir.export_course(second_store, COURSE, today=TODAY) == first


def test_import_export_import_of_a_course_gives_the_same_facts() -> None:
    source = a_course_with_facts(fake_store())
    copied = fake_store()
    import_text(copied, fhir.dumps(fhir.export_course(source, COURSE, today=TODAY)))
    assert facts_of(copied) == facts_of(source)


def test_a_dose_note_that_reads_like_a_batch_is_exported_with_a_contained_medication() -> None:
    bundle = fhir.export_course(a_course_with_facts(fake_store()), COURSE, today=TODAY)
    by_id = {r["id"]: r for r in resources(bundle, "MedicationAdministration")}
    assert by_id["d1"]["contained"] == [
        {
            "resourceType": "Medication",
            "id": "medication",
            "code": {"text": "Hydroxocobalamin 1 mg/mL"},
            "batch": {"lotNumber": "B-2291", "expirationDate": "2027-08-31"},
        }
    ]
    assert by_id["d1"]["medicationReference"] == {"reference": "#medication", "display": "Hydroxocobalamin 1 mg/mL"}
    # no batch, but "lot 5" in the note: a contained Medication without batch, so the note is not read as one
    assert by_id["d3"]["contained"] == [
        {"resourceType": "Medication", "id": "medication", "code": {"text": "Hydroxocobalamin 1 mg/mL"}}
    ]
    assert "contained" not in by_id["d2"]
    assert by_id["d2"]["medicationCodeableConcept"] == {"text": "Hydroxocobalamin 1 mg/mL"}
    assert by_id["d1"]["note"] == [{"text": "Reaction: slight redness"}]
    assert "performer" not in by_id["d3"]
    assert by_id["d1"]["performer"] == [{"actor": {"display": "practice nurse"}}]
    assert by_id["d1"]["request"] == {"reference": f"MedicationRequest/{COURSE}"}


def generated_observations(count: int, seed_value: int = 12) -> dict[str, Any]:
    """``count`` Observations with b12's LOINC codes in mixed UCUM units, some with a reference range in
    another unit; seeded, so every run reads the same Bundle."""
    rng = random.Random(seed_value)
    kinds: list[tuple[str, str, float, float, tuple[str, float, float] | None]] = [
        ("2132-9", "pg/mL", 100, 900, ("pmol/L", 133, 664)),
        ("2132-9", "ng/L", 100, 900, None),
        ("14685-2", "pmol/L", 70, 660, ("pg/mL", 180, 900)),
        ("13964-2", "nmol/L", 90, 900, ("umol/L", 0.0, 0.4)),
        ("13964-2", "umol/L", 0.09, 0.9, None),
        ("13965-9", "umol/L", 5, 30, None),
        ("718-7", "g/dL", 8, 17, ("g/L", 120, 150)),
        ("718-7", "g/L", 80, 170, None),
        ("787-2", "fL", 78, 115, ("fL", 80, 99)),
        ("2284-8", "ng/mL", 2, 20, None),
        ("2284-8", "ug/L", 2, 20, None),
        ("14732-2", "nmol/L", 4, 45, None),
        ("2428-1", "mg/L", 0.7, 4, None),
    ]
    entries = []
    start = datetime(2020, 1, 1, 7, 0, tzinfo=UTC)
    for index in range(count):
        code, unit, low, high, reference = rng.choice(kinds)
        when = start + timedelta(days=rng.randrange(1800), minutes=rng.randrange(600))
        offset = timezone(timedelta(hours=rng.choice([0, 1, -5])))
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"gen-{index:04d}",
            "status": rng.choice(["final", "final", "amended", "corrected"]),
            "code": {"coding": [{"system": fhir.LOINC_SYSTEM, "code": code}]},
            "subject": {"reference": f"Patient/{PATIENT}"},
            "effectiveDateTime": when.astimezone(offset).isoformat(),
            "valueQuantity": {
                "value": str(round(rng.uniform(low, high), 2)),
                "unit": unit,
                "system": fhir.UCUM_SYSTEM,
                "code": unit,
            },
        }
        if reference is not None:
            range_unit, range_low, range_high = reference
            bounds = {"high": range_high} if range_low == 0 else {"low": range_low, "high": range_high}
            resource["referenceRange"] = [
                {
                    side: {"value": value, "unit": range_unit, "system": fhir.UCUM_SYSTEM, "code": range_unit}
                    for side, value in bounds.items()
                }
            ]
        entries.append({"fullUrl": f"urn:uuid:{_uuid(rng)}", "resource": resource})
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def _uuid(rng: random.Random) -> str:
    import uuid

    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def test_a_bundle_of_1000_observations_round_trips_quickly() -> None:
    text = json.dumps(generated_observations(1000))
    started = time.perf_counter()
    first = fake_store()
    summary = import_text(first, text, name="generated.json")
    imported = time.perf_counter()
    exported = fhir.export_course(first, COURSE, today=TODAY)
    done = time.perf_counter()
    second = fake_store()
    import_text(second, fhir.dumps(exported))
    again = fhir.export_course(second, COURSE, today=TODAY)
    print(
        f"\n1000 observations: import {imported - started:.2f} s, export {done - imported:.2f} s, "
        f"round trip {time.perf_counter() - started:.2f} s"
    )
    assert summary.labs == 1000
    assert facts_of(second) == facts_of(first)
    assert again == exported
    assert len(resources(exported, "Observation")) == 1000
    assert done - started < 10, "importing and exporting 1000 observations should take a few seconds at most"


def test_the_generated_units_are_kept_as_reported_beside_the_normalised_value() -> None:
    uow = fake_store()
    import_text(uow, json.dumps(generated_observations(200)))
    labs, _ = facts_of(uow)
    units = {(e.analyte, e.unit, e.normalised_unit) for e in labs}
    assert (Analyte.MMA, "umol/L", "nmol/L") in units
    assert (Analyte.B12_TOTAL, "pmol/L", "ng/L") in units
    assert (Analyte.HEMOGLOBIN, "g/dL", "g/L") in units
    hb = next(e for e in labs if e.analyte is Analyte.HEMOGLOBIN and e.unit == "g/dL" and e.lower_limit is not None)
    assert (hb.lower_limit, hb.upper_limit) == (12.0, 15.0)  # the range in g/L, kept in the value's g/dL


# --- problems, located and all-or-nothing --------------------------------------------------------------------


def test_a_bundle_with_three_bad_entries_is_rejected_with_three_located_problems_and_nothing_imported() -> None:
    uow = fake_store()
    problems = rejected(uow, vector("bundle-three-bad-entries.json"))
    assert [p.path for p in problems] == [
        "entry[1].resource.code.coding[0].code",
        "entry[3].resource.valueQuantity.unit",
        "entry[4].resource.valueQuantity.value",
    ]
    assert problems[0].message.startswith("unknown LOINC code '2276-4'")
    assert problems[1].message.startswith("unknown unit 'mcmol/dL'")
    assert problems[2].message == "not a number: 'low'"
    assert facts_of(uow) == ([], [])


def test_the_problems_of_a_rejected_file_are_all_in_its_error_message() -> None:
    with pytest.raises(FhirImportError, match=r"bad\.json: 3 problems, nothing imported: entry\[1\]"):
        import_text(fake_store(), vector("bundle-three-bad-entries.json"), name="bad.json")


def test_an_ndjson_problem_is_located_by_its_line_counted_from_one() -> None:
    problems = rejected(fake_store(), vector("observations-bad-unit.ndjson"), name="labs.ndjson")
    assert problems == (
        Problem(
            "line[4].valueQuantity.unit",
            problems[0].message,
        ),
    )
    assert "unknown unit 'cubic microns'" in problems[0].message


def test_an_ndjson_file_imports_its_final_results_and_skips_a_preliminary_one() -> None:
    uow = fake_store()
    summary = import_text(uow, vector("observations.ndjson"), name="labs.ndjson")
    assert summary.labs == 4
    assert summary.skipped == (
        Problem("line[6]", "status 'preliminary': only final, amended and corrected results are imported"),
    )
    labs, _ = facts_of(uow)
    hb = next(e for e in labs if e.id == "nd-4")
    assert (hb.value, hb.unit, hb.normalised_value, hb.lower_limit, hb.upper_limit) == (10.9, "g/dL", 109.0, 12.0, 15.0)


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        pytest.param({"valueQuantity": None}, "valueQuantity", "no value: a result needs one", id="no-value"),
        pytest.param(
            {"valueQuantity": {"unit": "pg/mL", "system": fhir.UCUM_SYSTEM, "code": "pg/mL"}},
            "valueQuantity.value",
            "no value: a result needs a number",
            id="quantity-without-value",
        ),
        pytest.param(
            {"valueString": "148 pg/mL", "valueQuantity": None},
            "valueString",
            "must be a valueQuantity",
            id="value-as-text",
        ),
        pytest.param(
            {"valueQuantity": {"value": 50, "comparator": "<", "system": fhir.UCUM_SYSTEM, "code": "pg/mL"}},
            "valueQuantity.comparator",
            "is a bound, not a value",
            id="comparator",
        ),
        pytest.param(
            {"valueQuantity": {"value": 148, "unit": "ng/mL", "system": fhir.UCUM_SYSTEM, "code": "pg/mL"}},
            "valueQuantity.unit",
            "'ng/mL' and the UCUM code 'pg/mL' are different units",
            id="unit-and-code-disagree",
        ),
        pytest.param(
            {"valueQuantity": {"value": 148, "code": "pg/mL"}},
            "valueQuantity.system",
            "needs its system",
            id="code-without-system",
        ),
        pytest.param(
            {"valueQuantity": {"value": 148, "system": "http://example.org/units", "code": "pg/mL"}},
            "valueQuantity.system",
            "is not UCUM",
            id="not-ucum",
        ),
        pytest.param(
            {"valueQuantity": {"value": 3, "system": fhir.UCUM_SYSTEM, "code": "[IU]/L"}},
            "valueQuantity.code",
            "not in international units",
            id="international-units",
        ),
        pytest.param(
            {"valueQuantity": {"value": 148, "system": fhir.UCUM_SYSTEM, "code": "fL"}},
            "valueQuantity.code",
            "Cannot convert",
            id="unit-of-another-dimension",
        ),
        pytest.param({"effectiveDateTime": "2025-01"}, "effectiveDateTime", "is not a full date", id="partial-date"),
        pytest.param({"effectiveDateTime": "2025-06-01"}, "effectiveDateTime", "is in the future", id="future"),
        pytest.param({"effectiveDateTime": None}, "effectiveDateTime", "no date the sample was taken", id="no-date"),
        pytest.param(
            {"code": {"coding": [{"system": "http://example.org/lab", "code": "B12"}], "text": "B12"}},
            "code",
            "no LOINC code",
            id="no-loinc",
        ),
        pytest.param({"status": "finalized"}, "status", "'finalized' is not a code of its value set", id="status"),
        pytest.param({"id": "b12 total"}, "id", "should match pattern", id="bad-id"),
        pytest.param(
            {"referenceRange": [{"low": {"value": 180, "unit": "pg/dL"}}]},
            "referenceRange[0].low.unit",
            "unknown unit 'pg/dL'",
            id="unknown-range-unit",
        ),
    ],
)
def test_a_bad_observation_is_reported_at_its_path(changes: dict[str, Any], path: str, message: str) -> None:
    problems = rejected(fake_store(), bundle_of(b12_observation(**changes)))
    assert [p.path for p in problems] == [f"entry[0].resource.{path}"]
    assert message in problems[0].message


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        pytest.param(
            {
                "dosage": {
                    "route": {"coding": [{"system": fhir.SNOMED_SYSTEM, "code": "34206005"}]},
                    "dose": {"value": 1, "system": fhir.UCUM_SYSTEM, "code": "mg"},
                }
            },
            "dosage.route.coding[0].code",
            "is the subcutaneous route: b12 tracks intramuscular, oral and nasal doses only",
            id="subcutaneous",
        ),
        pytest.param(
            {"dosage": {"route": {"text": "IM"}, "dose": {"value": 1, "system": fhir.UCUM_SYSTEM, "code": "mg"}}},
            "dosage.route",
            "does not read routes from text",
            id="route-as-text",
        ),
        pytest.param(
            {
                "dosage": {
                    "route": {"coding": [{"system": fhir.SNOMED_SYSTEM, "code": "78421000"}]},
                    "dose": {"value": 1, "system": fhir.UCUM_SYSTEM, "code": "mL"},
                }
            },
            "dosage.dose.code",
            "a dose is a weight",
            id="dose-in-ml",
        ),
        pytest.param(
            {"dosage": {"route": {"coding": [{"system": fhir.SNOMED_SYSTEM, "code": "78421000"}]}}},
            "dosage.dose",
            "no dose",
            id="no-dose",
        ),
        pytest.param(
            {"medicationCodeableConcept": {"text": "Methylcobalamin 1 mg/mL"}},
            "medicationCodeableConcept",
            "does not name hydroxocobalamin or cyanocobalamin",
            id="unknown-product",
        ),
        pytest.param({"effectiveDateTime": "2025-01-13"}, "effectiveDateTime", "has no time", id="date-only"),
        pytest.param({"status": "stopped"}, "status", "enter this one by hand", id="stopped"),
        pytest.param(
            {"note": [{"text": "Batch AB123, exp 03/26"}]},
            "note",
            "cannot read the expiry '03/26'",
            id="expiry-not-iso",
        ),
        pytest.param(
            {"request": {"reference": "MedicationRequest/elsewhere"}},
            "request",
            "MedicationRequest/elsewhere is not a course of patient 'example'",
            id="unknown-request",
        ),
    ],
)
def test_a_bad_administration_is_reported_at_its_path(changes: dict[str, Any], path: str, message: str) -> None:
    problems = rejected(fake_store(), bundle_of(administration(**changes)))
    assert [p.path for p in problems] == [f"entry[0].resource.{path}"]
    assert message in problems[0].message


def test_a_dose_attaches_to_the_course_its_request_names_without_being_told() -> None:
    uow = fake_store(make_course("c-a"), make_course("c-b"))
    import_text(uow, bundle_of(administration(request={"reference": "MedicationRequest/c-b"})))
    assert [d.course_id for d in facts_of(uow, "c-b")[1]] == ["c-b"]
    assert facts_of(uow, "c-a")[1] == []


def test_a_dose_whose_request_names_another_course_than_the_one_given_is_refused() -> None:
    uow = fake_store(make_course("c-a"), make_course("c-b"))
    problems = rejected(uow, bundle_of(administration(request={"reference": "MedicationRequest/c-b"})), course_id="c-a")
    assert [p.path for p in problems] == ["entry[0].resource.request.reference"]


def test_an_administration_entered_in_error_is_skipped_and_a_contained_medication_gives_batch_and_expiry() -> None:
    given = administration(
        id="given",
        contained=[
            {
                "resourceType": "Medication",
                "id": "m",
                "code": {"text": "Cyanocobalamin 1000 mcg/mL"},
                "batch": {"lotNumber": "CY-1", "expirationDate": "2026-11"},
            }
        ],
        medicationCodeableConcept=None,
        medicationReference={"reference": "#m"},
        performer=[{"actor": {"reference": "Practitioner/nurse-7", "display": "Nurse Jones"}}],
        note=[{"text": "Reaction: sore arm"}, {"text": "patient well"}],
    )
    uow = fake_store()
    summary = import_text(uow, bundle_of(administration(id="wrong", status="entered-in-error"), given))
    assert summary.skipped == (Problem("entry[0].resource", "status 'entered-in-error': not a dose given"),)
    (stored,) = facts_of(uow)[1]
    assert (stored.product, stored.batch, stored.expiry) == (Product.CYANOCOBALAMIN, "CY-1", date(2026, 11, 30))
    assert (stored.given_by, stored.reaction, stored.note) == ("Nurse Jones", "sore arm", "patient well")


def test_resources_about_two_patients_are_refused() -> None:
    other = b12_observation(id="other", subject={"reference": "Patient/someone-else"})
    problems = rejected(fake_store(), bundle_of(b12_observation(), other))
    assert [p.path for p in problems] == ["entry[1].resource.subject.reference"]
    assert "a file is imported for one patient" in problems[0].message


def test_two_resources_with_one_id_are_refused() -> None:
    problems = rejected(fake_store(), bundle_of(b12_observation(), b12_observation()))
    assert problems == (Problem("entry[1].resource.id", "'b12-total-2025-01-06' is also the id of entry[0].resource"),)


def test_a_patient_unknown_to_b12_is_refused() -> None:
    problems = rejected(fake_store(), vector("observation-b12.json"), patient_id="nobody")
    assert problems == (Problem("", "there is no patient 'nobody' in b12"),)


def test_a_file_that_is_not_json_is_refused_with_where_it_breaks() -> None:
    problems = rejected(fake_store(), '{"resourceType": "Bundle", "type": ', patient_id=PATIENT)
    assert problems[0].path == ""
    assert problems[0].message.startswith("not valid JSON")


def test_a_document_bundle_is_refused() -> None:
    problems = rejected(fake_store(), bundle_of(b12_observation(), kind="document"))
    assert problems[0].path == "type"


def test_a_transaction_gives_its_facts_the_ids_of_their_full_urls() -> None:
    resource = b12_observation(id=None)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0c3cbb0a-6b8e-4c56-9f8e-1a2b3c4d5e6f",
                "resource": resource,
                "request": {"method": "POST", "url": "Observation"},
            },
            {"request": {"method": "DELETE", "url": "Observation/x"}},
        ],
    }
    problems = rejected(fake_store(), json.dumps(bundle))
    assert problems == (Problem("entry[1].request.method", "b12 only creates facts from a transaction (POST or PUT)"),)
    del bundle["entry"][1]
    uow = fake_store()
    import_text(uow, json.dumps(bundle))
    assert [e.id for e in facts_of(uow)[0]] == ["0c3cbb0a-6b8e-4c56-9f8e-1a2b3c4d5e6f"]


def test_a_resource_without_an_id_gets_the_same_derived_id_every_time() -> None:
    text = json.dumps(b12_observation(id=None))
    first, second = fake_store(), fake_store()
    import_text(first, text)
    import_text(second, text)
    assert [e.id for e in facts_of(first)[0]] == [e.id for e in facts_of(second)[0]]
    assert len(facts_of(first)[0][0].id) == 32


def test_importing_a_file_twice_writes_its_facts_once() -> None:
    uow = fake_store()
    import_text(uow, vector("observation-b12.json"))
    again = import_text(uow, vector("observation-b12.json"))
    assert (again.labs, again.unchanged) == (0, 1)
    assert len(facts_of(uow)[0]) == 1


def test_a_different_fact_under_a_stored_id_is_refused() -> None:
    uow = fake_store()
    import_text(uow, vector("observation-b12.json"))
    changed = b12_observation(
        valueQuantity={"value": 150, "unit": "pg/mL", "system": fhir.UCUM_SYSTEM, "code": "pg/mL"}
    )
    problems = rejected(uow, json.dumps(changed))
    assert problems == (Problem("id", "b12 already holds a different LabEntry with id 'b12-total-2025-01-06'"),)


def test_every_import_writes_one_audit_entry_in_the_same_commit() -> None:
    uow = fake_store()
    import_text(uow, vector("observations.ndjson"), name="labs.ndjson")
    assert uow.commits == 2  # the seed, then the import
    (entry,) = uow.committed.audit
    assert (entry.action, entry.entity_id, entry.at) == ("fhir.import", PATIENT, NOW)
    assert entry.detail == {"source": "labs.ndjson", "labs": 4, "doses": 0, "unchanged": 0, "skipped": 1}


def test_facts_from_fhir_is_a_pure_mapping_of_a_parsed_file() -> None:
    file = fhir.read_fhir(vector("observations.ndjson"), name="labs.ndjson")
    assert [item.path for item in file.items] == ["line[1]", "line[2]", "line[4]", "line[5]", "line[6]"]
    facts = fhir.facts_from_fhir(file, fhir.ImportTarget(PATIENT))
    assert [e.id for e in facts.labs] == ["nd-1", "nd-2", "nd-3", "nd-4"]
    assert facts.origins["nd-3"] == "line[4]"


# --- the SQL store ------------------------------------------------------------------------------------------


@contextmanager
def sql_store(url: str) -> Iterator[Callable[[], UnitOfWork]]:
    """The real SQL unit of work on a migrated SQLite file, seeded like the fakes.

    The port's attributes are mutable, so mypy matches SqlUnitOfWork to it only through a cast (as the web
    app's composition root does)."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = unit_of_work_factory(engine)
        seed(cast(UnitOfWork, factory()))
        yield lambda: cast(UnitOfWork, factory())
    finally:
        engine.dispose()


@pytest.fixture
def sql_uow(tmp_path: Path) -> Iterator[Callable[[], UnitOfWork]]:
    with sql_store("sqlite:///" + str(tmp_path / "fhir.sqlite3")) as factory:
        yield factory


def test_the_sql_store_imports_exports_and_reimports_identically(sql_uow: Callable[[], UnitOfWork]) -> None:
    import_text(sql_uow(), vector("observation-b12.json"))
    import_text(sql_uow(), vector("medicationadministration.json"), course_id=COURSE)
    import_text(sql_uow(), json.dumps(generated_observations(50)))
    first = fhir.export_course(sql_uow(), COURSE, today=TODAY)
    assert len(resources(first, "Observation")) == 51
    fresh = fake_store()
    import_text(fresh, fhir.dumps(first))
    assert facts_of(fresh) == facts_of(sql_uow())
    again = import_text(sql_uow(), fhir.dumps(first))
    assert (again.labs, again.doses, again.unchanged) == (0, 0, 52)
    assert fhir.export_course(sql_uow(), COURSE, today=TODAY) == first


def test_a_rejected_file_leaves_the_sql_store_unchanged(sql_uow: Callable[[], UnitOfWork]) -> None:
    import_text(sql_uow(), vector("observation-b12.json"))
    before = facts_of(sql_uow())
    with sql_uow() as uow:
        audit_before = len(uow.audit.entries())
    with pytest.raises(FhirImportError) as caught:
        import_text(sql_uow(), vector("bundle-three-bad-entries.json"))
    assert len(caught.value.problems) == 3
    assert facts_of(sql_uow()) == before
    with sql_uow() as uow:
        assert len(uow.audit.entries()) == audit_before


def test_a_store_refusal_midway_rolls_back_every_fact_of_the_file(sql_uow: Callable[[], UnitOfWork]) -> None:
    """A lab id already used by another patient's result passes the patient's own checks; the store refuses
    it and nothing of the file remains."""
    with sql_uow() as uow:
        uow.accounts.add_patient(PatientRecord(id="other", name="Other", sex=Sex.MALE, created_at=T0))
        uow.tracking.add_lab(dataclasses.replace(lab("taken-id", Analyte.MCV, 90, "fL"), patient_id="other"))
        uow.commit()
    clash = b12_observation(id="taken-id")
    with pytest.raises(FhirImportError) as caught:
        import_text(sql_uow(), bundle_of(b12_observation(id="fine"), clash))
    assert caught.value.problems[0].path == "entry[1].resource.id"
    assert caught.value.problems[0].message.startswith("could not be stored")
    assert facts_of(sql_uow()) == ([], [])


# --- the command line -----------------------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """b12 (test app)."""

    register(app)
    return app


def test_the_cli_imports_a_file_then_exports_the_course(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "cli.sqlite3")
    with sql_store(url):
        pass
    runner = CliRunner()
    imported = runner.invoke(cli(), ["fhir", "import", str(VECTORS / "observations.ndjson"), "--database", url])
    assert imported.exit_code == 0, imported.output
    assert "Imported 4 lab results and 0 doses for patient example" in imported.stdout
    assert "skipped line[6]: status 'preliminary'" in imported.stdout
    out = tmp_path / "course.json"
    exported = runner.invoke(
        cli(), ["fhir", "export", COURSE, "--database", url, "--out", str(out), "--as-of", "2025-03-01"]
    )
    assert exported.exit_code == 0, exported.output
    bundle = json.loads(out.read_text(encoding="utf-8"))
    assert [e["resource"]["resourceType"] for e in bundle["entry"]][:2] == ["MedicationRequest", "CarePlan"]
    assert len(resources(bundle, "Observation")) == 4
    printed = runner.invoke(cli(), ["fhir", "export", COURSE, "--database", url, "--as-of", "2025-03-01"])
    assert json.loads(printed.stdout) == bundle


def test_the_cli_lists_every_problem_of_a_rejected_file_and_exits_2(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "cli.sqlite3")
    with sql_store(url):
        pass
    bad = VECTORS / "bundle-three-bad-entries.json"
    result = CliRunner().invoke(cli(), ["fhir", "import", str(bad), "--database", url])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"b12: {bad}: 3 problems, nothing imported"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "entry[1].resource.code.coding[0].code",
        "entry[3].resource.valueQuantity.unit",
        "entry[4].resource.valueQuantity.value",
    ]
    missing = CliRunner().invoke(cli(), ["fhir", "export", "nope", "--database", url])
    assert missing.exit_code == 2
    assert missing.stderr == "b12: cannot export course nope: there is no course 'nope'\n"


def test_decimal_values_keep_their_printed_digits() -> None:
    assert fhir.observation(lab("x", Analyte.MMA, 0.1, "µmol/L"))["valueQuantity"]["value"] == Decimal("0.1")


def test_a_relative_and_an_absolute_reference_to_one_patient_are_the_same_subject() -> None:
    absolute = b12_observation(id="absolute", subject={"reference": "https://ehr.example.org/fhir/Patient/example"})
    uow = fake_store()
    summary = import_text(uow, bundle_of(b12_observation(), absolute))
    assert summary.labs == 2


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        pytest.param(b"\xff\xfe{}", "x.json", [("", "not UTF-8 text")], id="not-utf8"),
        pytest.param("[]", "x.json", [("", "not a FHIR resource")], id="json-array"),
        pytest.param('{"id": "x"}', "x.json", [("resourceType", "missing")], id="no-resource-type"),
        pytest.param('{"resourceType": "Bundle"}', "x.json", [("type", "required, and missing")], id="no-type"),
        pytest.param(
            '{"resourceType": "Bundle", "type": "bag"}',
            "x.json",
            [("type", "'bag' is not a code")],
            id="type-not-a-code",
        ),
        pytest.param(
            '{"resourceType": "Bundle", "type": "collection", "entry": {}}',
            "x.json",
            [("entry", "must be a list")],
            id="entry-not-a-list",
        ),
        pytest.param(
            '{"resourceType": "Bundle", "type": "collection", "entry": [1]}',
            "x.json",
            [("entry[0]", "must be a JSON object")],
            id="entry-not-an-object",
        ),
        pytest.param(
            '{"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "FETCH"}}]}',
            "x.json",
            [("entry[0].request.method", "'FETCH' is not a code")],
            id="method-not-a-code",
        ),
        pytest.param(
            '{"resourceType": "Bundle", "type": "searchset", "entry": [{"search": {"mode": "best"}}]}',
            "x.json",
            [("entry[0].search.mode", "'best' is not a code")],
            id="mode-not-a-code",
        ),
        pytest.param(
            '{"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "urn:x"}]}',
            "x.json",
            [("entry[0].resource", "an entry must hold a resource")],
            id="entry-without-resource",
        ),
        pytest.param(
            '{"resourceType": "Observation"}\n{"resourceType": ',
            "x.ndjson",
            [("line[2]", "not valid JSON")],
            id="ndjson-bad-line",
        ),
        pytest.param(
            '{"resourceType": "Observation"}\n[1]\n',
            "x.ndjson",
            [("line[2]", "not a FHIR resource")],
            id="ndjson-not-a-resource",
        ),
        pytest.param("\n\n", "x.ndjson", [("", "no resources in the file")], id="ndjson-empty"),
    ],
)
def test_a_file_that_cannot_be_read_is_reported_at_its_path(
    text: str | bytes, name: str, expected: list[tuple[str, str]]
) -> None:
    problems = fhir.read_fhir(text, name=name).problems
    assert [p.path for p in problems] == [path for path, _ in expected]
    for problem, (_, message) in zip(problems, expected, strict=True):
        assert message in problem.message


def test_a_search_outcome_and_a_panel_are_skipped_and_components_are_refused() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational"}]}
    panel = b12_observation(
        id="panel",
        code={"coding": [{"system": fhir.LOINC_SYSTEM, "code": fhir.CBC_PANEL_LOINC}]},
        valueQuantity=None,
        hasMember=[{"reference": "Observation/b12-total-2025-01-06"}],
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": b12_observation(), "search": {"mode": "match"}},
            {"resource": panel, "search": {"mode": "include"}},
            {"resource": outcome, "search": {"mode": "outcome"}},
        ],
    }
    summary = import_text(fake_store(), json.dumps(bundle))
    assert summary.labs == 1
    assert [p.path for p in summary.skipped] == ["entry[2]", "entry[1].resource"]
    component = b12_observation(valueQuantity=None, component=[{"code": {"text": "x"}, "valueString": "y"}])
    problems = rejected(fake_store(), json.dumps(component))
    assert [p.path for p in problems] == ["component"]
    absent = b12_observation(valueQuantity=None, dataAbsentReason={"text": "sample haemolysed"})
    assert rejected(fake_store(), json.dumps(absent)) == (
        Problem("valueQuantity", "no value (sample haemolysed): a result needs one"),
    )
