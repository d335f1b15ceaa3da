"""Kinds of schema objects, each through every stage in one module (see :mod:`.base`).

:data:`KINDS` is the registry: diff, plan, create, inspect and compare walk it. Adding a kind is
one module plus one line here, its declaration's field (on its owner or on the schema) and its
``Catalog`` field; see docs/architecture.md, "Adding a kind".
"""

from __future__ import annotations

from typing import Any

from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.kinds.comment import COMMENT
from orders_schema.kinds.composite import COMPOSITE
from orders_schema.kinds.constraint import CONSTRAINT
from orders_schema.kinds.default_privilege import DEFAULT_PRIVILEGE
from orders_schema.kinds.domain import DOMAIN
from orders_schema.kinds.enum import ENUM
from orders_schema.kinds.extension import EXTENSION
from orders_schema.kinds.function import FUNCTION
from orders_schema.kinds.grant import GRANT
from orders_schema.kinds.index import INDEX
from orders_schema.kinds.owner import OWNER
from orders_schema.kinds.policy import POLICY
from orders_schema.kinds.range import RANGE
from orders_schema.kinds.role import ROLE
from orders_schema.kinds.row_security import ROW_SECURITY
from orders_schema.kinds.schema import SCHEMA
from orders_schema.kinds.sequence import SEQUENCE
from orders_schema.kinds.table import TABLE
from orders_schema.kinds.trigger import TRIGGER
from orders_schema.kinds.view import VIEW

KINDS: tuple[Kind[Any, Any], ...] = (
    # what tables and functions use: created first, dropped last
    SCHEMA, EXTENSION, ENUM, RANGE, DOMAIN, COMPOSITE, ROLE,
    TABLE, SEQUENCE, TRIGGER, CONSTRAINT, INDEX, FUNCTION, VIEW, COMMENT, ROW_SECURITY, POLICY, OWNER, GRANT,
    DEFAULT_PRIVILEGE,
)
"""Every kind on the interface, in rank order."""

__all__ = [
    "COMMENT",
    "COMPOSITE",
    "CONSTRAINT",
    "DEFAULT_PRIVILEGE",
    "DOMAIN",
    "ENUM",
    "EXTENSION",
    "FUNCTION",
    "GRANT",
    "INDEX",
    "KINDS",
    "OWNER",
    "POLICY",
    "RANGE",
    "ROLE",
    "ROW_SECURITY",
    "SCHEMA",
    "SEQUENCE",
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
