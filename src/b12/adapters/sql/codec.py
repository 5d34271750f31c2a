"""Domain values <-> JSON-ready dicts for the JSON columns: a course's phases, sites and the whole course.

The stored shape is a contract with every database written so far: add keys with a default, never rename or
drop one (a change needs a migration that rewrites the rows). Decoding rebuilds the frozen dataclasses, so
their own ``__post_init__`` checks run again on the way out of the database; a row that fails them, or that
carries keys this version does not know, raises :class:`StoredDataError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from b12.domain.case import Route
from b12.domain.errors import B12Error
from b12.domain.regimen import Ending, Frequency, IntervalUnit, Phase, PhaseKind, Product, Span
from b12.domain.tracking import Course


class StoredDataError(B12Error, ValueError):
    """A stored JSON value that does not decode to a valid domain value; ``field`` says where."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"stored {field}: {problem}")


def _span(span: Span | None) -> list[float] | None:
    return None if span is None else [span.low, span.high]


def _span_from(value: object) -> Span | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"a range is [low, high], not {value!r}")
    return Span(value[0], value[1])


def _check_keys(data: Mapping[str, Any], known: frozenset[str], field: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise StoredDataError(field, f"unknown keys {', '.join(unknown)}")


def frequency_to_json(frequency: Frequency) -> dict[str, Any]:
    return {
        "every": frequency.every,
        "unit": frequency.unit.value,
        "every_range": _span(frequency.every_range),
        "times_per_week": frequency.times_per_week,
    }


_FREQUENCY_KEYS = frozenset({"every", "unit", "every_range", "times_per_week"})


def frequency_from_json(data: Mapping[str, Any], field: str = "frequency") -> Frequency:
    _check_keys(data, _FREQUENCY_KEYS, field)
    try:
        return Frequency(
            every=data["every"],
            unit=IntervalUnit(data["unit"]),
            every_range=_span_from(data.get("every_range")),
            times_per_week=data.get("times_per_week"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise StoredDataError(field, str(error)) from error


def phase_to_json(phase: Phase) -> dict[str, Any]:
    return {
        "name": phase.name,
        "kind": phase.kind.value,
        "product": phase.product.value,
        "route": phase.route.value,
        "dose_mg": phase.dose_mg,
        "dose_range_mg": _span(phase.dose_range_mg),
        "frequency": frequency_to_json(phase.frequency),
        "ending": phase.ending.value,
        "rule": phase.rule,
        "sources": list(phase.sources),
        "text": phase.text,
        "doses": phase.doses,
        "doses_range": _span(phase.doses_range),
        "duration_days": phase.duration_days,
        "until": phase.until,
        "gate": phase.gate,
    }


_PHASE_KEYS = frozenset(
    {
        "name",
        "kind",
        "product",
        "route",
        "dose_mg",
        "dose_range_mg",
        "frequency",
        "ending",
        "rule",
        "sources",
        "text",
        "doses",
        "doses_range",
        "duration_days",
        "until",
        "gate",
    }
)


def phase_from_json(data: Mapping[str, Any], field: str = "phase") -> Phase:
    if not isinstance(data, Mapping):
        raise StoredDataError(field, f"a phase is an object, not {data!r}")
    _check_keys(data, _PHASE_KEYS, field)
    try:
        dose_range = _span_from(data["dose_range_mg"])
        if dose_range is None:
            raise ValueError("dose_range_mg is required")
        return Phase(
            name=data["name"],
            kind=PhaseKind(data["kind"]),
            product=Product(data["product"]),
            route=Route(data["route"]),
            dose_mg=data["dose_mg"],
            dose_range_mg=dose_range,
            frequency=frequency_from_json(data["frequency"], f"{field}.frequency"),
            ending=Ending(data["ending"]),
            rule=data["rule"],
            sources=tuple(data["sources"]),
            text=data["text"],
            doses=data.get("doses"),
            doses_range=_span_from(data.get("doses_range")),
            duration_days=data.get("duration_days"),
            until=data.get("until"),
            gate=data.get("gate"),
        )
    except StoredDataError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise StoredDataError(field, str(error)) from error


def phases_to_json(phases: Sequence[Phase]) -> list[dict[str, Any]]:
    return [phase_to_json(phase) for phase in phases]


def phases_from_json(data: object) -> tuple[Phase, ...]:
    if not isinstance(data, list) or not data:
        raise StoredDataError("phases", "a course stores a non-empty list of phases")
    return tuple(phase_from_json(item, f"phases[{index}]") for index, item in enumerate(data))


def course_to_json(course: Course) -> dict[str, Any]:
    """The whole course as JSON-ready data (dates ISO 8601, date-times in UTC), e.g. for an audit detail."""
    return {
        "id": course.id,
        "patient_id": course.patient_id,
        "guideline": course.guideline,
        "guideline_version": course.guideline_version,
        "regimen_id": course.regimen_id,
        "phases": phases_to_json(course.phases),
        "product": course.product.value,
        "strength": course.strength,
        "syringe": course.syringe,
        "start": course.start.isoformat(),
        "created_by": course.created_by,
        "created_at": course.created_at.astimezone(UTC).isoformat(),
        "lifelong": course.lifelong,
        "sites": list(course.sites),
        "source_text": course.source_text,
        "review_months": course.review_months,
        "anaemia": course.anaemia,
        "potassium_first_48h": course.potassium_first_48h,
    }


_COURSE_KEYS = frozenset(
    {
        "id",
        "patient_id",
        "guideline",
        "guideline_version",
        "regimen_id",
        "phases",
        "product",
        "strength",
        "syringe",
        "start",
        "created_by",
        "created_at",
        "lifelong",
        "sites",
        "source_text",
        "review_months",
        "anaemia",
        "potassium_first_48h",
    }
)


def course_from_json(data: Mapping[str, Any]) -> Course:
    _check_keys(data, _COURSE_KEYS, "course")
    try:
        created_at = datetime.fromisoformat(data["created_at"])
        if created_at.tzinfo is None:
            raise ValueError("created_at has no time zone")
        return Course(
            id=data["id"],
            patient_id=data["patient_id"],
            guideline=data["guideline"],
            guideline_version=data["guideline_version"],
            regimen_id=data.get("regimen_id"),
            phases=phases_from_json(data["phases"]),
            product=Product(data["product"]),
            strength=data["strength"],
            syringe=data.get("syringe"),
            start=date.fromisoformat(data["start"]),
            created_by=data["created_by"],
            created_at=created_at.astimezone(UTC),
            lifelong=data.get("lifelong", False),
            sites=tuple(data["sites"]),
            source_text=data.get("source_text"),
            review_months=data.get("review_months", 3),
            anaemia=data.get("anaemia", False),
            potassium_first_48h=data.get("potassium_first_48h", False),
        )
    except StoredDataError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise StoredDataError("course", str(error)) from error
