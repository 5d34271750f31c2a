"""Calendar subscription tokens: a proposed addition to :mod:`b12.ports`, kept here until the lead moves it.

A patient's private ``.ics`` URL carries a secret token; whoever holds the URL can read that calendar, so a
token can be revoked (and a new one created) at any time. :meth:`CalendarTokens.calendar_token` answers only
for a token that is still active, so a revoked URL stops working without the caller checking anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CalendarToken:
    token: str  # the URL-safe secret
    patient_id: str
    course_id: str | None  # None: every course of the patient
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class CalendarTokens(Protocol):
    def create_calendar_token(self, patient_id: str, course_id: str | None, at: datetime) -> CalendarToken:
        """A new token with a fresh secret (``secrets.token_urlsafe``)."""
        ...

    def calendar_token(self, token: str) -> CalendarToken | None:
        """The token if it exists and is not revoked, else None."""
        ...

    def calendar_tokens_for(self, patient_id: str) -> Sequence[CalendarToken]:
        """Every token of the patient, revoked ones included, oldest first."""
        ...

    def revoke_calendar_token(self, token: str, at: datetime) -> bool:
        """Revoke an active token; False if it is unknown or already revoked."""
        ...
