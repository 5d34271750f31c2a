"""Alerts, notes and citations shared by interpretation and planning.

Every piece of advice b12 gives carries the rule ID of REFERENCE.md §11 (or a b12 rule ID that the
guideline data file defines and marks as such) and the source IDs ``S1``…``S112`` of REFERENCE.md §12,
so a clinician can check the basis of each line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    severity: Severity
    message: str
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.rule or not self.message:
            raise ValueError("an alert needs a rule ID and a message")


def severity_order(alert: Alert) -> int:
    """Sort key putting critical alerts first."""
    return {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}[alert.severity]
