"""Kinds of schema objects, each through every stage in one module (see :mod:`.base`).

:data:`KINDS` is the registry: diff, plan, create, inspect and compare walk it. Adding a kind is
one module plus one line here, its declaration's field (on its owner or on the schema) and its
``Catalog`` field; see docs/architecture.md, "Adding a kind".
"""

from __future__ import annotations

from typing import Any

from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.kinds.comment import COMMENT
from orders_schema.kinds.constraint import CONSTRAINT
from orders_schema.kinds.function import FUNCTION
from orders_schema.kinds.index import INDEX
from orders_schema.kinds.table import TABLE
from orders_schema.kinds.trigger import TRIGGER
from orders_schema.kinds.view import VIEW

KINDS: tuple[Kind[Any, Any], ...] = (TABLE, TRIGGER, CONSTRAINT, INDEX, FUNCTION, VIEW, COMMENT)
"""Every kind on the interface, in rank order."""

__all__ = [
    "COMMENT",
    "CONSTRAINT",
    "FUNCTION",
    "INDEX",
    "KINDS",
    "TABLE",
    "TRIGGER",
    "VIEW",
    "Declaration",
    "Declared",
    "Kind",
    "PlanContext",
    "Planned",
    "Undeclared",
]
