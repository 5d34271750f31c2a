"""FHIR R4 <-> b12 tracking facts: the one place FHIR lives (models from ``fhir.resources.R4B``).

Import: a Bundle (collection, searchset, transaction or batch), an NDJSON file or a single resource, holding
Observations (lab results), MedicationAdministrations (doses given, and ``not-done``: doses skipped) and
AdverseEvents (reactions to a dose), becomes :class:`LabEntry`, :class:`DoseGiven`, :class:`DoseSkipped` and
:class:`Reaction` facts. Three steps, each usable alone:

- :func:`read_fhir` parses the text and finds the resources with where each one is (``entry[3].resource``,
  ``line[4]``: NDJSON lines are counted from 1, as an editor shows them);
- :func:`facts_from_fhir` maps them to facts for one patient (and their courses) — a pure function;
- :func:`write_facts` writes them through a :class:`~b12.ports.UnitOfWork` in one transaction, with one audit
  entry; facts already stored unchanged (a file imported twice) are counted, not written again.

The import contract:

- Every problem in a file is collected with its path (``entry[17].resource.valueQuantity.unit``), as
  client-py's ``FHIRValidationError`` does, and raised together as :class:`FhirImportError`; a file with any
  problem imports nothing.
- Nothing is guessed. Analytes come from LOINC codes (REFERENCE §7.7, :data:`b12.domain.analytes.LOINC`),
  units from UCUM codes through the one unit vocabulary of :mod:`b12.domain.units` (``Unit.ucum``); a unit
  given only as ``unit`` text must be a spelling of that vocabulary. Routes come from SNOMED CT codes, the
  product from its name. An unknown code, unit, route or product is a problem, never a near match.
- A lab result keeps the value and unit as reported beside the value normalised by
  :func:`~b12.domain.tracking.normalise_lab`; reference limits are kept in the unit of the value.
- Resources that are not facts (a MedicationRequest, a CarePlan, a Patient), results not final,
  administrations entered in error, and adverse events that did not happen or name no dose are skipped and
  listed, not imported.
- A fact's id is the resource id, else the ``urn:uuid`` of its ``fullUrl``, else a UUID derived from the
  patient and the resource's content, so the same file always gives the same ids.

Export: :func:`course_bundle` turns a course's :class:`~b12.domain.tracking.History` into a collection
Bundle of a MedicationRequest (one ``dosageInstruction`` per phase), a CarePlan (the order, plus the review
and blood-test checkpoints that :func:`~b12.domain.tracking.course_status` computes), one
MedicationAdministration per dose given or skipped, one AdverseEvent per reaction and one Observation per lab
result of the patient. fhir.resources
does not check code values (it accepts ``status: "finalized"`` and ``periodUnit: "fortnight"``), so
:func:`check_codes` checks the required bindings before anything leaves. Export -> import -> export gives
the same Bundle; import -> export -> import gives the same facts.

Compromises, documented in ``docs/fhir.md``: FHIR ``periodUnit: mo`` is an averaged month while b12 counts
calendar months, so the dosage ``text`` says "calendar months"; the order carries the value b12 schedules,
not the label's range; b12 has no subcutaneous or intravenous route, so such administrations are refused;
when a dose was recorded as skipped travels in R5's ``recorded`` element, as its R4 cross-version extension.
"""

from __future__ import annotations

import calendar
import functools
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import pydantic
from fhir.resources.R4B import get_fhir_model_class

from b12.domain.accounts import AuditEntry
from b12.domain.analytes import LOINC, Analyte
from b12.domain.case import Route
from b12.domain.errors import B12Error, InternationalUnitError, UnitError
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, Product
from b12.domain.tracking import (
    Checkpoint,
    CheckpointKind,
    Course,
    CourseState,
    CourseStatus,
    DoseGiven,
    DoseSkipped,
    History,
    LabEntry,
    Reaction,
    course_status,
    normalise_lab,
)
from b12.domain.units import Dimension, Quantity, Unit, format_number, known_units, parse_unit
from b12.ports import UnitOfWork

__all__ = [
    "B12_ANALYTE_SYSTEM",
    "LOINC_SYSTEM",
    "NOT_RECORDED",
    "RECORDED_EXTENSION",
    "SEVERITY_SYSTEM",
    "SNOMED_SYSTEM",
    "UCUM_SYSTEM",
    "FhirExportError",
    "FhirFile",
    "FhirImportError",
    "ImportSummary",
    "ImportTarget",
    "ImportedFacts",
    "Item",
    "Problem",
    "adverse_event",
    "care_plan",
    "check_codes",
    "course_bundle",
    "dosage_instruction",
    "dosage_text",
    "dumps",
    "export_course",
    "facts_from_fhir",
    "import_fhir",
    "medication_administration",
    "medication_request",
    "observation",
    "patient_references",
    "read_fhir",
    "skipped_administration",
    "write_facts",
]

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
SNOMED_SYSTEM = "http://snomed.info/sct"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
# b12's own code system for analytes that have no verified LOINC code (active B12, potassium, reticulocytes);
# a local URN until b12 has a canonical URL.
B12_ANALYTE_SYSTEM = "urn:b12:analyte"
# DoseGiven.given_by when an administration names no performer (FHIR: performer is optional).
NOT_RECORDED = "not recorded"
# When a skipped dose was recorded (DoseSkipped.at): R5's MedicationAdministration.recorded, carried in R4 by its
# cross-version extension (HL7 xver-r5.r4 package: "When the MedicationAdministration was first captured in the
# subject's record"). R4 has no element for it.
RECORDED_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-MedicationAdministration.recorded"
SEVERITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
SERIOUSNESS_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
OUTCOME_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"

# --- problems and errors ----------------------------------------------------------------------------------


