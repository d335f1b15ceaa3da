"""The order lifecycle: which status may follow which.

::

    pending ──> submitted ──> confirming ──> filled
    pending | submitted | confirming ──> failed
    failed ──> pending | submitted      (a retry, only while attempts remain)
    pending | submitted | confirming | failed ──> cancelled

``filled`` and ``cancelled`` are terminal: nothing follows them. ``failed`` is *not* terminal: a
failed order is retried (back to ``pending`` or straight to ``submitted``) while
``attempt_count < max_attempts``, or cancelled. Keeping the same status is not a transition and is
always allowed (recording a ``tx_signature``, pushing ``next_retry_at`` back...).

The repository checks every status change against the status *stored* in the database, inside
the transaction that writes it, so a forbidden change writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from orders_schema.walltrack.orders.model import Order


class OrderStatus(str, Enum):
    """The ``status`` column's values (the CHECK ``orders_status_check``)."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    CONFIRMING = "confirming"
    FILLED = "filled"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = OrderStatus

INITIAL = S.PENDING
"""Every order starts here: ``OrderRepository.create`` stores nothing else."""

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.SUBMITTED, S.FAILED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.CONFIRMING, S.FAILED, S.CANCELLED}),
    S.CONFIRMING: frozenset({S.FILLED, S.FAILED, S.CANCELLED}),
    S.FAILED: frozenset({S.PENDING, S.SUBMITTED, S.CANCELLED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
}
"""status -> the statuses that may follow it."""

TERMINAL: frozenset[OrderStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
"""Statuses nothing may follow: ``filled`` and ``cancelled``."""

RETRIES: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset({(S.FAILED, S.PENDING), (S.FAILED, S.SUBMITTED)})
"""Transitions that retry a failed order; allowed only while attempts remain."""


class InvalidTransitionError(ValueError):
    """A status change the lifecycle forbids; nothing was written.

    ``current`` is the stored status (``None`` when the order does not exist yet).
    """

    def __init__(self, order_id: UUID, current: OrderStatus | None, target: OrderStatus, reason: str) -> None:
        self.order_id = order_id
        self.current = current
        self.target = target
        self.reason = reason
        origin = "a new order" if current is None else f"{current.value!r}"
        super().__init__(f"order {order_id}: cannot go from {origin} to {target.value!r}: {reason}")


def can_follow(current: OrderStatus, target: OrderStatus) -> bool:
    """Whether ``target`` may follow ``current`` (the same status always may)."""
    return target == current or target in TRANSITIONS[current]


def check_new(order: Order) -> None:
    """A new order must start ``pending``."""
    if order.status != INITIAL:
        raise InvalidTransitionError(
            order.id, None, order.status, f"a new order starts {INITIAL.value!r}; move it through the lifecycle"
        )


def check_transition(stored: Order, changed: Order) -> None:
    """Raise :class:`InvalidTransitionError` unless ``changed`` may replace ``stored``."""
    current, target = stored.status, changed.status
    if target == current:
        return
    if target not in TRANSITIONS[current]:
        if current in TERMINAL:
            reason = f"{current.value!r} is terminal"
        else:
            allowed = ", ".join(repr(s.value) for s in OrderStatus if s in TRANSITIONS[current])
            reason = f"from {current.value!r} only {allowed} may follow"
        raise InvalidTransitionError(stored.id, current, target, reason)
    if (current, target) in RETRIES and not stored.can_retry:
        raise InvalidTransitionError(
            stored.id, current, target,
            f"no attempts left ({stored.attempt_count} of {stored.max_attempts} used)",
        )
