"""Tracking use cases on in-memory fakes: transactions, audit entries, authorisation and field-level refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from b12.domain.access import NotAllowedError
from b12.domain.accounts import Account, PatientRecord, Role
from b12.domain.analytes import Analyte
from b12.domain.case import Case, Cause, LabResult, Patient, Preferences, Route, Sex
from b12.domain.errors import CaseError
from b12.domain.prescription import UnclearPrescriptionError, parse_prescription
from b12.domain.tracking import AmendmentKind, Course, CourseState, PhaseKind
from b12.services import plan_case
from b12.services_tracking import (
    amend_course,
    courses_of_patient,
    create_patient,
    record_dose,
    record_lab,
    record_reaction,
    record_symptoms,
    skip_dose,
    start_course_from_plan,
    start_course_from_prescription,
    status,
)
from fakes import FakeUnitOfWork, FixedClock

START = date(2026, 1, 5)
NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def account(account_id: str, role: Role, patient_id: str | None = None) -> Account:
    return Account(
        id=account_id,
        email=f"{account_id}@example.org",
        name=account_id.title(),
        role=role,
        password_hash="x",
        created_at=NOW - timedelta(days=30),
        patient_id=patient_id,
    )


CLINICIAN = account("clinician", Role.CLINICIAN)
OTHER_CLINICIAN = account("other-clinician", Role.CLINICIAN)
ALICE = account("alice", Role.PATIENT, "patient-alice")
BOB = account("bob", Role.PATIENT, "patient-bob")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    work = FakeUnitOfWork()
    with work:
        for person in (CLINICIAN, OTHER_CLINICIAN, ALICE, BOB):
            work.accounts.add_account(person)
        work.accounts.add_patient(PatientRecord("patient-alice", "Alice", Sex.FEMALE, NOW, clinician_id=CLINICIAN.id))
        work.accounts.add_patient(PatientRecord("patient-bob", "Bob", Sex.MALE, NOW, clinician_id=None))
        work.commit()
    work.commits = 0
    return work


def v01_case(*, pregnant: bool = False, treat: bool | None = None) -> Case:
    """VIGNETTES V01: pernicious anaemia without neurological involvement."""
    return Case(
        guideline="uk",
        start=START,
        patient=Patient(sex=Sex.FEMALE, age=62 if not pregnant else 32, pregnant=pregnant),
        labs=(
            LabResult(Analyte.B12_TOTAL, 150, "ng/L", START),
            LabResult(Analyte.HEMOGLOBIN, 104, "g/L", START),
            LabResult(Analyte.MCV, 108, "fL", START),
        ),
        causes=frozenset({Cause.AUTOIMMUNE_GASTRITIS}),
        preferences=Preferences(treat=treat),
    )


def started(uow: FakeUnitOfWork, clock: FixedClock, **case: bool) -> Course:
    return start_course_from_plan(uow, clock, CLINICIAN, "patient-alice", plan_case(v01_case(**case)))


def audit_actions(uow: FakeUnitOfWork) -> list[str]:
    return [e.action for e in uow.committed.audit]  # in the order appended


# --- creating patients ------------------------------------------------------------------------------------


def test_a_clinician_creates_a_patient_they_look_after_in_one_transaction_with_an_audit_entry(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    patient = create_patient(
        uow, clock, CLINICIAN, "  Nora New ", Sex.FEMALE, birth_date=date(1980, 2, 3), pregnant=True
    )
    assert uow.commits == 1
    assert uow.committed.patients[patient.id] is patient
    assert (patient.name, patient.sex, patient.birth_date, patient.created_at) == (
        "Nora New",
        Sex.FEMALE,
        date(1980, 2, 3),
        NOW,
    )
    assert (patient.clinician_id, patient.pregnant, patient.breastfeeding) == (CLINICIAN.id, True, False)
    [entry] = uow.committed.audit
    assert (entry.actor_id, entry.action, entry.entity, entry.entity_id, entry.at) == (
        CLINICIAN.id,
        "patient.create",
        "patient",
        patient.id,
        NOW,
    )
    assert entry.detail == {"name": "Nora New", "sex": "female", "birth_date": "1980-02-03"}


def test_a_new_patient_is_the_clinician_s_own_and_no_one_else_s(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    patient = create_patient(uow, clock, CLINICIAN, "Nora New", Sex.FEMALE)
    assert courses_of_patient(uow, CLINICIAN, patient.id) == []
    for stranger in (OTHER_CLINICIAN, ALICE):
        with pytest.raises(NotAllowedError):
            courses_of_patient(uow, stranger, patient.id)


def test_a_new_patient_s_audit_detail_can_be_the_caller_s_own(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    patient = create_patient(uow, clock, CLINICIAN, "Nora New", Sex.FEMALE, audit_detail={"source": "api"})
    [entry] = uow.committed.audit
    assert (entry.entity_id, entry.detail) == (patient.id, {"source": "api"})


@pytest.mark.parametrize("actor", [ALICE, BOB], ids=["alice", "bob"])
def test_a_patient_account_cannot_create_a_patient_and_nothing_is_written(
    uow: FakeUnitOfWork, clock: FixedClock, actor: Account
) -> None:
    with pytest.raises(NotAllowedError) as caught:
        create_patient(uow, clock, actor, "Nora New", Sex.FEMALE)
    assert (caught.value.entity, caught.value.entity_id, caught.value.action) == ("patient", "new", "create")
    assert uow.commits == 0
    assert set(uow.committed.patients) == {"patient-alice", "patient-bob"}
    assert uow.committed.audit == []


@pytest.mark.parametrize(
    ("name", "sex", "fields", "field"),
    [
        pytest.param("   ", Sex.FEMALE, {}, "name", id="blank-name"),
        pytest.param("x" * 201, Sex.FEMALE, {}, "name", id="name-too-long"),
        pytest.param("Nora", Sex.FEMALE, {"birth_date": date(2026, 1, 6)}, "birth_date", id="born-tomorrow"),
        pytest.param("Nora", Sex.FEMALE, {"birth_date": date(1899, 12, 31)}, "birth_date", id="born-before-1900"),
        pytest.param("Ned", Sex.MALE, {"pregnant": True}, "pregnant", id="pregnant-male"),
        pytest.param("Ned", Sex.MALE, {"breastfeeding": True}, "breastfeeding", id="breastfeeding-male"),
    ],
)
def test_a_new_patient_that_cannot_be_recorded_is_refused_beside_its_field_and_writes_nothing(
    uow: FakeUnitOfWork, clock: FixedClock, name: str, sex: Sex, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(CaseError) as caught:
        create_patient(uow, clock, CLINICIAN, name, sex, **fields)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert uow.commits == 0
    assert uow.committed.audit == []


def test_a_patient_born_today_or_on_1900_01_01_can_be_recorded(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    for born in (clock.today(), date(1900, 1, 1)):
        assert create_patient(uow, clock, CLINICIAN, "Nora New", Sex.FEMALE, birth_date=born).birth_date == born
    assert audit_actions(uow) == ["patient.create", "patient.create"]


# --- starting courses -------------------------------------------------------------------------------------


def test_a_clinician_starts_a_course_from_a_plan_in_one_transaction_with_an_audit_entry(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    course = started(uow, clock)
    assert uow.commits == 1
    assert uow.committed.courses == {course.id: course}
    [entry] = uow.committed.audit
    assert (entry.actor_id, entry.action, entry.entity, entry.entity_id, entry.at) == (
        CLINICIAN.id,
        "course.create",
        "course",
        course.id,
        NOW,
    )
    assert entry.detail["regimen"] == "UK-IM-NN"


def test_a_course_from_a_plan_keeps_what_the_plan_decided(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    assert (course.guideline, course.regimen_id, course.strength, course.syringe) == (
        "uk",
        "UK-IM-NN",
        "1 mg/mL",
        "U-100",
    )
    assert course.guideline_version
    assert course.start == START
    assert course.lifelong  # autoimmune gastritis is irreversible
    assert course.review_months == 3
    assert course.anaemia  # Hb 104 g/L, MCV 108 fL
    assert course.potassium_first_48h  # SAFE-K fired in the plan
    assert [p.kind for p in course.phases] == [PhaseKind.LOADING, PhaseKind.MAINTENANCE]
    assert course.created_by == CLINICIAN.id


def test_a_pregnant_patient_s_course_is_reviewed_after_one_month(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    assert started(uow, clock, pregnant=True).review_months == 1


@pytest.mark.parametrize(
    ("actor", "patient_id"),
    [
        pytest.param(ALICE, "patient-alice", id="a-patient"),
        pytest.param(OTHER_CLINICIAN, "patient-alice", id="another-clinician"),
        pytest.param(CLINICIAN, "patient-nobody", id="no-such-patient"),
    ],
)
def test_only_the_patient_s_clinician_starts_a_course_from_a_plan(
    uow: FakeUnitOfWork, clock: FixedClock, actor: Account, patient_id: str
) -> None:
    with pytest.raises(NotAllowedError):
        start_course_from_plan(uow, clock, actor, patient_id, plan_case(v01_case()))
    assert uow.commits == 0
    assert uow.committed.courses == {}


def test_a_plan_without_a_schedule_is_refused(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    with pytest.raises(CaseError) as caught:
        start_course_from_plan(uow, clock, CLINICIAN, "patient-alice", plan_case(v01_case(treat=False)))
    assert caught.value.field == "plan"


def test_a_patient_starts_a_course_from_their_prescription_and_sees_the_differences(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    rx = parse_prescription("hydroxocobalamin 1000 mcg/mL: inject 1 mL IM every 4 months for life")
    result = start_course_from_prescription(uow, clock, BOB, "patient-bob", rx, start=START)
    assert result.course.regimen_id is None
    assert result.course.source_text == rx.text
    assert result.course.strength == "1000 mcg/mL"
    assert result.course.lifelong
    assert result.description == "1 mg (1 mL of 1000 mcg/mL) by injection into a muscle every 4 months for life"
    assert [(a.rule, a.severity.value) for a in result.alerts] == [("UK-IM-NN", "warning")]
    assert audit_actions(uow) == ["course.create"]
    assert uow.committed.audit[0].detail["source"] == "prescription"
    now = status(uow, clock, BOB, result.course.id)
    assert "every 4 months" in next(
        a.message for a in now.alerts if a.rule == "UK-IM-NN" and a.severity.value == "warning"
    )


def test_a_prescription_that_follows_a_regimen_is_named_by_it(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    rx = parse_prescription(
        "hydroxocobalamin 1 mg/mL 1 mL IM alternate days until no further improvement then every 2 months"
    )
    result = start_course_from_prescription(uow, clock, CLINICIAN, "patient-alice", rx, start=START)
    assert result.course.regimen_id == "UK-IM-NEURO"
    assert result.alerts == ()


def test_an_unclear_prescription_is_refused_with_all_its_questions(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    rx = parse_prescription("inject 1 mL weekly for 4 weeks then")
    with pytest.raises(UnclearPrescriptionError) as caught:
        start_course_from_prescription(uow, clock, BOB, "patient-bob", rx, start=START)
    assert len(caught.value.questions) >= 3
    assert uow.commits == 0


def test_an_injected_prescription_without_a_strength_is_refused_on_the_strength_field(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    rx = parse_prescription("hydroxocobalamin 1 mg IM every 3 months")
    with pytest.raises(CaseError) as caught:
        start_course_from_prescription(uow, clock, BOB, "patient-bob", rx, start=START)
    assert caught.value.field == "strength"


def test_a_patient_cannot_start_a_course_for_another_patient(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    rx = parse_prescription("hydroxocobalamin 1 mg/mL 1 mL IM every 3 months")
    with pytest.raises(NotAllowedError):
        start_course_from_prescription(uow, clock, BOB, "patient-alice", rx, start=START)


def test_an_unknown_guideline_is_refused_on_its_field(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    rx = parse_prescription("hydroxocobalamin 1 mg/mL 1 mL IM every 3 months")
    with pytest.raises(CaseError) as caught:
        start_course_from_prescription(uow, clock, BOB, "patient-bob", rx, start=START, guideline="fr")
    assert caught.value.field == "guideline"


# --- recording ----------------------------------------------------------------------------------------------


def test_logging_a_dose_in_two_taps_records_the_dose_due_and_moves_the_next_dose(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    course = started(uow, clock)
    before = status(uow, clock, ALICE, course.id)
    assert before.next_dose is not None
    given = record_dose(uow, clock, ALICE, course.id, site=before.suggested_site)
    assert (given.at, given.dose_mg, given.route, given.given_by, given.site) == (
        NOW,
        1.0,
        Route.IM,
        ALICE.id,
        "left deltoid",
    )
    after = status(uow, clock, ALICE, course.id)
    assert after.state is CourseState.ACTIVE
    assert after.next_dose is not None
    assert after.next_dose.due == START + timedelta(days=2)
    assert after.suggested_site == "right deltoid"
    assert audit_actions(uow) == ["course.create", "dose.record"]


def test_a_dose_typed_in_ml_or_units_is_converted_with_the_course_strength(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    course = started(uow, clock)
    assert record_dose(uow, clock, ALICE, course.id, dose="0.5 mL").dose_mg == pytest.approx(0.5)
    assert record_dose(uow, clock, ALICE, course.id, dose="100 units").dose_mg == pytest.approx(1.0)
    assert record_dose(uow, clock, ALICE, course.id, dose=1.0).dose_mg == 1.0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"at": NOW + timedelta(hours=1)}, "at", id="future"),
        pytest.param({"at": datetime(2026, 1, 1, 9, tzinfo=UTC)}, "at", id="before-the-start"),
        pytest.param({"dose": "1000 IU"}, "dose", id="iu"),
        pytest.param({"dose": "two"}, "dose", id="unreadable"),
        pytest.param({"dose": -1.0}, "dose", id="negative"),
        pytest.param({"dose": 1e300}, "dose", id="absurd-number-of-mg"),
        pytest.param({"site": "x" * 101}, "site", id="site-too-long"),
    ],
)
def test_a_bad_dose_is_refused_beside_its_field_and_writes_nothing(
    uow: FakeUnitOfWork, clock: FixedClock, fields: dict[str, object], field: str
) -> None:
    course = started(uow, clock)
    with pytest.raises(CaseError) as caught:
        record_dose(uow, clock, ALICE, course.id, **fields)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert uow.committed.doses == {}
    assert audit_actions(uow) == ["course.create"]


def test_a_naive_time_is_read_in_the_clock_s_time_zone(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    given = record_dose(uow, clock, ALICE, course.id, at=datetime(2026, 1, 5, 8, 0))
    assert given.at == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("course_id", ["someone-else-s", "no-such-course"])
def test_a_course_another_patient_owns_and_a_missing_course_look_the_same(
    uow: FakeUnitOfWork, clock: FixedClock, course_id: str
) -> None:
    course = started(uow, clock)
    target = course.id if course_id == "someone-else-s" else course_id
    with pytest.raises(NotAllowedError) as caught:
        record_dose(uow, clock, BOB, target)
    assert str(caught.value) == f"No course {target!r} that this account may record a dose for"
    with pytest.raises(NotAllowedError):
        status(uow, clock, BOB, target)
    with pytest.raises(NotAllowedError):
        status(uow, clock, OTHER_CLINICIAN, target)


def test_skipping_the_dose_due_moves_the_next_due(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    record_dose(uow, clock, ALICE, course.id)
    clock.advance(days=2)
    skipped = skip_dose(uow, clock, ALICE, course.id, reason="away")
    assert skipped.due == START + timedelta(days=2)
    after = status(uow, clock, ALICE, course.id)
    assert after.next_dose is not None
    assert after.next_dose.due == START + timedelta(days=4)
    assert after.adherence.skipped == 1
    assert audit_actions(uow)[-1] == "dose.skip"


def test_only_the_dose_due_can_be_skipped(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    with pytest.raises(CaseError) as caught:
        skip_dose(uow, clock, ALICE, course.id, due=START + timedelta(days=9))
    assert caught.value.field == "due"


def test_symptoms_are_recorded_for_the_patient_and_flag_new_neurological_ones(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    course = started(uow, clock)
    record_symptoms(uow, clock, ALICE, "patient-alice", {"fatigue": 7, "paraesthesia": 0})
    clock.advance(days=10)
    entry = record_symptoms(uow, clock, ALICE, "patient-alice", {"fatigue": 5, "paraesthesia": 4}, note="tingling")
    assert entry.note == "tingling"
    assert status(uow, clock, ALICE, course.id).alerts[0].rule == "NEURO-URGENT"
    assert audit_actions(uow)[-2:] == ["symptoms.record", "symptoms.record"]


@pytest.mark.parametrize(
    ("scores", "field"),
    [
        pytest.param({"tiredness": 3}, "scores.tiredness", id="unknown-symptom"),
        pytest.param({"fatigue": 11}, "scores.fatigue", id="above-10"),
        pytest.param({"fatigue": 2.5}, "scores.fatigue", id="not-whole"),
        pytest.param({}, "scores", id="empty"),
    ],
)
def test_symptom_scores_are_checked_beside_their_field(
    uow: FakeUnitOfWork, clock: FixedClock, scores: dict[str, int], field: str
) -> None:
    with pytest.raises(CaseError) as caught:
        record_symptoms(uow, clock, ALICE, "patient-alice", scores)
    assert caught.value.field == field
    assert uow.commits == 0


def test_a_lab_is_normalised_and_keeps_the_original_value_and_unit(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    entry = record_lab(uow, clock, CLINICIAN, "patient-alice", "b12_total", 110.7, "pmol/L", taken=START)
    assert (entry.value, entry.unit) == (110.7, "pmol/L")
    assert entry.normalised_unit == "ng/L"
    assert entry.normalised_value == pytest.approx(150, abs=0.1)
    assert audit_actions(uow) == ["lab.record"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"analyte": "vitamin d"}, "analyte", id="analyte"),
        pytest.param({"unit": "furlongs"}, "unit", id="unit"),
        pytest.param({"unit": "pg/mL", "analyte": "mcv"}, "unit", id="wrong-dimension"),
        pytest.param({"value": 0}, "value", id="zero"),
        pytest.param({"taken": START + timedelta(days=1)}, "taken", id="future"),
        pytest.param({"upper_limit": -1.0}, "upper_limit", id="limit"),
    ],
)
def test_a_bad_lab_is_refused_beside_its_field(
    uow: FakeUnitOfWork, clock: FixedClock, fields: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {"analyte": "b12_total", "value": 150, "unit": "ng/L", "taken": START, **fields}
    taken = values.pop("taken")
    with pytest.raises(CaseError) as caught:
        record_lab(uow, clock, CLINICIAN, "patient-alice", taken=taken, **values)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_reaction_is_recorded_against_a_dose_of_the_course_and_flagged(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    course = started(uow, clock)
    given = record_dose(uow, clock, ALICE, course.id)
    clock.advance(hours=5)
    record_reaction(uow, clock, ALICE, course.id, given.id, "itchy rash", severe=False)
    assert "itchy rash" in next(
        a.message for a in status(uow, clock, ALICE, course.id).alerts if a.rule == "SAFE-COBALT"
    )
    with pytest.raises(CaseError) as caught:
        record_reaction(uow, clock, ALICE, course.id, "dose-of-another-course", "rash")
    assert caught.value.field == "dose_id"
    with pytest.raises(CaseError) as caught:
        record_reaction(uow, clock, ALICE, course.id, given.id, "   ")
    assert caught.value.field == "description"


# --- amending ---------------------------------------------------------------------------------------------


def test_a_clinician_shortens_the_maintenance_interval_and_the_status_recomputes(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    course = started(uow, clock)
    for _ in range(6):
        due = status(uow, clock, ALICE, course.id).next_dose
        assert due is not None
        clock.set(datetime.combine(due.due, NOW.timetz()))
        record_dose(uow, clock, ALICE, course.id)
    before = status(uow, clock, CLINICIAN, course.id).next_dose
    assert before is not None
    assert before.due == date(2026, 4, 16)
    amendment = amend_course(
        uow, clock, CLINICIAN, course.id, "set_maintenance_interval", months=2, reason="symptoms return (V30)"
    )
    assert amendment.params == {"months": 2}
    after = status(uow, clock, ALICE, course.id).next_dose
    assert after is not None
    assert after.due == date(2026, 3, 16)
    entry = uow.committed.audit[-1]
    assert (entry.action, entry.detail["kind"], entry.detail["reason"]) == (
        "course.amend",
        "set_maintenance_interval",
        "symptoms return (V30)",
    )


def test_a_patient_cannot_amend_their_own_course(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    with pytest.raises(NotAllowedError):
        amend_course(uow, clock, ALICE, course.id, AmendmentKind.STOP, reason="I feel fine")
    assert audit_actions(uow) == ["course.create"]


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        pytest.param("pause", {}, "kind", id="unknown-kind"),
        pytest.param("stop", {"reason": "  "}, "reason", id="no-reason"),
        pytest.param("set_maintenance_interval", {"months": 0}, "months", id="zero-months"),
        pytest.param("set_maintenance_interval", {"months": 13}, "months", id="too-many-months"),
        pytest.param("set_maintenance_interval", {}, "months", id="no-months"),
        pytest.param("switch_route", {"regimen": "US-STABLER"}, "regimen", id="regimen-of-another-guideline"),
        pytest.param("switch_route", {"regimen": "UK-IM-NN", "phase": "weekly"}, "phase", id="unknown-phase"),
        pytest.param("review", {"effective": date(2025, 12, 1)}, "effective", id="before-the-start"),
    ],
)
def test_a_bad_amendment_is_refused_beside_its_field(
    uow: FakeUnitOfWork, clock: FixedClock, kind: str, fields: dict[str, object], field: str
) -> None:
    course = started(uow, clock)
    values: dict[str, object] = {"reason": "clinical decision", **fields}
    with pytest.raises(CaseError) as caught:
        amend_course(uow, clock, CLINICIAN, course.id, kind, **values)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert audit_actions(uow) == ["course.create"]


def test_ending_loading_is_refused_once_loading_has_ended(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    amend_course(uow, clock, CLINICIAN, course.id, "end_loading", reason="no further improvement")
    assert status(uow, clock, ALICE, course.id).phase is not None
    with pytest.raises(CaseError) as caught:
        amend_course(uow, clock, CLINICIAN, course.id, "end_loading", reason="again")
    assert caught.value.field == "kind"


def test_a_switch_of_route_starts_the_new_regimen(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    amend_course(uow, clock, CLINICIAN, course.id, "switch_route", regimen="UK-ORAL-MAL", reason="prefers tablets")
    result = status(uow, clock, ALICE, course.id)
    assert result.regimen_id == "UK-ORAL-MAL"
    assert result.next_dose is not None
    assert result.next_dose.route is Route.ORAL
    given = record_dose(uow, clock, ALICE, course.id)
    assert given.route is Route.ORAL


def test_a_stopped_course_cannot_be_amended_and_records_doses_as_unscheduled(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    course = started(uow, clock)
    amend_course(uow, clock, CLINICIAN, course.id, "stop", reason="moved to another practice")
    clock.advance(days=1)  # the course ends on the stop's date: a dose that day still counts
    with pytest.raises(CaseError) as caught:
        amend_course(uow, clock, CLINICIAN, course.id, "review", reason="check")
    assert caught.value.field == "kind"
    with pytest.raises(CaseError) as caught:
        record_dose(uow, clock, ALICE, course.id)
    assert caught.value.field == "dose"
    record_dose(uow, clock, ALICE, course.id, dose="1 mg")
    assert status(uow, clock, ALICE, course.id).adherence.unscheduled == 1


def test_a_review_amendment_marks_the_fu_uk_review_done(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    record_dose(uow, clock, ALICE, course.id)
    clock.set(datetime(2026, 4, 1, 9, tzinfo=UTC))
    amend_course(uow, clock, CLINICIAN, course.id, "review", reason="3-month review: improving")
    assert status(uow, clock, ALICE, course.id).reviews[0].done_on == date(2026, 4, 1)


# --- reading and the fakes themselves -----------------------------------------------------------------------


def test_a_patient_sees_only_their_own_courses(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    assert courses_of_patient(uow, ALICE, "patient-alice") == [course]
    assert courses_of_patient(uow, CLINICIAN, "patient-alice") == [course]
    with pytest.raises(NotAllowedError):
        courses_of_patient(uow, BOB, "patient-alice")


def test_the_fake_unit_of_work_discards_what_was_not_committed(uow: FakeUnitOfWork) -> None:
    with uow:
        uow.accounts.add_patient(PatientRecord("patient-carol", "Carol", Sex.FEMALE, NOW))
    assert uow.accounts.patient("patient-carol") is None

    def failing_request() -> None:
        with uow:
            uow.accounts.add_patient(PatientRecord("patient-carol", "Carol", Sex.FEMALE, NOW))
            uow.commit()
            uow.accounts.add_patient(PatientRecord("patient-dan", "Dan", Sex.MALE, NOW))
            raise RuntimeError("request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    assert "patient-carol" in uow.committed.patients
    assert "patient-dan" not in uow.committed.patients


def test_the_fake_audit_log_reads_newest_first_and_filters(uow: FakeUnitOfWork, clock: FixedClock) -> None:
    course = started(uow, clock)
    record_dose(uow, clock, ALICE, course.id)
    with uow:
        assert [e.action for e in uow.audit.entries()] == ["dose.record", "course.create"]
        assert [e.action for e in uow.audit.entries(entity="course", entity_id=course.id)] == ["course.create"]
        assert len(uow.audit.entries(limit=1)) == 1


def test_a_course_by_mouth_records_no_strength_and_a_us_course_keeps_the_fu_uk_review(
    uow: FakeUnitOfWork, clock: FixedClock
) -> None:
    oral = Case(
        guideline="us-practice",
        start=START,
        patient=Patient(sex=Sex.FEMALE, age=70),
        labs=(LabResult(Analyte.B12_TOTAL, 150, "ng/L", START),),
        causes=frozenset({Cause.METFORMIN}),
    )
    course = start_course_from_plan(uow, clock, CLINICIAN, "patient-alice", plan_case(oral))
    assert course.regimen_id == "US-AAFP"
    assert course.strength == ""
    assert course.review_months == 3
    result = status(uow, clock, ALICE, course.id)
    assert result.next_dose is not None
    assert result.next_dose.volume_ml is None