class Problem(NamedTuple):
    """Where in the file (``entry[17].resource.valueQuantity.unit``; "" for the file itself) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(file)'}: {self.message}"


class FhirImportError(B12Error, ValueError):
    """A file b12 will not import, with every problem found in it; nothing of it was imported."""

    def __init__(self, problems: Iterable[Problem | tuple[str, str]], source: str = "") -> None:
        self.problems: tuple[Problem, ...] = tuple(Problem(*p) for p in problems)
        self.source = source
        count = len(self.problems)
        where = f"{source}: " if source else ""
        super().__init__(
            f"{where}{count} problem{'s' if count != 1 else ''}, nothing imported: "
            + "; ".join(str(p) for p in self.problems)
        )


class FhirExportError(B12Error, ValueError):
    """A course b12 cannot export as valid FHIR (an id FHIR does not allow, a code outside its value set)."""

    def __init__(self, problems: Iterable[Problem | tuple[str, str]], subject: str = "") -> None:
        self.problems: tuple[Problem, ...] = tuple(Problem(*p) for p in problems)
        self.subject = subject
        super().__init__(
            f"cannot export {subject or 'as FHIR'}: "
            + "; ".join(str(p) if p.path else p.message for p in self.problems)
        )


# --- required code values (fhir.resources does not check them) --------------------------------------------

_UNITS_OF_TIME = frozenset({"s", "min", "h", "d", "wk", "mo", "a"})
# Required bindings of FHIR R4 (4.0.1), by path without indices; a nested resource restarts the path.
_CODES: Mapping[str, frozenset[str]] = {
    "Bundle.type": frozenset(
        {
            "document",
            "message",
            "transaction",
            "transaction-response",
            "batch",
            "batch-response",
            "history",
            "searchset",
            "collection",
        }
    ),
    "Bundle.entry.request.method": frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}),
    "Bundle.entry.search.mode": frozenset({"match", "include", "outcome"}),
    "Observation.status": frozenset(
        {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
    ),
    "MedicationAdministration.status": frozenset(
        {"in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped", "unknown"}
    ),
    "MedicationRequest.status": frozenset(
        {"active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"}
    ),
    "MedicationRequest.intent": frozenset(
        {
            "proposal",
            "plan",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    "CarePlan.status": frozenset({"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}),
    "CarePlan.intent": frozenset({"proposal", "plan", "order", "option"}),
    "CarePlan.activity.detail.kind": frozenset(
        {
            "Appointment",
            "CommunicationRequest",
            "DeviceRequest",
            "MedicationRequest",
            "NutritionOrder",
            "Task",
            "ServiceRequest",
            "VisionPrescription",
        }
    ),
    "CarePlan.activity.detail.status": frozenset(
        {
            "not-started",
            "scheduled",
            "in-progress",
            "on-hold",
            "completed",
            "cancelled",
            "stopped",
            "unknown",
            "entered-in-error",
        }
    ),
    "AdverseEvent.actuality": frozenset({"actual", "potential"}),
}
# Required bindings on a CodeableConcept: a coding from the value set's code system must be there, with one of
# its codes (other codings may stand beside it as translations).
_CONCEPT_CODES: Mapping[str, tuple[str, frozenset[str]]] = {
    "AdverseEvent.severity": (SEVERITY_SYSTEM, frozenset({"mild", "moderate", "severe"})),
    "AdverseEvent.outcome": (
        OUTCOME_SYSTEM,
        frozenset({"resolved", "recovering", "ongoing", "resolvedWithSequelae", "fatal", "unknown"}),
    ),
}
# The same bindings wherever the data type occurs (Timing, Quantity, Narrative).
_SUFFIX_CODES: Mapping[str, frozenset[str]] = {
    ".repeat.periodUnit": _UNITS_OF_TIME,
    ".repeat.durationUnit": _UNITS_OF_TIME,
    ".repeat.dayOfWeek": frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"}),
    ".comparator": frozenset({"<", "<=", ">=", ">"}),
    ".text.status": frozenset({"generated", "extensions", "additional", "empty"}),
}


def check_codes(resource: Mapping[str, Any], path: str = "") -> list[Problem]:
    """Every code of ``resource`` (a resource as JSON) outside its required FHIR R4 value set."""
    problems: list[Problem] = []
    _walk_codes(resource, path, "", problems)
    return problems


def _walk_codes(value: Any, path: str, generic: str, problems: list[Problem]) -> None:
    if isinstance(value, Mapping):
        kind = value.get("resourceType")
        if isinstance(kind, str):
            generic = kind
        concept = _CONCEPT_CODES.get(generic)
        if concept is not None:
            _check_concept(value, path, *concept, problems)
        for key, item in value.items():
            _walk_codes(item, _join(path, key), f"{generic}.{key}", problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk_codes(item, f"{path}[{index}]", generic, problems)
    elif isinstance(value, str):
        allowed = _CODES.get(generic)
        if allowed is None:
            allowed = next((codes for suffix, codes in _SUFFIX_CODES.items() if generic.endswith(suffix)), None)
        if allowed is not None and value not in allowed:
            problems.append(_bad_code(path, value, allowed))


def _check_concept(
    concept: Mapping[str, Any], path: str, system: str, allowed: frozenset[str], problems: list[Problem]
) -> None:
    codings = concept.get("coding")
    found = False
    for index, coding in enumerate(codings if isinstance(codings, list) else ()):
        if isinstance(coding, Mapping) and coding.get("system") == system:
            found = True
            if coding.get("code") not in allowed:
                problems.append(_bad_code(f"{path}.coding[{index}].code", coding.get("code"), allowed))
    if not found:
        problems.append(Problem(path, f"no code of {system} ({', '.join(sorted(allowed))}): a required binding"))


def _bad_code(path: str, value: object, allowed: Iterable[str]) -> Problem:
    return Problem(path, f"{value!r} is not a code of its value set ({', '.join(sorted(allowed))})")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# --- vocabularies ---------------------------------------------------------------------------------------

# LOINC code -> analyte, from b12.domain.analytes.LOINC (REFERENCE §7.7): the only LOINC table.
_ANALYTE_BY_LOINC: Mapping[str, Analyte] = {
    code: analyte for analyte, codes in LOINC.items() for code in codes if code is not None
}
_ANALYTE_NAMES: Mapping[Analyte, str] = {
    Analyte.B12_TOTAL: "Total vitamin B12",
    Analyte.B12_ACTIVE: "Active vitamin B12 (holotranscobalamin)",
    Analyte.MMA: "Methylmalonic acid",
    Analyte.HOMOCYSTEINE: "Homocysteine",
    Analyte.HEMOGLOBIN: "Haemoglobin",
    Analyte.MCV: "Mean cell volume",
    Analyte.FOLATE: "Folate",
    Analyte.POTASSIUM: "Potassium",
    Analyte.RETICULOCYTES: "Reticulocytes",
}
CBC_PANEL_LOINC = "58410-2"  # CBC panel - Blood by Automated count (interop NOTES d.2, seen in Synthea)


@functools.cache
def _ucum_units() -> Mapping[str, Unit]:
    """UCUM code -> unit, read from the one unit vocabulary (``units.toml``, ``Unit.ucum``)."""
    return {unit.ucum: unit for unit in known_units()}


# Routes by SNOMED CT code (interop NOTES d.2 for IM and SC; the others are the SNOMED CT route qualifiers,
# to verify against a SNOMED browser before release as NOTES asks for the codes it lists).
_ROUTE_CODES: Mapping[Route, tuple[str, str]] = {
    Route.IM: ("78421000", "Intramuscular route"),
    Route.ORAL: ("26643006", "Oral route"),
    Route.NASAL: ("46713006", "Nasal route"),
}
_ROUTE_BY_CODE: Mapping[str, Route] = {code: route for route, (code, _) in _ROUTE_CODES.items()}
_ROUTES_REFUSED: Mapping[str, str] = {
    "34206005": "subcutaneous",
    "47625008": "intravenous",
}
_ROUTE_WORDS: Mapping[Route, str] = {
    Route.IM: "by intramuscular injection",
    Route.ORAL: "by mouth",
    Route.NASAL: "as a nasal spray",
}
_PRODUCT_WORDS: Mapping[str, Product] = {
    "hydroxocobalamin": Product.HYDROXOCOBALAMIN,
    "hydroxycobalamin": Product.HYDROXOCOBALAMIN,  # a common spelling of the same substance
    "cyanocobalamin": Product.CYANOCOBALAMIN,
}
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PATIENT_REFERENCE = re.compile(r"^(?:.*/)?Patient/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_REQUEST_REFERENCE = re.compile(r"^(?:.*/)?MedicationRequest/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_ADMINISTRATION_REFERENCE = re.compile(
    r"^(?:.*/)?MedicationAdministration/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$"
)
_URN_UUID = re.compile(
    r"^urn:uuid:(?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
_ID_NAMESPACE = uuid.UUID("5d1b2a56-7b0c-4a51-9f3e-b12b12b12b12")  # for ids derived from content

# =========================================================================================================
# Reading a file
# =========================================================================================================

_IMPORTED_TYPES = ("Observation", "MedicationAdministration", "AdverseEvent")
_BUNDLE_TYPES = frozenset({"collection", "searchset", "transaction", "batch"})


@dataclass(frozen=True, slots=True)
class Item:
    """One resource of a file, as JSON, and where it is."""

    path: str  # "entry[3].resource", "line[4]", or "" for a file that is one resource
    data: Mapping[str, Any]
    full_url: str | None = None


@dataclass(frozen=True, slots=True)
class FhirFile:
    """A parsed file: its resources, and the problems and skipped parts found while reading it.

    Reading never raises: :func:`facts_from_fhir` raises these problems together with the rest.
    """

    name: str
    items: tuple[Item, ...]
    problems: tuple[Problem, ...] = ()
    skipped: tuple[Problem, ...] = ()


def read_fhir(text: str | bytes, *, name: str = "", ndjson: bool | None = None) -> FhirFile:
    """Parse a Bundle, a single resource or NDJSON (one resource a line; by default when the name ends in
    ``.ndjson`` or the text is more than one JSON value)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            return FhirFile(name, (), (Problem("", f"not UTF-8 text ({error.reason} at byte {error.start})"),))
    if ndjson is None:
        ndjson = name.lower().endswith((".ndjson", ".jsonl"))
    if not ndjson:
        try:
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as error:
            if error.msg != "Extra data":
                return FhirFile(name, (), (Problem("", f"not valid JSON: {error.msg} (line {error.lineno})"),))
            ndjson = True  # several JSON values: one resource a line
        else:
            return _read_json(data, name)
    return _read_ndjson(text, name)


def _read_json(data: Any, name: str) -> FhirFile:
    if not isinstance(data, dict):
        return FhirFile(name, (), (Problem("", "not a FHIR resource (a JSON object with a resourceType)"),))
    if data.get("resourceType") != "Bundle":
        if not isinstance(data.get("resourceType"), str):
            return FhirFile(name, (), (Problem("resourceType", "missing: not a FHIR resource"),))
        return FhirFile(name, (Item("", data),))
    problems: list[Problem] = []
    kind = data.get("type")
    if not isinstance(kind, str):
        problems.append(Problem("type", "required, and missing: collection, searchset, transaction or batch"))
    elif kind not in _CODES["Bundle.type"]:
        problems.append(_bad_code("type", kind, _CODES["Bundle.type"]))
    elif kind not in _BUNDLE_TYPES:
        problems.append(
            Problem("type", f"a {kind} Bundle is not imported: send a collection, searchset, transaction or batch")
        )
    entries = data.get("entry", [])
    if not isinstance(entries, list):
        return FhirFile(name, (), (*problems, Problem("entry", "must be a list of entries")))
    items: list[Item] = []
    skipped: list[Problem] = []
    for index, entry in enumerate(entries):
        where = f"entry[{index}]"
        if not isinstance(entry, dict):
            problems.append(Problem(where, "an entry must be a JSON object"))
            continue
        request = entry.get("request")
        method = request.get("method") if isinstance(request, dict) else None
        if method is not None and method not in _CODES["Bundle.entry.request.method"]:
            problems.append(_bad_code(f"{where}.request.method", method, _CODES["Bundle.entry.request.method"]))
            continue
        if kind in ("transaction", "batch") and method not in (None, "POST", "PUT"):
            problems.append(Problem(f"{where}.request.method", f"b12 only creates facts from a {kind} (POST or PUT)"))
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        if mode is not None and mode not in _CODES["Bundle.entry.search.mode"]:
            problems.append(_bad_code(f"{where}.search.mode", mode, _CODES["Bundle.entry.search.mode"]))
            continue
        if mode == "outcome":
            skipped.append(Problem(where, "a search outcome (OperationOutcome), not a fact"))
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            problems.append(Problem(f"{where}.resource", "required, and missing: an entry must hold a resource"))
            continue
        full_url = entry.get("fullUrl")
        items.append(Item(f"{where}.resource", resource, full_url if isinstance(full_url, str) else None))
    return FhirFile(name, tuple(items), tuple(problems), tuple(skipped))


def _read_ndjson(text: str, name: str) -> FhirFile:
    items: list[Item] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line[{number}]"
        try:
            data = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as error:
            problems.append(Problem(where, f"not valid JSON: {error.msg} (column {error.colno})"))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            problems.append(Problem(where, "not a FHIR resource (a JSON object with a resourceType)"))
            continue
        items.append(Item(where, data))
    if not items and not problems:
        problems.append(Problem("", "no resources in the file"))
    return FhirFile(name, tuple(items), tuple(problems))


