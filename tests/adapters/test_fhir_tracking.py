"""FHIR R4 for doses skipped and reactions (``b12.adapters.fhir``): a :class:`DoseSkipped` is a
MedicationAdministration ``not-done``, a :class:`Reaction` an AdverseEvent whose suspect is the dose; both ways,
with round trips. Builders and stores come from ``test_fhir``.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta, timezone
from operator import attrgetter
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from test_fhir import (
    COURSE,
    NOW,
    PATIENT,
    TODAY,
    administration,
    b12_observation,
    bundle_of,
    dose,
    fake_store,
    import_text,
    lab,
    make_course,
    rejected,
    resources,
    sql_store,
)

from b12.adapters import fhir
from b12.adapters.fhir import Problem
from b12.domain.accounts import PatientRecord
from b12.domain.analytes import Analyte
from b12.domain.case import Sex
from b12.domain.tracking import DoseGiven, DoseSkipped, Reaction
from b12.ports import UnitOfWork

LONDON = timezone(timedelta(hours=1))


def tracked(uow: UnitOfWork, course_id: str = COURSE) -> tuple[list[DoseGiven], list[DoseSkipped], list[Reaction]]:
    with uow:
        history = uow.tracking.history(course_id)
    assert history is not None
    by_id = attrgetter("id")
    return sorted(history.doses, key=by_id), sorted(history.skips, key=by_id), sorted(history.reactions, key=by_id)


def a_course_with_skips_and_reactions(uow: UnitOfWork) -> UnitOfWork:
    """Two doses, two skips (with and without a reason), a mild and a severe reaction, and one lab result."""
    with uow:
        tracking = uow.tracking
        tracking.add_dose(dose("d1", datetime(2025, 1, 8, 10, 0, tzinfo=UTC)))
        tracking.add_dose(dose("d2", datetime(2025, 1, 10, 9, 30, tzinfo=LONDON), batch=None, expiry=None))
        tracking.add_skip(DoseSkipped("s2", COURSE, due=date(2025, 1, 15), at=datetime(2025, 1, 15, 20, 0, tzinfo=UTC)))
        tracking.add_skip(
            DoseSkipped(
                "s1",
                COURSE,
                due=date(2025, 1, 13),
                at=datetime(2025, 1, 12, 18, 0, tzinfo=LONDON),
                reason="away on holiday",
            )
        )
        tracking.add_reaction(Reaction("r2", "d2", datetime(2025, 1, 10, 9, 50, tzinfo=LONDON), "wheezing", True))
        tracking.add_reaction(Reaction("r1", "d1", datetime(2025, 1, 8, 14, 0, tzinfo=UTC), "sore arm, warm"))
        tracking.add_lab(lab("l1", Analyte.B12_TOTAL, 148.0, "pg/mL", lower_limit=180.0))
        uow.commit()
    return uow


def adverse_event(**changes: Any) -> dict[str, Any]:
    """An AdverseEvent as another system may send it: a reaction to the example administration ``b12-dose-3``."""
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": "ae-1",
        "actuality": "actual",
        "event": {"text": "sore arm"},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "date": "2025-01-13T18:00:00+00:00",
        "suspectEntity": [{"instance": {"reference": "MedicationAdministration/b12-dose-3"}}],
    }
    resource.update(changes)
    return {k: v for k, v in resource.items() if v is not None}


def not_done(**changes: Any) -> dict[str, Any]:
    """The example administration as not given: a day alone, a coded reason, no dosage."""
    values: dict[str, Any] = {
        "id": "missed",
        "status": "not-done",
        "statusReason": [{"coding": [{"system": "http://example.org/reasons", "code": "away", "display": "Away"}]}],
        "effectiveDateTime": "2025-01-15",
        "note": None,
        "dosage": None,
    }
    values.update(changes)
    return administration(**values)


# --- export ------------------------------------------------------------------------------------------------


def test_a_course_with_skips_and_reactions_exports_not_done_administrations_and_adverse_events() -> None:
    bundle = fhir.export_course(a_course_with_skips_and_reactions(fake_store()), COURSE, today=TODAY)
    assert [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"][2:]] == [
        ("MedicationAdministration", "d1"),
        ("MedicationAdministration", "d2"),
        ("MedicationAdministration", "s1"),
        ("MedicationAdministration", "s2"),
        ("AdverseEvent", "r1"),
        ("AdverseEvent", "r2"),
        ("Observation", "l1"),
    ]
    skipped = resources(bundle, "MedicationAdministration")[2:]
    assert skipped[0] == {
        "resourceType": "MedicationAdministration",
        "id": "s1",
        "extension": [{"url": fhir.RECORDED_EXTENSION, "valueDateTime": "2025-01-12T18:00:00+01:00"}],
        "status": "not-done",
        "statusReason": [{"text": "away on holiday"}],
        "medicationCodeableConcept": {"text": "Hydroxocobalamin 1 mg/mL"},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": "2025-01-13",
        "request": {"reference": f"MedicationRequest/{COURSE}"},
    }
    assert "statusReason" not in skipped[1]
    assert "dosage" not in skipped[1]
    events = resources(bundle, "AdverseEvent")
    assert events[1] == {
        "resourceType": "AdverseEvent",
        "id": "r2",
        "actuality": "actual",
        "event": {"text": "wheezing"},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "date": "2025-01-10T09:50:00+01:00",
        "severity": {"coding": [{"system": fhir.SEVERITY_SYSTEM, "code": "severe", "display": "Severe"}]},
        "suspectEntity": [{"instance": {"reference": "MedicationAdministration/d2"}}],
    }
    assert "severity" not in events[0]  # not recorded as severe: not known to be mild either
    assert "seriousness" not in events[0]
    for resource in skipped:
        MedicationAdministration.model_validate(resource)
    for resource in events:
        AdverseEvent.model_validate(resource)
    assert fhir.check_codes(bundle) == []


def test_required_adverse_event_codes_outside_their_value_sets_are_found() -> None:
    event = adverse_event(
        actuality="likely",
        severity={"coding": [{"system": fhir.SEVERITY_SYSTEM, "code": "grave"}]},
        outcome={"text": "recovered"},
    )
    AdverseEvent.model_validate(event)  # the models let all three through
    problems = fhir.check_codes(event)
    assert [p.path for p in problems] == ["actuality", "severity.coding[0].code", "outcome"]
    assert "'likely' is not a code of its value set (actual, potential)" in problems[0].message
    assert fhir.check_codes(adverse_event(outcome={"coding": [{"system": fhir.OUTCOME_SYSTEM, "code": "fatal"}]})) == []


# --- round trips --------------------------------------------------------------------------------------------


def test_export_import_export_of_a_course_with_skips_and_reactions_is_identical() -> None:
    first = fhir.export_course(a_course_with_skips_and_reactions(fake_store()), COURSE, today=TODAY)
    second_store = fake_store()
    summary = import_text(second_store, fhir.dumps(first))
    assert (summary.labs, summary.doses, summary.skips, summary.reactions, summary.unchanged) == (1, 2, 2, 2, 0)
    assert fhir.export_course(second_store, COURSE, today=TODAY) == first


def test_import_export_import_of_skips_and_reactions_from_another_system_gives_the_same_facts() -> None:
    """Shapes b12 does not write itself: a day alone and a coded reason, a transaction whose adverse event
    names its administration by ``urn:uuid`` before that administration's entry, a seriousness code."""
    given_url = "urn:uuid:6f1c2f3e-8a4b-4c5d-9e6f-708192a3b4c5"
    event = adverse_event(
        id=None,
        seriousness={"coding": [{"system": fhir.SERIOUSNESS_SYSTEM, "code": "serious"}]},
        suspectEntity=[{"instance": {"reference": given_url}}],
    )
    entries = [
        (None, event),
        (given_url, administration(id=None)),
        (None, not_done()),
    ]
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                **({"fullUrl": url} if url else {}),
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
            for url, resource in entries
        ],
    }
    source = fake_store()
    summary = import_text(source, json.dumps(transaction))
    assert (summary.doses, summary.skips, summary.reactions) == (1, 1, 1)
    doses, skips, reactions = tracked(source)
    assert skips == [
        DoseSkipped("missed", COURSE, due=date(2025, 1, 15), at=datetime(2025, 1, 15, tzinfo=UTC), reason="Away")
    ]
    assert [(r.dose_id, r.description, r.severe) for r in reactions] == [(doses[0].id, "sore arm", True)]
    assert doses[0].id == "6f1c2f3e-8a4b-4c5d-9e6f-708192a3b4c5"
    copied = fake_store()
    import_text(copied, fhir.dumps(fhir.export_course(source, COURSE, today=TODAY)))
    assert tracked(copied) == tracked(source)


