"""Calendar subscription tokens: now part of :mod:`b12.ports`; re-exported here for the SQL adapter's imports.

A patient's private ``.ics`` URL carries a secret token; whoever holds the URL can read that calendar, so a
token can be revoked (and a new one created) at any time. :meth:`CalendarTokens.calendar_token` answers only
for a token that is still active, so a revoked URL stops working without the caller checking anything.
"""

from __future__ import annotations

from b12.ports import CalendarToken, CalendarTokens

__all__ = ["CalendarToken", "CalendarTokens"]
