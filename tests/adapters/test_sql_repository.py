"""The SQL adapter on SQLite and PostgreSQL: facts round trip, queries, transactions, the audit guard, tokens."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from b12.adapters.sql import codec
from b12.adapters.sql.db import database_url, default_sqlite_url, make_engine
from b12.adapters.sql.migrations import downgrade, upgrade
from b12.adapters.sql.models import Base
from b12.adapters.sql.repository import SqlUnitOfWork
from b12.domain.accounts import Account, AuditEntry, PatientRecord, Role
from b12.domain.analytes import Analyte
from b12.domain.case import Route, Sex
from b12.domain.guidelines import load_guideline
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

UowFactory = Callable[[], SqlUnitOfWork]

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
START = date(2026, 3, 2)
GUIDELINES = ("uk", "us-label", "us-practice")
ALL_REGIMENS = [
    pytest.param(guideline_id, regimen_id, id=regimen_id)
    for guideline_id in GUIDELINES
    for regimen_id in load_guideline(guideline_id).regimens
]


def fields(value: Any) -> dict[str, Any]:
    """Every field of a dataclass: entities compare by id, so round trips compare these instead."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def clinician(account_id: str = "clin-1", email: str = "dr.who@example.org") -> Account:
    return Account(
        id=account_id,
        email=email,
        name="Dr Who",
        role=Role.CLINICIAN,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        created_at=T0,
    )


def patient(patient_id: str = "pat-1", name: str = "Ada", clinician_id: str | None = "clin-1") -> PatientRecord:
    return PatientRecord(
        id=patient_id,
        name=name,
        sex=Sex.FEMALE,
        created_at=T0,
        birth_date=date(1961, 7, 14),
        clinician_id=clinician_id,
        pregnant=False,
        breastfeeding=True,
    )


def course(
    course_id: str = "course-1",
    patient_id: str = "pat-1",
    *,
    guideline_id: str = "uk",
    regimen_id: str = "UK-IM-NN",
    start: date = START,
) -> Course:
    guideline = load_guideline(guideline_id)
    regimen = guideline.regimens[regimen_id]
    return Course(
        id=course_id,
        patient_id=patient_id,
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
        sites=("left deltoid", "right deltoid"),
        source_text="1 mg/mL, inject 1 mL IM three times a week for 2 weeks",
        review_months=1,
        anaemia=True,
        potassium_first_48h=True,
    )


def dose(dose_id: str, at: datetime, course_id: str = "course-1") -> DoseGiven:
    return DoseGiven(
        id=dose_id,
        course_id=course_id,
        at=at,
        dose_mg=1.0,
        product=Product.HYDROXOCOBALAMIN,
        route=Route.IM,
        given_by="practice nurse",
        site="left deltoid",
        batch="B-2291",
        expiry=date(2027, 8, 31),
        reaction="slight redness",
        note="first dose",
    )


def facts() -> dict[str, Any]:
    """One of every fact for course-1 of pat-1."""
    return {
        "doses": (dose("dose-1", T0),),
        "skips": (DoseSkipped("skip-1", "course-1", due=date(2026, 3, 4), at=T0 + timedelta(days=2), reason="ill"),),
        "amendments": (
            Amendment(
                "amend-1",
                "course-1",
                at=T0 + timedelta(days=20),
                by="clin-1",
                kind=AmendmentKind.SET_MAINTENANCE_INTERVAL,
                effective=date(2026, 4, 1),
                reason="symptoms return before the next dose",
                params={"months": 2, "note": ["BNF", "V30"]},
            ),
        ),
        "symptoms": (
            SymptomEntry(
                "sym-1",
                "pat-1",
                at=T0 + timedelta(hours=2),
                scores={TrackedSymptom.FATIGUE: 7, TrackedSymptom.PARAESTHESIA: 0},
                note="tired",
            ),
        ),
        "reactions": (Reaction("react-1", "dose-1", at=T0 + timedelta(hours=1), description="itch", severe=False),),
        "labs": (
            LabEntry(
                "lab-1",
                "pat-1",
                taken=date(2026, 2, 20),
                analyte=Analyte.B12_TOTAL,
                value=150.0,
                unit="ng/L",
                normalised_value=110.67,
                normalised_unit="pmol/L",
                upper_limit=None,
                lower_limit=197.0,
            ),
        ),
    }