def test_importing_skips_and_reactions_twice_counts_them_as_unchanged() -> None:
    text = fhir.dumps(fhir.export_course(a_course_with_skips_and_reactions(fake_store()), COURSE, today=TODAY))
    uow = fake_store()
    import_text(uow, text)
    before = tracked(uow)
    again = import_text(uow, text)
    assert (again.labs, again.doses, again.skips, again.reactions, again.unchanged) == (0, 0, 0, 0, 7)
    assert tracked(uow) == before
    assert [entry.detail for entry in uow.committed.audit] == [
        {"source": "file.json", "labs": 1, "doses": 2, "skips": 2, "reactions": 2, "unchanged": 0, "skipped": 2},
        {"source": "file.json", "labs": 0, "doses": 0, "skips": 0, "reactions": 0, "unchanged": 7, "skipped": 2},
    ]


def test_the_sql_store_writes_reactions_after_their_doses_and_exports_them_again(tmp_path: Path) -> None:
    first = fhir.export_course(a_course_with_skips_and_reactions(fake_store()), COURSE, today=TODAY)
    with sql_store("sqlite:///" + str(tmp_path / "tracking.sqlite3")) as sql_uow:
        summary = import_text(sql_uow(), fhir.dumps(first))
        assert (summary.doses, summary.skips, summary.reactions) == (2, 2, 2)
        stored = tracked(sql_uow())
        copied = fake_store()
        import_text(copied, fhir.dumps(fhir.export_course(sql_uow(), COURSE, today=TODAY)))
    assert tracked(copied) == stored == tracked(a_course_with_skips_and_reactions(fake_store()))