def patient_references(file: FhirFile) -> tuple[str, ...]:
    """The ids of the patients the file's observations, administrations and adverse events are about
    (``Patient/<id>``)."""
    found: dict[str, None] = {}
    for item in file.items:
        if item.data.get("resourceType") in _IMPORTED_TYPES:
            subject = item.data.get("subject")
            reference = subject.get("reference") if isinstance(subject, dict) else None
            match = _PATIENT_REFERENCE.match(reference) if isinstance(reference, str) else None
            if match:
                found[match["id"]] = None
    return tuple(found)


# =========================================================================================================
# File -> facts
# =========================================================================================================


@dataclass(frozen=True, slots=True)
class ImportTarget:
    """Whom the facts are about: the patient, their courses (to attach doses and skipped doses to), and
    optionally the course every dose belongs to. ``today``: refuse facts dated after it (None: no check).
    ``doses``: the patient's doses already stored, which an adverse event may name as its suspect."""

    patient_id: str
    courses: tuple[Course, ...] = ()
    course_id: str | None = None
    today: date | None = None
    doses: tuple[DoseGiven, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportedFacts:
    """Facts read from a file, each with the path it came from (``origins``: fact id -> path). ``skips`` are
    doses skipped (DoseSkipped); ``skipped`` are the resources that are not facts."""

    patient_id: str
    labs: tuple[LabEntry, ...] = ()
    doses: tuple[DoseGiven, ...] = ()
    skips: tuple[DoseSkipped, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict)
    skipped: tuple[Problem, ...] = ()
    source: str = ""


class _Problems:
    """Problems of one file, collected rather than raised at the first."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(Problem(path, message))

    def __len__(self) -> int:
        return len(self.items)


def facts_from_fhir(file: FhirFile, target: ImportTarget) -> ImportedFacts:
    """The lab results, doses given and skipped, and reactions in ``file`` as facts of ``target``;
    :class:`FhirImportError` lists every problem of the file (its reading problems included) when there is any.

    Adverse events are read after every administration of the file, so that the dose each one names can be
    one of the file's, wherever it stands in it."""
    problems = _Problems()
    problems.items += file.problems
    skipped = list(file.skipped)
    courses = {course.id: course for course in target.courses}
    doses_inside = any(item.data.get("resourceType") == "MedicationAdministration" for item in file.items)
    if doses_inside and target.course_id is not None and target.course_id not in courses:
        problems.add("", f"course {target.course_id!r} is not a course of patient {target.patient_id!r}")
    labs: list[LabEntry] = []
    doses: list[DoseGiven] = []
    skips: list[DoseSkipped] = []
    administered: dict[str, DoseGiven | str | None] = {}  # reference -> the dose, why it is none, None: problems
    events: list[tuple[Any, Item, str]] = []  # adverse events, read once every administration is
    origins: dict[str, str] = {}
    subject: tuple[str, str] | None = None  # (reference, where first seen)
    for item in file.items:
        kind = item.data.get("resourceType")
        if kind not in _IMPORTED_TYPES:
            skipped.append(Problem(item.path, _not_imported(str(kind))))
            continue
        model = _validate(item, problems)
        if model is None:
            continue
        reference = model.subject.reference if model.subject is not None else None
        if reference is not None:
            if subject is None:
                subject = (reference, _join(item.path, "subject"))
            elif _patient_key(reference) != _patient_key(subject[0]):
                problems.add(
                    _join(item.path, "subject.reference"),
                    f"{reference} differs from {subject[0]} ({subject[1]}): a file is imported for one patient",
                )
        fact_id = _fact_id(item, target.patient_id, problems)
        if fact_id in origins:
            problems.add(_join(item.path, "id"), f"{fact_id!r} is also the id of {origins[fact_id]}")
        fact: LabEntry | DoseGiven | DoseSkipped | None
        if kind == "Observation":
            reason = _observation_skipped(model)
            if reason is not None:
                skipped.append(Problem(item.path, reason))
                continue
            fact = _lab(model, item.path, fact_id, target, problems)
            if fact is not None:
                labs.append(fact)
        elif kind == "MedicationAdministration":
            reason = _administration_skipped(model)
            if reason is not None:
                skipped.append(Problem(item.path, reason))
                _name_administration(administered, item, f"a dose with status {model.status!r} ({item.path})")
                continue
            if model.status == "not-done":
                fact = _skip(model, item.path, fact_id, target, courses, problems)
                if fact is not None:
                    skips.append(fact)
                why = f"a dose not given (status 'not-done', {item.path})"
                _name_administration(administered, item, why if fact is not None else None)
            else:
                fact = _dose(model, item.path, fact_id, target, courses, problems)
                if fact is not None:
                    doses.append(fact)
                _name_administration(administered, item, fact)
        else:
            reason = _event_skipped(model)
            if reason is not None:
                skipped.append(Problem(item.path, reason))
                continue
            events.append((model, item, fact_id))
        origins.setdefault(fact_id, item.path)
    stored = {dose.id: dose for dose in target.doses}
    reactions: list[Reaction] = []
    for model, item, fact_id in events:
        found = _reaction(model, item.path, fact_id, target, administered, stored, problems)
        if isinstance(found, Reaction):
            reactions.append(found)
        elif found is not None:
            skipped.append(Problem(item.path, found))
            if origins.get(fact_id) == item.path:
                del origins[fact_id]
    if problems:
        raise FhirImportError(problems.items, file.name)
    return ImportedFacts(
        target.patient_id,
        labs=tuple(labs),
        doses=tuple(doses),
        skips=tuple(skips),
        reactions=tuple(reactions),
        origins=origins,
        skipped=tuple(skipped),
        source=file.name,
    )


def _patient_key(reference: str) -> str:
    """``Patient/7`` and ``https://ehr.example/fhir/Patient/7`` name the same patient."""
    match = _PATIENT_REFERENCE.match(reference)
    return f"Patient/{match['id']}" if match else reference


def _not_imported(kind: str) -> str:
    if kind in ("MedicationRequest", "CarePlan"):
        return f"a {kind} describes the course, which is created in b12; only its facts are imported"
    return f"a {kind} is not a fact b12 imports (Observations, MedicationAdministrations and AdverseEvents are)"


def _validate(item: Item, problems: _Problems) -> Any:
    """The R4B model of ``item`` (None after recording every validation problem, with its path)."""
    model_class = get_fhir_model_class(str(item.data["resourceType"]))
    try:
        model = model_class.model_validate(item.data)
    except pydantic.ValidationError as error:
        for detail in error.errors():
            path = item.path
            for part in detail["loc"]:
                if part != "root":
                    path = _join(path, part)
            problems.add(path, _pydantic_message(detail))
        return None
    found = check_codes(item.data, item.path)
    problems.items += found
    return None if found else model


def _pydantic_message(detail: Any) -> str:
    message = str(detail["msg"]).removeprefix("Value error, ")
    if "Decimal value string does not match" in message:
        return f"not a number: {detail.get('input')!r}"
    if detail["type"] in ("missing", "model_field_validation.missing"):
        return "required, and missing"
    value = detail.get("input")
    if isinstance(value, str | int | float | bool) and "input" not in message.lower():
        return f"{message.rstrip('.')} (got {value!r})"
    return message


def _fact_id(item: Item, patient_id: str, problems: _Problems) -> str:
    resource_id = item.data.get("id")
    if isinstance(resource_id, str):
        if not _FHIR_ID.fullmatch(resource_id):
            problems.add(_join(item.path, "id"), f"{resource_id!r} is not a FHIR id (A–Z, a–z, 0–9, '-', '.', ≤ 64)")
        return resource_id
    match = _URN_UUID.match(item.full_url or "")
    if match:
        return match["id"].lower()
    content = json.dumps(item.data, sort_keys=True, default=str)
    return uuid.uuid5(_ID_NAMESPACE, f"{patient_id}\n{content}").hex


def _future(when: date, target: ImportTarget) -> bool:
    return target.today is not None and when > target.today


# --- Observation -> LabEntry ------------------------------------------------------------------------------

_RESULT_STATUSES = frozenset({"final", "amended", "corrected"})


def _observation_skipped(model: Any) -> str | None:
    if model.status not in _RESULT_STATUSES:
        return f"status {model.status!r}: only final, amended and corrected results are imported"
    if model.hasMember and not model.component and _value_field(model) is None:
        return "a panel: its results are imported from their own Observations"
    return None


_VALUE_FIELDS = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)


def _value_field(model: Any) -> str | None:
    return next((name for name in _VALUE_FIELDS if getattr(model, name, None) is not None), None)


def _lab(model: Any, path: str, fact_id: str, target: ImportTarget, problems: _Problems) -> LabEntry | None:
    before = len(problems)
    analyte = _analyte(model, path, problems)
    taken = _effective_date(model, path, target, problems)
    value: float | None = None
    reported: tuple[Unit, str] | None = None
    value_field = _value_field(model)
    if model.component:
        problems.add(_join(path, "component"), "b12 does not read components: send each result as an Observation")
    elif value_field is None:
        absent = model.dataAbsentReason
        why = (absent.text or next((c.code for c in absent.coding or () if c.code), None)) if absent else None
        problems.add(_join(path, "valueQuantity"), f"no value{f' ({why})' if why else ''}: a result needs one")
    elif value_field != "valueQuantity":
        problems.add(_join(path, value_field), "a result must be a valueQuantity: a number with its UCUM unit")
    else:
        quantity_path = _join(path, "valueQuantity")
        value = _number(model.valueQuantity, quantity_path, problems)
        reported = _unit(model.valueQuantity, quantity_path, problems)
    if len(problems) > before or analyte is None or taken is None or value is None or reported is None:
        return None
    unit, original_unit = reported
    try:
        normalised_value, normalised_unit = normalise_lab(analyte, value, unit.symbol)
    except UnitError as error:
        problems.add(_unit_path(model.valueQuantity, _join(path, "valueQuantity")), str(error))
        return None
    lower, upper = _limits(model, path, analyte, unit, problems)
    if len(problems) > before:
        return None
    return LabEntry(
        id=fact_id,
        patient_id=target.patient_id,
        taken=taken,
        analyte=analyte,
        value=value,
        unit=original_unit,
        normalised_value=normalised_value,
        normalised_unit=normalised_unit,
        upper_limit=upper,
        lower_limit=lower,
    )