def seed(new_uow: UowFactory, *courses: Course) -> None:
    with new_uow() as uow:
        uow.accounts.add_account(clinician())
        uow.accounts.add_patient(patient())
        for each in courses:
            uow.tracking.add_course(each)
        uow.commit()


def record(uow: SqlUnitOfWork, history: dict[str, Any]) -> None:
    for each in history.get("doses", ()):
        uow.tracking.add_dose(each)
    for each in history.get("skips", ()):
        uow.tracking.add_skip(each)
    for each in history.get("amendments", ()):
        uow.tracking.add_amendment(each)
    for each in history.get("symptoms", ()):
        uow.tracking.add_symptoms(each)
    for each in history.get("reactions", ()):
        uow.tracking.add_reaction(each)
    for each in history.get("labs", ()):
        uow.tracking.add_lab(each)


# --- codec (no database) -------------------------------------------------------------------------------


@pytest.mark.parametrize(("guideline_id", "regimen_id"), ALL_REGIMENS)
def test_every_guideline_phase_round_trips_through_json(guideline_id: str, regimen_id: str) -> None:
    phases = load_guideline(guideline_id).regimens[regimen_id].phases
    assert codec.phases_from_json(codec.phases_to_json(phases)) == phases


def test_a_course_round_trips_through_json_field_for_field() -> None:
    original = course()
    assert fields(codec.course_from_json(codec.course_to_json(original))) == fields(original)


def test_stored_phases_with_an_unknown_key_are_refused_naming_the_phase() -> None:
    stored = codec.phases_to_json(course().phases)
    stored[1]["colour"] = "blue"
    with pytest.raises(codec.StoredDataError, match=r"phases\[1\]: unknown keys colour"):
        codec.phases_from_json(stored)


def test_stored_phases_that_break_a_phase_rule_are_refused() -> None:
    stored = codec.phases_to_json(course().phases)
    stored[0]["dose_mg"] = 50.0
    with pytest.raises(codec.StoredDataError, match=r"phases\[0\]: .*outside the label range"):
        codec.phases_from_json(stored)


# --- configuration (no database) -----------------------------------------------------------------------


def test_the_database_url_is_the_explicit_one_then_the_environment_then_sqlite_in_the_data_folder(
    tmp_path: Any,
) -> None:
    env = {"B12_DATABASE_URL": "postgresql+psycopg://u@h/db", "B12_DATA_DIR": str(tmp_path)}
    assert database_url("sqlite:////x.sqlite3", environ=env) == "sqlite:////x.sqlite3"
    assert database_url(environ=env) == "postgresql+psycopg://u@h/db"
    assert database_url(environ={"B12_DATA_DIR": str(tmp_path)}) == f"sqlite:///{tmp_path}/b12.sqlite3"
    assert default_sqlite_url(environ={}).endswith("/data/b12.sqlite3")


def test_making_an_engine_connects_to_nothing(tmp_path: Any) -> None:
    engine = make_engine(default_sqlite_url(tmp_path / "data"))
    assert not (tmp_path / "data" / "b12.sqlite3").exists()
    engine.dispose()