# --- import: doses not given --------------------------------------------------------------------------------


def test_a_not_done_administration_becomes_a_skip_of_the_day_it_was_due_with_its_reason_and_notes() -> None:
    recorded = [{"url": fhir.RECORDED_EXTENSION, "valueDateTime": "2025-01-14T09:00:00+01:00"}]
    resource = not_done(
        statusReason=[{"text": "patient declined"}],
        effectiveDateTime="2025-01-15T10:00:00+01:00",
        extension=recorded,
        note=[{"text": "will come next week"}],
    )
    uow = fake_store()
    summary = import_text(uow, bundle_of(resource))
    assert (summary.doses, summary.skips, summary.skipped) == (0, 1, ())
    assert tracked(uow)[1] == [
        DoseSkipped(
            "missed",
            COURSE,
            due=date(2025, 1, 15),
            at=datetime(2025, 1, 14, 9, 0, tzinfo=LONDON),
            reason="patient declined\nwill come next week",
        )
    ]


def test_a_not_done_administration_without_a_course_is_a_problem_at_its_path() -> None:
    problems = rejected(fake_store(), bundle_of(b12_observation(), not_done(request=None)))
    assert [p.path for p in problems] == ["entry[1].resource.request"]
    assert "no request: give the course these doses belong to" in problems[0].message


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        pytest.param({"effectiveDateTime": "2025-01"}, "effectiveDateTime", "not a full date", id="partial-date"),
        pytest.param(
            {"medicationCodeableConcept": {"text": "Paracetamol 500 mg"}},
            "medicationCodeableConcept",
            "does not name hydroxocobalamin or cyanocobalamin",
            id="another-medicine",
        ),
        pytest.param(
            {"effectiveDateTime": "2025-03-09"}, "effectiveDateTime", "is in the future", id="not-given-after-today"
        ),
    ],
)
def test_a_bad_not_done_administration_is_reported_at_its_path(
    changes: dict[str, Any], path: str, message: str
) -> None:
    problems = rejected(fake_store(), bundle_of(not_done(**changes)))
    assert [p.path for p in problems] == [f"entry[0].resource.{path}"]
    assert message in problems[0].message


def test_an_administration_entered_in_error_is_still_skipped() -> None:
    uow = fake_store()
    summary = import_text(uow, bundle_of(not_done(status="entered-in-error")))
    assert summary.skipped == (Problem("entry[0].resource", "status 'entered-in-error': not a dose given"),)
    assert (summary.doses, summary.skips) == (0, 0)
    assert tracked(uow) == ([], [], [])
    assert uow.commits == 1  # the seed only


# --- import: adverse events ---------------------------------------------------------------------------------


