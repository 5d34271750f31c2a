"""Plan and comparison values -> the plan JSON contract (``docs/plan.schema.json``).

The keys here are a stable contract used by other parts of the product and by external checks: add keys,
never rename or drop them. Numbers are rounded for display only at this edge.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import b12
from b12.domain.alerts import Alert
from b12.domain.labs import Interpretation
from b12.domain.plan import DISCLAIMER, Comparison, FollowUp, Plan, RetainedEstimate
from b12.domain.regimen import Phase, Span
from b12.domain.schedule import PhaseTotals, ScheduledDose


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _span(span: Span | None) -> list[float] | None:
    return [span.low, span.high] if span else None


def _num(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "severity": alert.severity.value,
        "message": alert.message,
        "sources": list(alert.sources),
    }


def interpretation_to_dict(interpretation: Interpretation) -> dict[str, Any]:
    ts = interpretation.threshold_set
    return {
        "status": interpretation.status.value,
        "threshold_set": {
            "id": ts.id,
            "version": ts.version,
            "title": ts.title,
            "boundary_rule": ts.boundary_rule,
        },
        "findings": [
            {"code": f.code, "message": f.message, "rule": f.rule, "sources": list(f.sources)}
            for f in interpretation.findings
        ],
        "next_tests": [
            {"test": t.test.value, "reason": t.reason, "rule": t.rule, "sources": list(t.sources)}
            for t in interpretation.next_tests
        ],
        "normalised": [
            {
                "test": r.test.value,
                "value": _num(r.value),
                "unit": r.unit,
                "original_value": r.original_value,
                "original_unit": r.original_unit,
                "other_value": _num(r.other_value),
                "other_unit": r.other_unit,
                "band": r.band,
                "status": r.status.value if r.status else None,
                "date": _iso(r.date),
            }
            for r in interpretation.normalised
        ],
    }


def phase_to_dict(phase: Phase, *, lifelong: bool | None = None) -> dict[str, Any]:
    frequency = phase.frequency
    until = phase.until
    if lifelong is not None and phase.ending.value == "continuing" and phase.kind.value == "maintenance":
        until = "for life" if lifelong else "while the cause persists; reconsider at review"
    return {
        "name": phase.name,
        "kind": phase.kind.value,
        "product": phase.product.value,
        "route": phase.route.value,
        "dose_mg": phase.dose_mg,
        "dose_range_mg": _span(phase.dose_range_mg),
        "frequency": frequency.describe(),
        "every": frequency.every,
        "every_unit": frequency.unit.value,
        "every_range": _span(frequency.every_range),
        "times_per_week": frequency.times_per_week,
        "doses": phase.doses,
        "doses_range": _span(phase.doses_range),
        "duration_days": phase.duration_days,
        "until": until,
        "open_ended": phase.open_ended,
        "gate": phase.gate,
        "rule": phase.rule,
        "sources": list(phase.sources),
        "text": phase.text,
    }


def dose_to_dict(dose: ScheduledDose) -> dict[str, Any]:
    return {
        "date": dose.date.isoformat(),
        "phase": dose.phase,
        "kind": dose.kind.value,
        "dose_mg": dose.dose_mg,
        "route": dose.route.value,
        "product": dose.product.value,
        "volume_ml": _num(dose.volume_ml),
        "syringe_units": _num(dose.syringe_units, 2),
        "provisional": dose.provisional,
    }


def totals_to_dict(totals: PhaseTotals) -> dict[str, Any]:
    return {
        "phase": totals.phase,
        "doses": totals.doses,
        "injections": totals.injections,
        "mg": _num(totals.mg),
        "ml": _num(totals.ml),
        "first": _iso(totals.first),
        "last": _iso(totals.last),
        "complete": totals.complete,
    }


def followup_to_dict(item: FollowUp) -> dict[str, Any]:
    return {
        "date": item.date.isoformat(),
        "kind": item.kind.value,
        "tests": list(item.tests),
        "expect": item.expect,
        "rule": item.rule,
        "sources": list(item.sources),
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan JSON: see ``docs/case-format.md`` for every key."""
    recommendation = plan.recommendation
    regimen = recommendation.regimen
    schedule = plan.schedule
    guideline = plan.guideline
    route = recommendation.first_route
    empty = PhaseTotals("overall", 0, 0, 0.0, None, None, None, True)
    return {
        "b12_version": b12.__version__,
        "disclaimer": DISCLAIMER,
        "guideline": {
            "id": guideline.id,
            "version": guideline.version,
            "title": guideline.title,
            "sources": list(guideline.sources),
        },
        "interpretation": interpretation_to_dict(plan.interpretation),
        "recommendation": {
            "treat": recommendation.treat,
            "reason": recommendation.reason,
            "regimen": regimen.id if regimen else None,
            "title": regimen.title if regimen else None,
            "route": route.value if route else None,
            "product": recommendation.product.value if recommendation.product else None,
            "lifelong": recommendation.lifelong,
            "reconsider": recommendation.reconsider,
            "urgent_specialist_advice": recommendation.urgent_specialist_advice,
            "blocked_products": [p.value for p in recommendation.blocked_products],
            "alternatives": list(recommendation.alternatives),
            "phases": [phase_to_dict(p, lifelong=recommendation.lifelong) for p in recommendation.phases],
        },
        "schedule": [dose_to_dict(d) for d in schedule.doses] if schedule else [],
        "totals": {
            "phases": [totals_to_dict(t) for t in schedule.phases] if schedule else [],
            "overall": totals_to_dict(schedule.overall if schedule else empty),
        },
        "switch": {
            "loading_ends": _iso(schedule.loading_ends) if schedule else None,
            "maintenance_starts": _iso(schedule.maintenance_starts) if schedule else None,
            "note": plan.switch_note,
        },
        "horizon": {
            "start": plan.case.start.isoformat(),
            "end": plan.horizon_end.isoformat(),
            "months": plan.case.horizon_months,
            "undated_phases": list(schedule.undated_phases) if schedule else [],
        },
        "product": {
            "strength": str(plan.strength) if plan.strength else None,
            "syringe": plan.syringe.name if plan.syringe else None,
        },
        "followups": [followup_to_dict(f) for f in plan.followups],
        "alerts": [alert_to_dict(a) for a in plan.alerts],
        "rules_applied": list(plan.rules_applied),
    }


def _retained_to_dict(estimate: RetainedEstimate) -> dict[str, Any]:
    return {
        "low_mg": estimate.low_mg,
        "high_mg": estimate.high_mg,
        "doses_counted": estimate.doses_counted,
        "doses_without_figure": estimate.doses_without_figure,
    }


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    return {
        "b12_version": b12.__version__,
        "disclaimer": DISCLAIMER,
        "start": comparison.start.isoformat(),
        "regimens": [
            {
                "regimen": row.regimen.id,
                "guideline": row.guideline.id,
                "title": row.regimen.title,
                "product": row.regimen.product.value,
                "sources": list(row.regimen.sources),
                "first_8_weeks": totals_to_dict(row.first_8_weeks),
                "first_year": totals_to_dict(row.first_year),
                "loading_ends": _iso(row.loading_ends),
                "maintenance_starts": _iso(row.maintenance_starts),
                "open_ended": row.open_ended,
                "estimated_retained": {
                    "first_8_weeks": _retained_to_dict(row.retained_8_weeks),
                    "first_year": _retained_to_dict(row.retained_first_year),
                },
            }
            for row in comparison.rows
        ],
        "retention_estimate": {
            "label": "estimate",
            "caveat": comparison.retention_caveat,
            "sources": list(comparison.retention_sources),
        },
    }
