"""WallTrack orders: the ``Order`` model, its lifecycle and ``OrderRepository`` (psycopg 3).

See docs/orders.md.
"""

from __future__ import annotations

from .lifecycle import TERMINAL, TRANSITIONS, InvalidTransitionError, OrderStatus
from .model import Order, OrderSide, OrderType
from .repository import OrderConflictError, OrderNotFoundError, OrderRejectedError, OrderRepository
from .validation import OrderValidationError

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