def test_an_adverse_event_naming_a_stored_dose_becomes_a_severe_reaction_to_it() -> None:
    uow = fake_store()
    import_text(uow, bundle_of(administration()))
    severe = {
        "coding": [
            {"system": "http://snomed.info/sct", "code": "24484000"},
            {"system": fhir.SEVERITY_SYSTEM, "code": "severe"},
        ]
    }
    summary = import_text(uow, bundle_of(adverse_event(severity=severe)))
    assert (summary.doses, summary.reactions) == (0, 1)
    assert tracked(uow)[2] == [
        Reaction("ae-1", "b12-dose-3", datetime(2025, 1, 13, 18, 0, tzinfo=UTC), "sore arm", severe=True)
    ]


def test_an_adverse_event_about_another_patient_is_refused() -> None:
    other = adverse_event(subject={"reference": "Patient/someone-else"})
    problems = rejected(fake_store(), bundle_of(administration(), other))
    assert [p.path for p in problems] == ["entry[1].resource.subject.reference"]
    assert "a file is imported for one patient" in problems[0].message


def test_an_adverse_event_naming_a_dose_of_another_patient_is_refused() -> None:
    uow = fake_store()
    with uow:
        uow.accounts.add_patient(PatientRecord(id="other", name="Other", sex=Sex.MALE, created_at=NOW))
        uow.tracking.add_course(dataclasses.replace(make_course("theirs"), patient_id="other"))
        uow.tracking.add_dose(dose("not-yours", datetime(2025, 1, 8, 10, 0, tzinfo=UTC), course_id="theirs"))
        uow.commit()
    event = adverse_event(suspectEntity=[{"instance": {"reference": "MedicationAdministration/not-yours"}}])
    problems = rejected(uow, bundle_of(event))
    assert [p.path for p in problems] == ["entry[0].resource.suspectEntity[0].instance.reference"]
    assert "nor a dose of patient 'example' in b12" in problems[0].message


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        pytest.param(
            {"suspectEntity": [{"instance": {"reference": "MedicationAdministration/missed"}}]},
            "suspectEntity[0].instance.reference",
            "is a dose not given (status 'not-done', entry[0].resource)",
            id="names-a-skip",
        ),
        pytest.param(
            {"date": "2025-01-12T23:00:00+00:00"}, "date", "is before the dose it names", id="before-its-dose"
        ),
        pytest.param({"date": "2025-01-13"}, "date", "has no time", id="a-day-alone"),
        pytest.param({"event": {"coding": [{"code": "x"}]}}, "event.text", "no description", id="no-description"),
        pytest.param(
            {
                "suspectEntity": [
                    {"instance": {"reference": "MedicationAdministration/b12-dose-3"}},
                    {"instance": {"reference": "MedicationAdministration/b12-dose-3"}},
                ]
            },
            "suspectEntity",
            "names 2 administrations",
            id="two-doses",
        ),
    ],
)
def test_a_bad_adverse_event_is_reported_at_its_path(changes: dict[str, Any], path: str, message: str) -> None:
    problems = rejected(fake_store(), bundle_of(not_done(), administration(), adverse_event(**changes)))
    assert [p.path for p in problems] == [f"entry[2].resource.{path}"]
    assert message in problems[0].message


def test_an_adverse_event_that_names_no_dose_or_did_not_happen_is_skipped_with_why() -> None:
    uow = fake_store()
    no_dose = adverse_event(id="no-dose", suspectEntity=[{"instance": {"reference": "Medication/penicillin"}}])
    potential = adverse_event(id="near-miss", actuality="potential")
    summary = import_text(uow, bundle_of(administration(), no_dose, potential))
    assert (summary.doses, summary.reactions) == (1, 0)
    assert [(p.path, p.message.split(":")[0]) for p in summary.skipped] == [
        ("entry[2].resource", "actuality 'potential'"),
        ("entry[1].resource", "names no dose (suspectEntity.instance -> a MedicationAdministration)"),
    ]


def test_facts_from_fhir_reads_an_adverse_event_before_the_administration_it_names() -> None:
    file = fhir.read_fhir(bundle_of(adverse_event(), administration()))
    target = fhir.ImportTarget(PATIENT, courses=(), course_id=None, today=NOW.date())
    with pytest.raises(fhir.FhirImportError) as caught:  # no course to attach the dose to
        fhir.facts_from_fhir(file, target)
    assert [p.path for p in caught.value.problems] == ["entry[1].resource.request"]
    facts = fhir.facts_from_fhir(file, fhir.ImportTarget(PATIENT, courses=(make_course(),), today=NOW.date()))
    assert [(r.id, r.dose_id) for r in facts.reactions] == [("ae-1", "b12-dose-3")]
    assert facts.origins["ae-1"] == "entry[0].resource"
