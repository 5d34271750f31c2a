"""Access errors: an account asking for something it may not see or change.

Authorisation itself is :func:`b12.domain.accounts.can_see_patient`; the services raise
:class:`NotAllowedError` when it says no, and also when the thing asked for does not exist, so that the
two cannot be told apart from outside (the web layer answers 404 for both).
"""

from __future__ import annotations

from b12.domain.errors import B12Error


class NotAllowedError(B12Error, PermissionError):
    """``actor_id`` may not see or change ``entity`` ``entity_id`` (or it does not exist)."""

    def __init__(self, actor_id: str | None, entity: str, entity_id: str, action: str = "see") -> None:
        self.actor_id = actor_id
        self.entity = entity
        self.entity_id = entity_id
        self.action = action
        super().__init__(f"No {entity} {entity_id!r} that this account may {action}")