# --- schema --------------------------------------------------------------------------------------------


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_the_migration_downgrades_to_nothing_and_upgrades_again(engine: Engine) -> None:
    downgrade(engine, "base")
    with engine.connect() as connection:
        assert {name for (name,) in _tables(connection)} <= {"alembic_version"}
    upgrade(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def _tables(connection: Any) -> Any:
    if connection.dialect.name == "sqlite":
        return connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
    return connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


# --- tracking ------------------------------------------------------------------------------------------


def test_a_course_round_trips_with_its_phases_field_for_field(new_uow: UowFactory) -> None:
    original = course()
    seed(new_uow, original)
    with new_uow() as uow:
        stored = uow.tracking.course("course-1")
    assert stored is not None
    assert fields(stored) == fields(original)
    assert stored.phases == original.phases


@pytest.mark.parametrize(
    ("guideline_id", "regimen_id"),
    [pytest.param("us-label", "US-FDA-CN", id="US-FDA-CN"), pytest.param("uk", "UK-TA-LEBER", id="UK-TA-LEBER")],
)
def test_courses_of_other_guidelines_round_trip_too(new_uow: UowFactory, guideline_id: str, regimen_id: str) -> None:
    original = course(guideline_id=guideline_id, regimen_id=regimen_id)
    seed(new_uow, original)
    with new_uow() as uow:
        stored = uow.tracking.course("course-1")
    assert stored is not None
    assert fields(stored) == fields(original)


def test_every_fact_round_trips_field_for_field(new_uow: UowFactory) -> None:
    seed(new_uow, course())
    expected = facts()
    with new_uow() as uow:
        record(uow, expected)
        uow.commit()
    with new_uow() as uow:
        history = uow.tracking.history("course-1")
    assert history is not None
    assert fields(history.course) == fields(course())
    assert history == History(course=course(), **expected)
    assert history.labs[0].unit == "ng/L"
    assert history.labs[0].normalised_unit == "pmol/L"


def test_date_times_come_back_aware_in_utc_and_the_same_instant(new_uow: UowFactory) -> None:
    seed(new_uow, course())
    in_paris = datetime(2026, 3, 2, 10, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
    with new_uow() as uow:
        uow.tracking.add_dose(dose("dose-1", in_paris))
        uow.commit()
    with new_uow() as uow:
        history = uow.tracking.history("course-1")
    assert history is not None
    at = history.doses[0].at
    assert at == in_paris
    assert at.utcoffset() == timedelta(0)
    assert at == datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


def test_a_naive_date_time_is_refused_rather_than_guessed(new_uow: UowFactory) -> None:
    seed(new_uow, course())
    with new_uow() as uow, pytest.raises(StatementError, match="naive date-time"):
        uow.tracking.add_dose(dose("dose-1", datetime(2026, 3, 2, 9, 30)))


def test_courses_for_lists_only_that_patients_courses_in_start_order(new_uow: UowFactory) -> None:
    later = course("course-b", start=date(2026, 9, 1))
    earlier = course("course-a", start=date(2026, 1, 5))
    with new_uow() as uow:
        uow.accounts.add_account(clinician())
        uow.accounts.add_patient(patient())
        uow.accounts.add_patient(patient("pat-2", "Grace"))
        uow.tracking.add_course(later)
        uow.tracking.add_course(earlier)
        uow.tracking.add_course(course("course-c", "pat-2"))
        uow.commit()
    with new_uow() as uow:
        assert [c.id for c in uow.tracking.courses_for("pat-1")] == ["course-a", "course-b"]
        assert [c.id for c in uow.tracking.courses_for("pat-2")] == ["course-c"]
        assert uow.tracking.courses_for("nobody") == []


def test_history_lists_facts_in_time_order_whatever_order_they_were_recorded(new_uow: UowFactory) -> None:
    seed(new_uow, course(), course("course-2"))
    days = [T0 + timedelta(days=n) for n in (14, 0, 7)]
    with new_uow() as uow:
        for n, at in enumerate(days):
            uow.tracking.add_dose(dose(f"dose-{n}", at))
        uow.tracking.add_dose(dose("other-course", T0, course_id="course-2"))
        for n, at in enumerate(days):
            uow.tracking.add_reaction(Reaction(f"react-{n}", f"dose-{n}", at=at + timedelta(hours=1), description="x"))
        uow.tracking.add_reaction(Reaction("react-other", "other-course", at=T0, description="x"))
        for n, due in enumerate([date(2026, 3, 20), date(2026, 3, 6)]):
            uow.tracking.add_skip(DoseSkipped(f"skip-{n}", "course-1", due=due, at=T0 + timedelta(days=30)))
        for n, at in enumerate(days):
            uow.tracking.add_symptoms(SymptomEntry(f"sym-{n}", "pat-1", at=at, scores={TrackedSymptom.MOOD: n}))
        for n, taken in enumerate([date(2026, 5, 1), date(2026, 2, 1)]):
            uow.tracking.add_lab(
                LabEntry(f"lab-{n}", "pat-1", taken, Analyte.HEMOGLOBIN, 11.0, "g/dL", 110.0, "g/L"),
            )
        for n, at in enumerate([T0 + timedelta(days=60), T0 + timedelta(days=30)]):
            uow.tracking.add_amendment(
                Amendment(f"amend-{n}", "course-1", at, "clin-1", AmendmentKind.STOP, at.date(), reason="done")
            )
        uow.commit()
    with new_uow() as uow:
        history = uow.tracking.history("course-1")
    assert history is not None
    assert [d.id for d in history.doses] == ["dose-1", "dose-2", "dose-0"]
    assert [r.id for r in history.reactions] == ["react-1", "react-2", "react-0"]
    assert [s.id for s in history.skips] == ["skip-1", "skip-0"]
    assert [s.id for s in history.symptoms] == ["sym-1", "sym-2", "sym-0"]
    assert [lab.id for lab in history.labs] == ["lab-1", "lab-0"]
    assert [a.id for a in history.amendments] == ["amend-1", "amend-0"]


def test_an_unknown_course_has_no_course_and_no_history(new_uow: UowFactory) -> None:
    with new_uow() as uow:
        assert uow.tracking.course("nope") is None
        assert uow.tracking.history("nope") is None


def test_a_dose_for_an_unknown_course_is_refused(new_uow: UowFactory) -> None:
    with new_uow() as uow, pytest.raises(IntegrityError):
        uow.tracking.add_dose(dose("dose-1", T0, course_id="nope"))


# --- transactions --------------------------------------------------------------------------------------


def test_an_exception_inside_the_unit_of_work_leaves_nothing_written(new_uow: UowFactory) -> None:
    def request_that_fails() -> None:
        with new_uow() as uow:
            uow.accounts.add_account(clinician())
            uow.accounts.add_patient(patient())
            uow.tracking.add_course(course())
            uow.tracking.add_dose(dose("dose-1", T0))
            raise RuntimeError("request failed")

    with pytest.raises(RuntimeError, match="request failed"):
        request_that_fails()
    with new_uow() as uow:
        assert uow.tracking.course("course-1") is None
        assert uow.accounts.patient("pat-1") is None
        assert uow.accounts.account("clin-1") is None


def test_a_failing_write_leaves_no_half_written_course(new_uow: UowFactory) -> None:
    seed(new_uow)

    def request_that_fails() -> None:
        with new_uow() as uow:
            uow.tracking.add_course(course())
            uow.tracking.add_dose(dose("dose-1", T0))
            uow.tracking.add_reaction(Reaction("react-1", "no-such-dose", at=T0, description="x"))
            uow.commit()

    with pytest.raises(IntegrityError):
        request_that_fails()
    with new_uow() as uow:
        assert uow.tracking.course("course-1") is None
        assert uow.tracking.courses_for("pat-1") == []


def test_leaving_the_unit_of_work_without_commit_leaves_nothing_written(new_uow: UowFactory) -> None:
    with new_uow() as uow:
        uow.accounts.add_account(clinician())
    with new_uow() as uow:
        assert uow.accounts.account("clin-1") is None


def test_an_explicit_rollback_discards_what_came_after_the_last_commit(new_uow: UowFactory) -> None:
    with new_uow() as uow:
        uow.accounts.add_account(clinician())
        uow.commit()
        uow.accounts.add_patient(patient())
        uow.rollback()
        uow.commit()
    with new_uow() as uow:
        assert uow.accounts.account("clin-1") is not None
        assert uow.accounts.patient("pat-1") is None


def test_a_unit_of_work_is_used_only_inside_a_with_block(new_uow: UowFactory) -> None:
    uow = new_uow()
    with pytest.raises(RuntimeError, match="with"):
        uow.commit()
    with uow, pytest.raises(RuntimeError, match="already open"):
        uow.__enter__()


# --- accounts ------------------------------------------------------------------------------------------


def test_an_account_is_found_by_email_whatever_its_case(new_uow: UowFactory) -> None:
    with new_uow() as uow:
        uow.accounts.add_account(clinician(email="Dr.Who@Example.org"))
        uow.commit()
    with new_uow() as uow:
        found = uow.accounts.account_by_email("  DR.WHO@example.ORG ")
        assert found is not None
        assert fields(found) == fields(clinician(email="dr.who@example.org"))
        assert uow.accounts.account_by_email("someone@example.org") is None


def test_a_second_account_with_the_same_email_in_another_case_is_refused(new_uow: UowFactory) -> None:
    with new_uow() as uow:
        uow.accounts.add_account(clinician())
        uow.commit()
    with new_uow() as uow, pytest.raises(IntegrityError):
        uow.accounts.add_account(clinician("clin-2", email="DR.WHO@example.org"))


def test_a_patients_own_account_round_trips_with_its_patient_id(new_uow: UowFactory) -> None:
    own = Account("acc-pat", "ada@example.org", "Ada", Role.PATIENT, "hash", T0, patient_id="pat-1")
    with new_uow() as uow:
        uow.accounts.add_patient(patient(clinician_id=None))
        uow.accounts.add_account(own)
        uow.commit()
    with new_uow() as uow:
        stored = uow.accounts.account("acc-pat")
    assert stored is not None
    assert fields(stored) == fields(own)


def test_patients_of_lists_only_that_clinicians_patients_by_name(new_uow: UowFactory) -> None:
    with new_uow() as uow:
        uow.accounts.add_account(clinician())
        uow.accounts.add_account(clinician("clin-2", "other@example.org"))
        uow.accounts.add_patient(patient("pat-1", "Zoe"))
        uow.accounts.add_patient(patient("pat-2", "Ada"))
        uow.accounts.add_patient(patient("pat-3", "Bea", clinician_id="clin-2"))
        uow.accounts.add_patient(patient("pat-4", "Cy", clinician_id=None))
        uow.commit()
    with new_uow() as uow:
        mine = uow.accounts.patients_of("clin-1")
        assert [p.name for p in mine] == ["Ada", "Zoe"]
        assert fields(mine[0]) == fields(patient("pat-2", "Ada"))
        assert [p.id for p in uow.accounts.patients_of("clin-2")] == ["pat-3"]


def test_updating_a_patient_replaces_the_stored_record(new_uow: UowFactory) -> None:
    seed(new_uow)
    changed = dataclasses.replace(patient(), name="Ada L.", pregnant=True, clinician_id=None, birth_date=None)
    with new_uow() as uow:
        uow.accounts.update_patient(changed)
        uow.commit()
    with new_uow() as uow:
        stored = uow.accounts.patient("pat-1")
        assert stored is not None
        assert fields(stored) == fields(changed)
        with pytest.raises(LookupError, match="pat-9"):
            uow.accounts.update_patient(patient("pat-9"))


def test_failed_logins_are_counted_per_email_since_a_time(new_uow: UowFactory) -> None:
    with new_uow() as uow:
        for minutes in (1, 5, 9, 30):
            uow.accounts.record_login("Ada@Example.org", T0 - timedelta(minutes=minutes), succeeded=False)
        uow.accounts.record_login("ada@example.org", T0 - timedelta(minutes=2), succeeded=True)
        uow.accounts.record_login("bob@example.org", T0 - timedelta(minutes=1), succeeded=False)
        uow.commit()
    with new_uow() as uow:
        assert uow.accounts.failed_logins_since("ada@example.org", T0 - timedelta(minutes=10)) == 3
        assert uow.accounts.failed_logins_since("ADA@example.org", T0 - timedelta(minutes=5)) == 2
        assert uow.accounts.failed_logins_since("ada@example.org", T0) == 0
        assert uow.accounts.failed_logins_since("nobody@example.org", T0 - timedelta(days=1)) == 0


# --- audit ---------------------------------------------------------------------------------------------


def audit(n: int, entity: str = "course", entity_id: str | None = "course-1") -> AuditEntry:
    return AuditEntry(
        id=f"audit-{n}",
        at=T0 + timedelta(minutes=n),
        actor_id="clin-1" if n else None,
        action=f"{entity}.change",
        entity=entity,
        entity_id=entity_id,
        detail={"n": n, "fields": ["interval"], "reason": "symptoms returned"},
    )


def test_audit_entries_are_appended_and_read_back_newest_first_with_filters(new_uow: UowFactory) -> None:
    entries = [audit(0), audit(1, "dose", "dose-1"), audit(2), audit(3, "course", "course-2"), audit(4, "login", None)]
    with new_uow() as uow:
        for entry in entries:
            uow.audit.append(entry)
        uow.commit()
    with new_uow() as uow:
        assert uow.audit.entries() == entries[::-1]
        assert [e.id for e in uow.audit.entries(entity="course")] == ["audit-3", "audit-2", "audit-0"]
        assert [e.id for e in uow.audit.entries(entity="course", entity_id="course-1")] == ["audit-2", "audit-0"]
        assert [e.id for e in uow.audit.entries(entity_id="dose-1")] == ["audit-1"]
        assert [e.id for e in uow.audit.entries(limit=2)] == ["audit-4", "audit-3"]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET action = 'nothing happened'", "DELETE FROM audit_log"],
    ids=["update", "delete"],
)
def test_audit_rows_cannot_be_updated_or_deleted_even_in_sql(
    new_uow: UowFactory, engine: Engine, statement: str
) -> None:
    with new_uow() as uow:
        uow.audit.append(audit(0))
        uow.commit()
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with new_uow() as uow:
        assert uow.audit.entries() == [audit(0)]


def test_the_audit_log_offers_no_update_or_delete(new_uow: UowFactory) -> None:
    with new_uow() as uow:
        public = {name for name in dir(uow.audit) if not name.startswith("_")}
    assert public == {"append", "entries"}


# --- calendar tokens -----------------------------------------------------------------------------------


def test_calendar_tokens_are_created_looked_up_and_revoked(new_uow: UowFactory) -> None:
    seed(new_uow, course())
    with new_uow() as uow:
        for_course = uow.calendar.create_calendar_token("pat-1", "course-1", T0)
        for_patient = uow.calendar.create_calendar_token("pat-1", None, T0 + timedelta(days=1))
        uow.commit()
    assert len(for_course.token) >= 43
    assert for_course.token != for_patient.token
    assert for_course.active
    with new_uow() as uow:
        assert uow.calendar.calendar_token(for_course.token) == for_course
        assert uow.calendar.calendar_token("guessed") is None
        assert uow.calendar.revoke_calendar_token(for_course.token, T0 + timedelta(days=2))
        assert not uow.calendar.revoke_calendar_token(for_course.token, T0 + timedelta(days=3))
        assert not uow.calendar.revoke_calendar_token("guessed", T0)
        uow.commit()
    with new_uow() as uow:
        assert uow.calendar.calendar_token(for_course.token) is None
        assert uow.calendar.calendar_token(for_patient.token) == for_patient
        listed = uow.calendar.calendar_tokens_for("pat-1")
        assert listed == [dataclasses.replace(for_course, revoked_at=T0 + timedelta(days=2)), for_patient]
        assert uow.calendar.calendar_tokens_for("pat-2") == []


def test_a_calendar_token_for_an_unknown_patient_is_refused(new_uow: UowFactory) -> None:
    with new_uow() as uow, pytest.raises(IntegrityError):
        uow.calendar.create_calendar_token("nobody", None, T0)