def _analyte(model: Any, path: str, problems: _Problems) -> Analyte | None:
    found: dict[Analyte, str] = {}
    unknown: list[tuple[str, str, str]] = []  # (where, code, whose code)
    local: dict[Analyte, str] = {}
    for index, coding in enumerate(model.code.coding or ()):
        where = _join(path, f"code.coding[{index}].code")
        if coding.system == LOINC_SYSTEM and coding.code is not None:
            analyte = _ANALYTE_BY_LOINC.get(coding.code)
            if analyte is None:
                unknown.append((where, coding.code, "LOINC"))
            else:
                found.setdefault(analyte, where)
        elif coding.system == B12_ANALYTE_SYSTEM and coding.code is not None:
            try:
                local.setdefault(Analyte(coding.code), where)
            except ValueError:
                unknown.append((where, coding.code, "b12 analyte"))
    for analyte, where in local.items():
        found.setdefault(analyte, where)
    if len(found) > 1:
        problems.add(_join(path, "code.coding"), f"codes for different analytes: {', '.join(found)}")
        return None
    if found:
        return next(iter(found))
    if unknown:
        where, code, whose = unknown[0]
        problems.add(where, f"unknown {whose} code {code!r}: b12 imports {_known_loinc()}")
        return None
    problems.add(_join(path, "code"), f"no LOINC code (system {LOINC_SYSTEM}): b12 imports {_known_loinc()}")
    return None


def _known_loinc() -> str:
    return ", ".join(f"{code} ({analyte.value})" for code, analyte in _ANALYTE_BY_LOINC.items())


def _effective_date(model: Any, path: str, target: ImportTarget, problems: _Problems) -> date | None:
    if model.effectiveDateTime is not None:
        where, value = _join(path, "effectiveDateTime"), model.effectiveDateTime
    elif model.effectivePeriod is not None and model.effectivePeriod.start is not None:
        where, value = _join(path, "effectivePeriod.start"), model.effectivePeriod.start
    elif model.effectiveInstant is not None:
        where, value = _join(path, "effectiveInstant"), model.effectiveInstant
    else:
        problems.add(_join(path, "effectiveDateTime"), "no date the sample was taken")
        return None
    day = value.date() if isinstance(value, datetime) else value if isinstance(value, date) else None
    if day is None:
        problems.add(where, f"{value!r} is not a full date: b12 needs the day the sample was taken")
        return None
    if _future(day, target):
        problems.add(where, f"{day.isoformat()} is in the future: a result cannot be taken after today")
        return None
    return day


def _number(quantity: Any, path: str, problems: _Problems) -> float | None:
    if quantity.comparator is not None:
        problems.add(
            _join(path, "comparator"),
            f"a result reported as '{quantity.comparator} {quantity.value}' is a bound, not a value b12 can store",
        )
        return None
    if quantity.value is None:
        problems.add(_join(path, "value"), "no value: a result needs a number")
        return None
    number = float(quantity.value)
    if not number > 0 or number == float("inf"):
        problems.add(_join(path, "value"), f"{quantity.value} is not a result above zero")
        return None
    return number


def _unit_path(quantity: Any, path: str) -> str:
    return _join(path, "code" if quantity is not None and quantity.code is not None else "unit")


def _unit(quantity: Any, path: str, problems: _Problems) -> tuple[Unit, str] | None:
    """The unit of a FHIR Quantity and the spelling to keep as reported: the ``unit`` text when it is the
    same unit as the UCUM ``code``, else the code. ``code`` decides; ``unit`` alone must be a spelling of
    b12's vocabulary."""
    code, text = quantity.code, quantity.unit
    if code is not None:
        if quantity.system is None:
            problems.add(_join(path, "system"), f"a unit code needs its system, {UCUM_SYSTEM} (FHIR qty-3)")
            return None
        if quantity.system != UCUM_SYSTEM:
            problems.add(_join(path, "system"), f"{quantity.system!r} is not UCUM ({UCUM_SYSTEM})")
            return None
        unit = _ucum_units().get(code)
        if unit is None:
            problems.add(_join(path, "code"), _unknown_unit(code))
            return None
        if text is not None:
            shown = _spelling(text)
            if shown is not None and shown.symbol != unit.symbol:
                problems.add(_join(path, "unit"), f"{text!r} and the UCUM code {code!r} are different units")
                return None
            if shown is not None:
                return unit, text
        return unit, code
    if text is None:
        problems.add(_join(path, "code"), f"no unit: give the UCUM code ({UCUM_SYSTEM})")
        return None
    unit = _spelling(text)
    if unit is None:
        problems.add(_join(path, "unit"), _unknown_unit(text))
        return None
    return unit, text


def _spelling(text: str) -> Unit | None:
    try:
        return parse_unit(text)
    except UnitError:
        return None


def _unknown_unit(text: str) -> str:
    try:
        parse_unit(text)
    except InternationalUnitError as error:
        return str(error)
    except UnitError:
        pass
    codes = ", ".join(dict.fromkeys(_ucum_units()))
    return f"unknown unit {text!r}: b12 reads these UCUM units only, so that nothing is guessed: {codes}"


def _limits(
    model: Any, path: str, analyte: Analyte, unit: Unit, problems: _Problems
) -> tuple[float | None, float | None]:
    """The lab's normal range in the unit of the value: the first referenceRange that is the normal range."""
    for index, reference in enumerate(model.referenceRange or ()):
        kinds = {c.code for c in (reference.type.coding or ())} if reference.type is not None else set()
        if kinds and "normal" not in kinds:
            continue
        where = _join(path, f"referenceRange[{index}]")
        limits = [
            _limit(getattr(reference, side), _join(where, side), analyte, unit, problems) for side in ("low", "high")
        ]
        return limits[0], limits[1]
    return None, None


def _limit(quantity: Any, path: str, analyte: Analyte, unit: Unit, problems: _Problems) -> float | None:
    if quantity is None or quantity.value is None:
        return None
    reported = _unit(quantity, path, problems)
    if reported is None:
        return None
    value = float(quantity.value)
    if reported[0] == unit:
        return value
    try:
        return round(Quantity(value, reported[0]).to(unit, analyte=analyte.value).value, 6)
    except UnitError as error:
        problems.add(_unit_path(quantity, path), str(error))
        return None


# --- MedicationAdministration -> DoseGiven ----------------------------------------------------------------


def _administration_skipped(model: Any) -> str | None:
    if model.status == "entered-in-error":
        return f"status {model.status!r}: not a dose given"
    return None


def _name_administration(
    administered: dict[str, DoseGiven | str | None], item: Item, fact: DoseGiven | str | None
) -> None:
    """Index an administration of the file by the references that can name it: ``MedicationAdministration/<id>``
    and its ``fullUrl`` (``urn:uuid:…`` in a transaction)."""
    resource_id = item.data.get("id")
    if isinstance(resource_id, str):
        administered.setdefault(f"MedicationAdministration/{resource_id}", fact)
    if item.full_url:
        administered.setdefault(item.full_url, fact)


_BATCH = re.compile(r"\b(?:batch|lot)(?:\s*(?:no\.?|number|#))?\s*[:#]?\s*(?P<batch>(?=[\w\-/]*\d)[\w][\w\-/]*)", re.I)
_EXPIRY = re.compile(r"\bexp(?:iry|ires|iration)?\b\.?(?:\s*date)?\s*[:=]?\s*(?P<expiry>[^\s,;]+)", re.I)
_REACTION = re.compile(r"^\s*reaction\s*:\s*", re.I)


def _dose(
    model: Any,
    path: str,
    fact_id: str,
    target: ImportTarget,
    courses: Mapping[str, Course],
    problems: _Problems,
) -> DoseGiven | None:
    before = len(problems)
    if model.status != "completed":
        problems.add(
            _join(path, "status"),
            f"status {model.status!r}: b12 records doses given in full (completed); enter this one by hand",
        )
        return None
    course_id = _course_of(model, path, target, courses, problems)
    at = _administered_at(model, path, target, problems)
    product = _product(model, path, problems)
    dosage = model.dosage
    route = _route(dosage, path, problems)
    dose_mg = _dose_mg(dosage, path, problems)
    reaction, note = _notes(model)
    if _contained_medication(model) is not None:
        batch, expiry = _batch(model, path, problems)
    elif note is not None:
        batch, expiry = _batch_from_note(note, _join(path, "note"), problems)
    else:
        batch, expiry = None, None
    site = None
    if dosage is not None and dosage.site is not None:
        site = dosage.site.text or next((c.display for c in dosage.site.coding or () if c.display), None)
    given_by = NOT_RECORDED
    for performer in model.performer or ():
        actor = performer.actor
        given_by = actor.display or actor.reference or (actor.identifier.value if actor.identifier else None) or ""
        if given_by:
            break
    if len(problems) > before or course_id is None or at is None or product is None or route is None:
        return None
    if dose_mg is None:
        return None
    return DoseGiven(
        id=fact_id,
        course_id=course_id,
        at=at,
        dose_mg=dose_mg,
        product=product,
        route=route,
        given_by=given_by or NOT_RECORDED,
        site=site,
        batch=batch,
        expiry=expiry,
        reaction=reaction,
        note=note,
    )


