"""WallTrack orders: the ``Order`` model, its lifecycle and ``OrderRepository`` (psycopg 3).

See docs/orders.md.
"""

from __future__ import annotations

from orders_schema.walltrack.orders.lifecycle import TERMINAL, TRANSITIONS, InvalidTransitionError, OrderStatus
from orders_schema.walltrack.orders.model import Order, OrderSide, OrderType
from orders_schema.walltrack.orders.repository import (
    OrderConflictError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRepository,
)
from orders_schema.walltrack.orders.validation import OrderValidationError

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "InvalidTransitionError",
    "Order",
    "OrderConflictError",
    "OrderNotFoundError",
    "OrderRejectedError",
    "OrderRepository",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "OrderValidationError",
]