def _course_of(
    model: Any, path: str, target: ImportTarget, courses: Mapping[str, Course], problems: _Problems
) -> str | None:
    """The course of a dose: the MedicationRequest it fulfils when that is one of the patient's courses (as
    b12 exports them), else the course given for the file."""
    reference = model.request.reference if model.request is not None else None
    match = _REQUEST_REFERENCE.match(reference) if reference else None
    named = match["id"] if match and match["id"] in courses else None
    if named is not None and target.course_id is not None and named != target.course_id:
        problems.add(
            _join(path, "request.reference"),
            f"{reference} is course {named!r}, not the course {target.course_id!r} given for the file",
        )
        return None
    chosen = named or target.course_id
    if chosen is None:
        what = f"{reference} is not a course of patient {target.patient_id!r}" if reference else "no request"
        problems.add(_join(path, "request"), f"{what}: give the course these doses belong to")
    return chosen


def _administered_at(model: Any, path: str, target: ImportTarget, problems: _Problems) -> datetime | None:
    if model.effectiveDateTime is not None:
        where, value = _join(path, "effectiveDateTime"), model.effectiveDateTime
    else:
        where, value = _join(path, "effectivePeriod.start"), model.effectivePeriod.start
    if value is None:
        problems.add(where, "no time: b12 needs when the dose was given, with its time zone")
        return None
    if not isinstance(value, datetime):
        problems.add(where, f"{value!s} has no time: b12 needs when the dose was given, with its time zone")
        return None
    if _future(value.date(), target):
        problems.add(where, f"{value.isoformat()} is in the future: a dose cannot be given after today")
        return None
    return value


def _product(model: Any, path: str, problems: _Problems) -> Product | None:
    names: list[str] = []
    where = _join(path, "medicationCodeableConcept")
    if model.medicationCodeableConcept is not None:
        names += _concept_names(model.medicationCodeableConcept)
    elif model.medicationReference is not None:
        where = _join(path, "medicationReference")
        names.append(model.medicationReference.display or "")
        medication = _contained_medication(model)
        if medication is not None and medication.code is not None:
            names += _concept_names(medication.code)
    text = " ".join(names).lower()
    found = {product for word, product in _PRODUCT_WORDS.items() if word in text}
    if len(found) == 1:
        return found.pop()
    shown = " / ".join(name for name in names if name) or "nothing"
    why = "names both products" if found else "does not name hydroxocobalamin or cyanocobalamin"
    problems.add(where, f"the medication ({shown}) {why}: b12 tracks those two products by name")
    return None


def _concept_names(concept: Any) -> list[str]:
    return [concept.text or "", *(c.display or "" for c in concept.coding or ())]


def _contained_medication(model: Any) -> Any:
    reference = model.medicationReference.reference if model.medicationReference is not None else None
    if not reference or not reference.startswith("#"):
        return None
    return next(
        (r for r in model.contained or () if r.get_resource_type() == "Medication" and r.id == reference[1:]),
        None,
    )


def _route(dosage: Any, path: str, problems: _Problems) -> Route | None:
    where = _join(path, "dosage.route")
    if dosage is None or dosage.route is None:
        problems.add(where, "no route: b12 needs the SNOMED CT route (78421000 intramuscular)")
        return None
    codings = [(i, c) for i, c in enumerate(dosage.route.coding or ()) if c.system == SNOMED_SYSTEM and c.code]
    for index, coding in codings:
        route = _ROUTE_BY_CODE.get(coding.code)
        if route is not None:
            return route
        refused = _ROUTES_REFUSED.get(coding.code)
        if refused is not None:
            problems.add(
                _join(where, f"coding[{index}].code"),
                f"{coding.code} is the {refused} route: b12 tracks intramuscular, oral and nasal doses only",
            )
            return None
    if codings:
        index, coding = codings[0]
        known = ", ".join(f"{code} ({name})" for code, name in _ROUTE_CODES.values())
        problems.add(_join(where, f"coding[{index}].code"), f"unknown route {coding.code!r}: b12 reads {known}")
        return None
    problems.add(where, f"no SNOMED CT route code ({SNOMED_SYSTEM}): b12 does not read routes from text")
    return None


def _dose_mg(dosage: Any, path: str, problems: _Problems) -> float | None:
    where = _join(path, "dosage.dose")
    if dosage is None or dosage.dose is None:
        problems.add(where, "no dose: b12 needs the amount given (for example 1 mg)")
        return None
    value = _number(dosage.dose, where, problems)
    reported = _unit(dosage.dose, where, problems)
    if value is None or reported is None:
        return None
    unit = reported[0]
    if unit.dimension is not Dimension.MASS:
        problems.add(_unit_path(dosage.dose, where), f"a dose is a weight (µg, mg), not {unit.symbol}")
        return None
    try:
        return Quantity(value, unit).to("mg").value
    except UnitError as error:  # pragma: no cover - a weight always converts to mg
        problems.add(where, str(error))
        return None


def _batch(model: Any, path: str, problems: _Problems) -> tuple[str | None, date | None]:
    medication = _contained_medication(model)
    if medication is None or medication.batch is None:
        return None, None
    expiry = medication.batch.expirationDate
    where = _join(path, "contained.batch.expirationDate")
    return medication.batch.lotNumber, None if expiry is None else _expiry(expiry, where, problems)


def _expiry(value: Any, where: str, problems: _Problems) -> date | None:
    """An expiry date; a month alone (``2026-03``) is its last day, as expiry months are read on labels."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", str(value))
    if match and 1 <= int(match[2]) <= 12:
        year, month = int(match[1]), int(match[2])
        try:
            day = int(match[3]) if match[3] else calendar.monthrange(year, month)[1]
            return date(year, month, day)
        except ValueError:
            pass
    problems.add(where, f"cannot read the expiry {str(value)!r}: write it as YYYY-MM or YYYY-MM-DD")
    return None


def _batch_from_note(note: str, where: str, problems: _Problems) -> tuple[str | None, date | None]:
    batch = _BATCH.search(note)
    expiry = _EXPIRY.search(note)
    expires = None if expiry is None else _expiry(expiry["expiry"].rstrip("."), where, problems)
    return (None if batch is None else batch["batch"]), expires


def _reads_as_batch(note: str) -> bool:
    return _BATCH.search(note) is not None or _EXPIRY.search(note) is not None


def _notes(model: Any) -> tuple[str | None, str | None]:
    """(reaction, note): an annotation starting "Reaction:" is the reaction, the others are the note."""
    reactions: list[str] = []
    notes: list[str] = []
    for annotation in model.note or ():
        text = annotation.text or ""
        if _REACTION.match(text):
            reactions.append(_REACTION.sub("", text, count=1))
        elif text:
            notes.append(text)
    return ("\n".join(reactions) or None), ("\n".join(notes) or None)


# --- MedicationAdministration not-done -> DoseSkipped ---------------------------------------------------


def _skip(
    model: Any,
    path: str,
    fact_id: str,
    target: ImportTarget,
    courses: Mapping[str, Course],
    problems: _Problems,
) -> DoseSkipped | None:
    """A dose not given: its course as for a dose given, the day it was due from ``effective[x]``, when it was
    recorded (:func:`_recorded`), the reason from ``statusReason`` and the notes."""
    before = len(problems)
    course_id = _course_of(model, path, target, courses, problems)
    _product(model, path, problems)  # a dose of another medicine is not a dose of the course
    due = _due(model, path, problems)
    at = _recorded(model, path, due, target, problems)
    if len(problems) > before or course_id is None or due is None or at is None:
        return None
    return DoseSkipped(id=fact_id, course_id=course_id, due=due, at=at, reason=_skip_reason(model))


def _effective(model: Any, path: str) -> tuple[str, Any]:
    if model.effectiveDateTime is not None:
        return _join(path, "effectiveDateTime"), model.effectiveDateTime
    start = model.effectivePeriod.start if model.effectivePeriod is not None else None
    return _join(path, "effectivePeriod.start"), start


def _due(model: Any, path: str, problems: _Problems) -> date | None:
    where, value = _effective(model, path)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    shown = "no date" if value is None else f"{value!s} is not a full date"
    problems.add(where, f"{shown}: b12 needs the day the dose was due")
    return None


def _recorded(model: Any, path: str, due: date | None, target: ImportTarget, problems: _Problems) -> datetime | None:
    """When the skip was recorded: the ``recorded`` extension (R5's element); without it, the moment the dose
    was not given — ``effective[x]`` with its time and zone, or for a day alone its start in UTC (b12 needs a
    moment, and the resource gives none)."""
    where, value = _effective(model, path)
    for index, extension in enumerate(model.extension or ()):
        if extension.url == RECORDED_EXTENSION:
            where, value = _join(path, f"extension[{index}].valueDateTime"), extension.valueDateTime
            if value is None:
                problems.add(where, "the recorded extension needs a valueDateTime")
                return None
            break
    else:
        if due is None:
            return None
    if not isinstance(value, date):
        problems.add(where, f"{value!s} is not a full date: b12 needs when the skip was recorded")
        return None
    at = value if isinstance(value, datetime) else datetime.combine(value, time(), UTC)
    if _future(at.date(), target):
        problems.add(where, f"{value.isoformat()} is in the future: a dose cannot be recorded as skipped ahead")
        return None
    return at


def _skip_reason(model: Any) -> str | None:
    """The reason as written: each ``statusReason`` (its text, else a coding's display or code), then the notes."""
    reasons = [
        concept.text or next((c.display or c.code for c in concept.coding or () if c.display or c.code), None)
        for concept in model.statusReason or ()
    ]
    reasons += [annotation.text for annotation in model.note or ()]
    return "\n".join(reason for reason in reasons if reason) or None


# --- AdverseEvent -> Reaction ----------------------------------------------------------------------------


def _event_skipped(model: Any) -> str | None:
    if model.actuality != "actual":
        return f"actuality {model.actuality!r}: an event that did not happen, not a reaction"
    return None


def _reaction(
    model: Any,
    path: str,
    fact_id: str,
    target: ImportTarget,
    administered: Mapping[str, DoseGiven | str | None],
    stored: Mapping[str, DoseGiven],
    problems: _Problems,
) -> Reaction | str | None:
    """A reaction to the dose its ``suspectEntity`` names: an administration of the file, or a dose of the
    patient stored in b12. Returns why it is skipped when it names no administration at all."""
    before = len(problems)
    named: list[tuple[str, str, DoseGiven | str | None]] = []  # (where, reference, what it names)
    for index, suspect in enumerate(model.suspectEntity or ()):
        reference = suspect.instance.reference
        if not reference:
            continue
        where = _join(path, f"suspectEntity[{index}].instance.reference")
        match = _ADMINISTRATION_REFERENCE.match(reference)
        key = f"MedicationAdministration/{match['id']}" if match else reference
        if reference in administered or key in administered:
            named.append((where, reference, administered.get(reference, administered.get(key))))
        elif match and match["id"] in stored:
            named.append((where, reference, stored[match["id"]]))
        elif match:
            problems.add(
                where,
                f"{reference} is neither an administration in this file nor a dose of patient {target.patient_id!r} "
                "in b12: import the dose with its reaction",
            )
    if not named:
        if len(problems) > before:
            return None
        return "names no dose (suspectEntity.instance -> a MedicationAdministration): b12 records a reaction to a dose"
    if len(named) > 1:
        problems.add(_join(path, "suspectEntity"), f"names {len(named)} administrations: b12 records a reaction to one")
    where, reference, found = named[0]
    if isinstance(found, str):
        problems.add(where, f"{reference} is {found}: b12 records reactions to doses given")
    description = _event_text(model, path, problems)
    at = _event_at(model, path, target, problems)
    if len(problems) > before or not isinstance(found, DoseGiven) or description is None or at is None:
        return None
    if at.date() < found.at.date():
        problems.add(
            _event_at_path(model, path),
            f"{at.isoformat()} is before the dose it names, given on {found.at.date().isoformat()}",
        )
        return None
    return Reaction(id=fact_id, dose_id=found.id, at=at, description=description, severe=_severe(model))


def _event_text(model: Any, path: str, problems: _Problems) -> str | None:
    event = model.event
    text = (event.text or next((c.display for c in event.coding or () if c.display), None)) if event else None
    if not text or not text.strip():
        problems.add(_join(path, "event.text"), "no description of the reaction")
        return None
    return str(text)


def _event_at_path(model: Any, path: str) -> str:
    return _join(path, "date" if model.date is not None or model.detected is None else "detected")


def _event_at(model: Any, path: str, target: ImportTarget, problems: _Problems) -> datetime | None:
    """When the reaction happened: ``date``, else ``detected``, with its time and zone."""
    where = _event_at_path(model, path)
    value = model.date if model.date is not None else model.detected
    if value is None:
        problems.add(where, "no date: b12 needs when the reaction happened, with its time zone")
        return None
    if not isinstance(value, datetime):
        problems.add(where, f"{value!s} has no time: b12 needs when the reaction happened, with its time zone")
        return None
    if _future(value.date(), target):
        problems.add(where, f"{value.isoformat()} is in the future: a reaction cannot happen after today")
        return None
    return value


def _severe(model: Any) -> bool:
    """b12 has one flag: severity ``severe``, or seriousness ``serious`` (a serious event needs the clinician
    before the next dose whatever its severity, so it raises the same alert)."""
    severity = {c.code for c in model.severity.coding or () if c.system == SEVERITY_SYSTEM} if model.severity else set()
    seriousness = (
        {c.code for c in model.seriousness.coding or () if c.system == SERIOUSNESS_SYSTEM}
        if model.seriousness
        else set()
    )
    return "severe" in severity or "serious" in seriousness


# =========================================================================================================
# Facts -> the store
# =========================================================================================================


_Fact = TypeVar("_Fact", LabEntry, DoseGiven, DoseSkipped, Reaction)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    patient_id: str
    labs: int  # written
    doses: int  # written
    unchanged: int  # already stored, identical: not written again
    skipped: tuple[Problem, ...]  # resources that are not facts, with why
    source: str = ""
    skips: int = 0  # doses skipped (not-done administrations), written
    reactions: int = 0  # written


def write_facts(uow: UnitOfWork, facts: ImportedFacts, *, at: datetime, actor_id: str | None = None) -> ImportSummary:
    """Write ``facts`` and one audit entry in ONE transaction: all of them, or (on any problem) none.

    A fact whose id is already stored is skipped when identical and a problem when it differs; the
    patient and the courses must exist, and the courses must be the patient's; a reaction's dose must be
    one of the file's or a stored dose of the patient. Reactions are written after the doses they name.
    """
    problems = _Problems()
    with uow:
        if uow.accounts.patient(facts.patient_id) is None:
            problems.add("", f"there is no patient {facts.patient_id!r} in b12")
        stored_doses: dict[str, DoseGiven] = {}
        stored_labs: dict[str, LabEntry] = {}
        stored_skips: dict[str, DoseSkipped] = {}
        stored_reactions: dict[str, Reaction] = {}
        for course in uow.tracking.courses_for(facts.patient_id):
            history = uow.tracking.history(course.id)
            if history is not None:
                stored_doses.update((d.id, d) for d in history.doses)
                stored_labs.update((e.id, e) for e in history.labs)
                stored_skips.update((s.id, s) for s in history.skips)
                stored_reactions.update((r.id, r) for r in history.reactions)
        for course_id in dict.fromkeys([*(d.course_id for d in facts.doses), *(s.course_id for s in facts.skips)]):
            owner = uow.tracking.course(course_id)
            if owner is None or owner.patient_id != facts.patient_id:
                problems.add("", f"course {course_id!r} is not a course of patient {facts.patient_id!r}")
        doses = stored_doses.keys() | {d.id for d in facts.doses}
        for reaction in facts.reactions:
            if reaction.dose_id not in doses:
                problems.add(
                    _join(facts.origins.get(reaction.id, ""), "suspectEntity"),
                    f"dose {reaction.dose_id!r} is not a dose of patient {facts.patient_id!r}",
                )
        new_labs = _new(facts.labs, stored_labs, facts.origins, problems)
        new_doses = _new(facts.doses, stored_doses, facts.origins, problems)
        new_skips = _new(facts.skips, stored_skips, facts.origins, problems)
        new_reactions = _new(facts.reactions, stored_reactions, facts.origins, problems)
        if problems:
            raise FhirImportError(problems.items, facts.source)
        for lab in new_labs:
            with _storing(facts, lab.id):
                uow.tracking.add_lab(lab)
        for dose in new_doses:
            with _storing(facts, dose.id):
                uow.tracking.add_dose(dose)
        for skip in new_skips:
            with _storing(facts, skip.id):
                uow.tracking.add_skip(skip)
        for reaction in new_reactions:
            with _storing(facts, reaction.id):
                uow.tracking.add_reaction(reaction)
        read = len(facts.labs) + len(facts.doses) + len(facts.skips) + len(facts.reactions)
        unchanged = read - len(new_labs) - len(new_doses) - len(new_skips) - len(new_reactions)
        detail: dict[str, object] = {"source": facts.source, "labs": len(new_labs), "doses": len(new_doses)}
        # Named only when the file holds such facts, so the entry of a file of results keeps its shape.
        if facts.skips:
            detail["skips"] = len(new_skips)
        if facts.reactions:
            detail["reactions"] = len(new_reactions)
        detail.update(unchanged=unchanged, skipped=len(facts.skipped))
        uow.audit.append(
            AuditEntry(
                id=uuid.uuid4().hex,
                at=at,
                actor_id=actor_id,
                action="fhir.import",
                entity="patient",
                entity_id=facts.patient_id,
                detail=detail,
            )
        )
        uow.commit()
    return ImportSummary(
        facts.patient_id,
        len(new_labs),
        len(new_doses),
        unchanged,
        facts.skipped,
        facts.source,
        skips=len(new_skips),
        reactions=len(new_reactions),
    )


@contextmanager
def _storing(facts: ImportedFacts, fact_id: str) -> Iterator[None]:
    """A store's refusal (a duplicate id, a missing row) as a located import problem."""
    try:
        yield
    except Exception as error:  # the store's own error type is unknown here (SQLAlchemy, a fake)
        where = _join(facts.origins.get(fact_id, ""), "id")
        raise FhirImportError([Problem(where, f"could not be stored: {error}")], facts.source) from error


def _new(
    facts: Sequence[_Fact], stored: Mapping[str, _Fact], origins: Mapping[str, str], problems: _Problems
) -> list[_Fact]:
    fresh: list[_Fact] = []
    for fact in facts:
        existing = stored.get(fact.id)
        if existing is None:
            fresh.append(fact)
        elif existing != fact:
            problems.add(
                _join(origins.get(fact.id, ""), "id"),
                f"b12 already holds a different {type(fact).__name__} with id {fact.id!r}",
            )
    return fresh


def import_fhir(
    uow: UnitOfWork,
    text: str | bytes,
    *,
    at: datetime,
    name: str = "",
    patient_id: str | None = None,
    course_id: str | None = None,
    actor_id: str | None = None,
) -> ImportSummary:
    """Read, map and write a file for ``patient_id``, else for the patient its resources name as subject
    (``Patient/<id>``, a b12 patient id). A file with no facts in it writes nothing."""
    file = read_fhir(text, name=name)
    facts_inside = any(item.data.get("resourceType") in _IMPORTED_TYPES for item in file.items)
    if patient_id is None:
        patients = patient_references(file)
        if not patients and facts_inside:
            problem = Problem("", "no subject names the patient: give the b12 patient to import for")
            raise FhirImportError([*file.problems, problem], name)
        patient_id = patients[0] if patients else ""  # several: facts_from_fhir reports each other subject
    courses: tuple[Course, ...] = ()
    doses: list[DoseGiven] = []
    if facts_inside:
        events_inside = any(item.data.get("resourceType") == "AdverseEvent" for item in file.items)
        with uow:
            if uow.accounts.patient(patient_id) is None:
                problem = Problem("", f"there is no patient {patient_id!r} in b12")
                raise FhirImportError([*file.problems, problem], name)
            courses = tuple(uow.tracking.courses_for(patient_id))
            for course in courses if events_inside else ():  # the doses an adverse event may name
                history = uow.tracking.history(course.id)
                doses += history.doses if history is not None else ()
    facts = facts_from_fhir(file, ImportTarget(patient_id, courses, course_id, at.date(), tuple(doses)))
    if not (facts.labs or facts.doses or facts.skips or facts.reactions):
        return ImportSummary(patient_id, 0, 0, 0, facts.skipped, name)
    return write_facts(uow, facts, at=at, actor_id=actor_id)


# =========================================================================================================
# Export
# =========================================================================================================

_REQUEST_STATUS: Mapping[CourseState, str] = {
    CourseState.NOT_STARTED: "active",
    CourseState.ACTIVE: "active",
    CourseState.COMPLETE: "completed",
    CourseState.STOPPED: "stopped",
}
_PLAN_STATUS: Mapping[CourseState, str] = {
    CourseState.NOT_STARTED: "active",
    CourseState.ACTIVE: "active",
    CourseState.COMPLETE: "completed",
    CourseState.STOPPED: "revoked",
}
_PERIOD_UNITS: Mapping[IntervalUnit, str] = {IntervalUnit.DAY: "d", IntervalUnit.WEEK: "wk", IntervalUnit.MONTH: "mo"}
_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times", 7: "seven times"}
_OPEN_WORDS = ("until", "as long as", "while", "for ", "only", "or ", "indefinitely")


def _quantity(value: float, unit: str, code: str | None = None) -> dict[str, Any]:
    return {"value": _decimal(value), "unit": unit, "system": UCUM_SYSTEM, "code": code or unit}


def _decimal(value: float) -> Decimal:
    """The decimal ``value`` prints as (1.0 -> 1, 0.1 -> 0.1), so JSON carries no float noise."""
    number = Decimal(repr(float(value)))
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number


def _route_concept(route: Route) -> dict[str, Any]:
    code, display = _ROUTE_CODES[route]
    return {"coding": [{"system": SNOMED_SYSTEM, "code": code, "display": display}]}


def _medication_text(product: Product, course: Course) -> str:
    name = product.value.capitalize()
    return f"{name} {course.strength}" if product is course.product else name


def _dose_words(dose_mg: float) -> str:
    """1 mg -> "1 mg"; below 1 mg in micrograms, spelled out (no leading "0.")."""
    if dose_mg >= 1:
        return f"{format_number(dose_mg)} mg"
    micrograms = Quantity(dose_mg, parse_unit("mg")).to("µg").value
    return f"{format_number(micrograms)} micrograms"


def _how_often(frequency: Frequency) -> str:
    if frequency.times_per_week:
        return f"{_TIMES[frequency.times_per_week]} a week"
    unit = frequency.unit.value
    if frequency.every == 1:
        words = f"once a {unit}"
    elif frequency.unit is IntervalUnit.DAY and frequency.every == 2:
        words = "on alternate days"
    else:
        words = f"every {frequency.every} {unit}s"
    if frequency.unit is IntervalUnit.MONTH:
        # FHIR periodUnit "mo" is an averaged month (30.4 days); b12 counts calendar months.
        words += " (calendar months, not 30-day periods)"
    return words


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _ending(phase: Phase) -> str:
    frequency = phase.frequency
    if phase.ending is Ending.COUNT and phase.doses is not None:
        doses = phase.doses
        per_week = frequency.times_per_week or (
            1 if frequency.every == 1 and frequency.unit is IntervalUnit.WEEK else 0
        )
        if per_week and doses % per_week == 0:
            return f" for {_plural(doses // per_week, 'week')} ({_plural(doses, 'dose')})"
        if frequency.every == 1 and frequency.unit is IntervalUnit.DAY and not frequency.times_per_week:
            return f" for {_plural(doses, 'day')} ({_plural(doses, 'dose')})"
        return f" for {_plural(doses, 'dose')}"
    if phase.ending is Ending.DURATION and phase.duration_days is not None:
        days = phase.duration_days
        return f" for {_plural(days // 7, 'week')}" if days % 7 == 0 else f" for {_plural(days, 'day')}"
    until = (phase.until or "").strip()
    if phase.ending is Ending.CLINICAL:
        until = until or "the clinician decides to stop"
        return f" {until}" if until.lower().startswith(_OPEN_WORDS) else f" until {until}"
    return f", {until}" if until else ""


def dosage_text(phase: Phase, sequence: int) -> str:
    """The clinically equivalent sentence for one phase, e.g. "1 mg by intramuscular injection three times a
    week for 2 weeks (6 doses)" / "Then 1 mg by intramuscular injection every 3 months (calendar months, …)"."""
    text = f"{_dose_words(phase.dose_mg)} {_ROUTE_WORDS[phase.route]} {_how_often(phase.frequency)}{_ending(phase)}"
    if phase.gate:
        gate = phase.gate.strip()
        text += f" ({gate if gate.lower().startswith('only') else 'only if ' + gate})"
    return text if sequence == 1 else f"Then {text}"


def _patient_instruction(phase: Phase) -> str | None:
    until = (phase.until or "").strip()
    if phase.ending is Ending.CLINICAL:
        return (
            f"No fixed number of doses: your clinician decides when this phase ends ({until or 'at a review'}); "
            "keep your review appointments."
        )
    if phase.ending is Ending.CONTINUING:
        return f"No fixed end: {until.removeprefix('or ')}." if until else "No fixed end."
    return None


def dosage_instruction(phase: Phase, sequence: int, start: date | None = None) -> dict[str, Any]:
    """One ``Dosage`` for one phase; ``start`` (the course start) bounds the first phase."""
    frequency = phase.frequency
    repeat: dict[str, Any] = {}
    if phase.ending is Ending.DURATION and phase.duration_days is not None:
        days = phase.duration_days
        weeks = days % 7 == 0
        repeat["boundsDuration"] = {
            "value": days // 7 if weeks else days,
            "unit": "weeks" if weeks else "days",
            "system": UCUM_SYSTEM,
            "code": "wk" if weeks else "d",
        }
    elif start is not None:
        repeat["boundsPeriod"] = {"start": start.isoformat()}
    if phase.ending is Ending.COUNT and phase.doses is not None:
        repeat["count"] = phase.doses
    if frequency.times_per_week:
        repeat.update(frequency=frequency.times_per_week, period=1, periodUnit="wk")
    else:
        repeat.update(frequency=1, period=frequency.every, periodUnit=_PERIOD_UNITS[frequency.unit])
    dosage: dict[str, Any] = {"sequence": sequence, "text": dosage_text(phase, sequence)}
    instruction = _patient_instruction(phase)
    if instruction is not None:
        dosage["patientInstruction"] = instruction
    dosage["timing"] = {"repeat": repeat}
    dosage["route"] = _route_concept(phase.route)
    dosage["doseAndRate"] = [{"doseQuantity": _quantity(phase.dose_mg, "mg")}]
    return dosage


def medication_request(course: Course, state: CourseState) -> dict[str, Any]:
    """The course as an order: one ``dosageInstruction`` per phase, in order (``sequence`` 1, 2, …)."""
    notes = [
        f"b12 course {course.id}: guideline {course.guideline} version {course.guideline_version}, "
        f"regimen {course.regimen_id or '(a prescription matching no regimen)'}."
    ]
    if course.source_text:
        notes.append(f"Prescription as entered: {course.source_text}")
    return {
        "resourceType": "MedicationRequest",
        "id": course.id,
        "status": _REQUEST_STATUS[state],
        "intent": "order",
        "medicationCodeableConcept": {"text": _medication_text(course.product, course)},
        "subject": {"reference": f"Patient/{course.patient_id}"},
        "authoredOn": course.created_at.isoformat(),
        "note": [{"text": text} for text in notes],
        "dosageInstruction": [
            dosage_instruction(phase, index, course.start if index == 1 else None)
            for index, phase in enumerate(course.phases, start=1)
        ],
    }


def _checkpoint_activity(checkpoint: Checkpoint) -> dict[str, Any]:
    sources = f"; sources {', '.join(checkpoint.sources)}" if checkpoint.sources else ""
    detail: dict[str, Any] = {}
    if checkpoint.kind is CheckpointKind.REVIEW:
        detail["kind"] = "Appointment"
        detail["code"] = {"text": f"Review: {', '.join(checkpoint.tests)}"}
    else:
        detail["kind"] = "ServiceRequest"
        detail["code"] = _tests_concept(checkpoint.tests)
    detail["status"] = "completed" if checkpoint.done_on is not None else "scheduled"
    detail["scheduledTiming"] = {"event": [checkpoint.due.isoformat()]}
    detail["description"] = f"{checkpoint.text} ({checkpoint.rule}{sources})"
    return {"detail": detail}


def _tests_concept(tests: Sequence[str]) -> dict[str, Any]:
    analytes = [Analyte(t) for t in tests if t in set(Analyte)]
    names = ", ".join(_ANALYTE_NAMES.get(a, a.value) for a in analytes) or ", ".join(tests)
    codes = [next((c for c in LOINC[a] if c is not None), None) for a in analytes]
    if len(analytes) > 1 and set(analytes) <= {Analyte.HEMOGLOBIN, Analyte.MCV}:
        return {"coding": [{"system": LOINC_SYSTEM, "code": CBC_PANEL_LOINC}], "text": f"Full blood count ({names})"}
    if len(analytes) == 1 and codes[0] is not None:
        return {"coding": [{"system": LOINC_SYSTEM, "code": codes[0]}], "text": names}
    return {"text": names}


def care_plan(history: History, today: date) -> dict[str, Any]:
    """The plan around the order: the MedicationRequest, then each review and blood test b12 expects."""
    return _care_plan(history.course, course_status(history, today))


def _care_plan(course: Course, status: CourseStatus) -> dict[str, Any]:
    today = status.today
    period: dict[str, Any] = {"start": course.start.isoformat()}
    if status.state is CourseState.STOPPED and status.stopped_on is not None:
        period["end"] = status.stopped_on.isoformat()
    checkpoints = sorted((*status.reviews, *status.checkpoints), key=lambda c: (c.due, c.kind.value, c.rule))
    return {
        "resourceType": "CarePlan",
        "id": _care_plan_id(course),
        "status": _PLAN_STATUS[status.state],
        "intent": "plan",
        "title": f"Vitamin B12 replacement: {course.product.value} ({course.regimen_id or 'prescription'})",
        "description": f"Guideline {course.guideline} version {course.guideline_version}; status as of "
        f"{today.isoformat()}.",
        "subject": {"reference": f"Patient/{course.patient_id}"},
        "period": period,
        "activity": [
            {"reference": {"reference": f"MedicationRequest/{course.id}"}},
            *(_checkpoint_activity(c) for c in checkpoints),
        ],
    }


def _care_plan_id(course: Course) -> str:
    return f"{course.id}-plan"


def medication_administration(dose: DoseGiven, course: Course) -> dict[str, Any]:
    """A dose given; batch and expiry in a contained Medication, the reaction as a "Reaction:" note."""
    product = _medication_text(dose.product, course)
    resource: dict[str, Any] = {"resourceType": "MedicationAdministration", "id": dose.id, "status": "completed"}
    # The importer reads batch and expiry from a contained Medication when there is one, else from the note:
    # a note that reads like a batch ("lot 5") goes out with a contained Medication, so it is not misread.
    if dose.batch is not None or dose.expiry is not None or (dose.note and _reads_as_batch(dose.note)):
        batch: dict[str, Any] = {}
        if dose.batch is not None:
            batch["lotNumber"] = dose.batch
        if dose.expiry is not None:
            batch["expirationDate"] = dose.expiry.isoformat()
        medication: dict[str, Any] = {"resourceType": "Medication", "id": "medication", "code": {"text": product}}
        if batch:
            medication["batch"] = batch
        resource["contained"] = [medication]
        resource["medicationReference"] = {"reference": "#medication", "display": product}
    else:
        resource["medicationCodeableConcept"] = {"text": product}
    resource["subject"] = {"reference": f"Patient/{course.patient_id}"}
    resource["effectiveDateTime"] = dose.at.isoformat()
    if dose.given_by != NOT_RECORDED:
        resource["performer"] = [{"actor": {"display": dose.given_by}}]
    resource["request"] = {"reference": f"MedicationRequest/{course.id}"}
    notes = [{"text": dose.note}] if dose.note else []
    if dose.reaction:
        notes.append({"text": f"Reaction: {dose.reaction}"})
    if notes:
        resource["note"] = notes
    dosage: dict[str, Any] = {}
    if dose.site:
        dosage["site"] = {"text": dose.site}
    dosage["route"] = _route_concept(dose.route)
    dosage["dose"] = _quantity(dose.dose_mg, "mg")
    resource["dosage"] = dosage
    return resource


def skipped_administration(skip: DoseSkipped, course: Course) -> dict[str, Any]:
    """A dose skipped, as an administration ``not-done``: ``effectiveDateTime`` is the day the dose was due (the
    time it was not given; b12 knows the day only), the ``recorded`` extension when the skip was recorded, the
    reason as ``statusReason`` text (no code: b12 records the reason as written). A skip records no product: the
    course's is given, as its request names it."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": skip.id,
        "extension": [{"url": RECORDED_EXTENSION, "valueDateTime": skip.at.isoformat()}],
        "status": "not-done",
    }
    if skip.reason:
        resource["statusReason"] = [{"text": skip.reason}]
    resource["medicationCodeableConcept"] = {"text": _medication_text(course.product, course)}
    resource["subject"] = {"reference": f"Patient/{course.patient_id}"}
    resource["effectiveDateTime"] = skip.due.isoformat()
    resource["request"] = {"reference": f"MedicationRequest/{course.id}"}
    return resource


def adverse_event(reaction: Reaction, course: Course) -> dict[str, Any]:
    """A reaction recorded after a dose: ``actuality`` actual, ``event.text`` as written, ``date`` when it
    happened, the dose as ``suspectEntity``; ``severity`` severe only when b12 recorded it as severe (a reaction
    not marked severe is not known to be mild or moderate, so it has no severity)."""
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": reaction.id,
        "actuality": "actual",
        "event": {"text": reaction.description},
        "subject": {"reference": f"Patient/{course.patient_id}"},
        "date": reaction.at.isoformat(),
    }
    if reaction.severe:
        resource["severity"] = {"coding": [{"system": SEVERITY_SYSTEM, "code": "severe", "display": "Severe"}]}
    resource["suspectEntity"] = [{"instance": {"reference": f"MedicationAdministration/{reaction.dose_id}"}}]
    return resource


def observation(lab: LabEntry) -> dict[str, Any]:
    """A lab result as reported (value and unit), coded with LOINC where b12 has a code for it."""
    try:
        unit = parse_unit(lab.unit)
    except UnitError as error:
        raise FhirExportError([Problem("valueQuantity.unit", str(error))], f"lab result {lab.id}") from error
    coding = []
    loinc = _loinc_for(lab.analyte, unit)
    if loinc is not None:
        coding.append({"system": LOINC_SYSTEM, "code": loinc})
    else:
        coding.append({"system": B12_ANALYTE_SYSTEM, "code": lab.analyte.value})
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": lab.id,
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": "laboratory"}]}],
        "code": {"coding": coding, "text": _ANALYTE_NAMES[lab.analyte]},
        "subject": {"reference": f"Patient/{lab.patient_id}"},
        "effectiveDateTime": lab.taken.isoformat(),
        "valueQuantity": _quantity(lab.value, lab.unit, unit.ucum),
    }
    if lab.lower_limit is not None or lab.upper_limit is not None:
        reference: dict[str, Any] = {}
        if lab.lower_limit is not None:
            reference["low"] = _quantity(lab.lower_limit, lab.unit, unit.ucum)
        if lab.upper_limit is not None:
            reference["high"] = _quantity(lab.upper_limit, lab.unit, unit.ucum)
        resource["referenceRange"] = [reference]
    return resource


def _loinc_for(analyte: Analyte, unit: Unit) -> str | None:
    """The LOINC code whose property matches the unit (mass or substance concentration), else none."""
    mass, moles = LOINC[analyte]
    if unit.dimension is Dimension.MASS_CONCENTRATION:
        return mass
    if unit.dimension is Dimension.AMOUNT_CONCENTRATION:
        return moles
    return mass or moles


def course_bundle(history: History, *, today: date) -> dict[str, Any]:
    """A collection Bundle: MedicationRequest, CarePlan, MedicationAdministrations (doses given by time, then
    doses skipped by due date), AdverseEvents (reactions, by time), Observations (by date), as JSON checked by
    fhir.resources R4B and by :func:`check_codes`."""
    course = history.course
    status = course_status(history, today)
    resources = [
        medication_request(course, status.state),
        _care_plan(course, status),
        *(medication_administration(d, course) for d in sorted(history.doses, key=lambda d: (d.at, d.id))),
        *(skipped_administration(s, course) for s in sorted(history.skips, key=lambda s: (s.due, s.at, s.id))),
        *(adverse_event(r, course) for r in sorted(history.reactions, key=lambda r: (r.at, r.id))),
        *(observation(lab) for lab in sorted(history.labs, key=lambda e: (e.taken, e.id))),
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    return _checked(bundle, f"course {course.id}")


def _checked(bundle: Mapping[str, Any], subject: str) -> dict[str, Any]:
    problems: list[Problem] = []
    for index, entry in enumerate(bundle["entry"]):
        resource_id = entry["resource"].get("id", "")
        if not _FHIR_ID.fullmatch(resource_id):
            problems.append(Problem(f"entry[{index}].resource.id", f"{resource_id!r} is not a FHIR id"))
    problems += check_codes(bundle)
    if problems:
        raise FhirExportError(problems, subject)
    try:
        model = get_fhir_model_class("Bundle").model_validate(bundle)
    except pydantic.ValidationError as error:
        raise FhirExportError(
            [Problem(".".join(str(p) for p in e["loc"]), str(e["msg"])) for e in error.errors()], subject
        ) from error
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped


def dumps(resource: Mapping[str, Any]) -> str:
    """Stable JSON text: two-space indents, UTF-8 characters kept, a final newline."""
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


def export_course(uow: UnitOfWork, course_id: str, *, today: date) -> dict[str, Any]:
    """The Bundle of one stored course (:func:`course_bundle`)."""
    with uow:
        history = uow.tracking.history(course_id)
    if history is None:
        raise FhirExportError([Problem("", f"there is no course {course_id!r}")], f"course {course_id}")
    return course_bundle(history, today=today)
