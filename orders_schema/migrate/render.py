"""PostgreSQL renderer: statement objects in, SQL text out.

Statement objects say *how* a declared object is created or changed (IF NOT EXISTS, OR REPLACE,
CONCURRENTLY, NOT VALID, ...); the declared objects in :mod:`orders_schema.declare.model` say *what* it is.
One ``_<statement>`` method per layout statement (phase headers, comment lines, raw
statements, CREATE SCHEMA), found by naming convention; the kinds of :mod:`orders_schema.kinds`
render their own statements (tables and columns, triggers, constraints, indexes, functions,
views, comments). Every identifier, literal, function body and comment line goes through
:mod:`orders_schema.declare.quoting`; declared SQL fragments are pasted as written, after
:mod:`orders_schema.declare.fragments` has checked them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from orders_schema.declare.quoting import comment, ident
from orders_schema.kinds.comment import CommentOn
from orders_schema.kinds.constraint import AddConstraintStatement as AddConstraint
from orders_schema.kinds.constraint import DropConstraintStatement as DropConstraint
from orders_schema.kinds.constraint import ValidateConstraint, check_sql, foreign_key_sql
from orders_schema.kinds.function import CreateFunction, setting_value_sql
from orders_schema.kinds.function import DropFunctionStatement as DropFunction
from orders_schema.kinds.index import CreateIndex, index_key_sql
from orders_schema.kinds.index import DropIndexStatement as DropIndex
from orders_schema.kinds.table import AddColumnStatement as AddColumn
from orders_schema.kinds.table import (
    AlterColumnType,
    CreateTable,
    RunSql,
    SetDefault,
    SetNotNull,
    SwapPrimaryKey,
    type_sql,
)
from orders_schema.kinds.table import DropColumnStatement as DropColumn
from orders_schema.kinds.table import DropTableStatement as DropTable
from orders_schema.kinds.table import RenameColumnStatement as RenameColumn
from orders_schema.kinds.table import RenameConstraintStatement as RenameConstraint
from orders_schema.kinds.table import RenameTableStatement as RenameTable
from orders_schema.kinds.trigger import CreateTrigger
from orders_schema.kinds.trigger import DropTriggerStatement as DropTrigger
from orders_schema.kinds.view import CreateView
from orders_schema.kinds.view import DropViewStatement as DropView
from orders_schema.migrate.statement import LINE_LIMIT, RENDERERS, Statement, terminated


@dataclass(frozen=True)
class CommentLine(Statement):
    text: str


@dataclass(frozen=True)
class PhaseHeader(Statement):
    title: str


@dataclass(frozen=True)
class Raw(Statement):
    """A statement the planner spells itself (SET lock_timeout, ...); never user text."""

    sql: str


@dataclass(frozen=True)
class CreateSchema(Statement):
    schema: str
    if_not_exists: bool = True


# ---------------------------------------------------------------------------------------------


class PostgresRenderer:
    """Renders statement objects to PostgreSQL text: the layout here, the kinds' statements by
    their registered functions."""

    def statement(self, stmt: Statement) -> str:
        """One statement: by this renderer's ``_<statement>`` method, else by the function its
        kind registered (:func:`orders_schema.migrate.statement.renders`)."""
        method = getattr(self, "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", type(stmt).__name__).lower(), None)
        text: str = method(stmt) if method is not None else RENDERERS[type(stmt)](stmt)
        return text

    def script(self, statements: Sequence[Statement], header: Sequence[str] = ()) -> str:
        """A whole file: header comment lines, then statements separated as a DBA would lay them out."""
        out: list[str] = [comment(line) for line in header]
        previous: Statement | None = None
        for stmt in statements:
            text = self.statement(stmt)
            if out and self._gap_before(previous, stmt):
                out.append("")
            out.append(text)
            previous = stmt
        return "\n".join(out).rstrip() + "\n"

    @staticmethod
    def _gap_before(previous: Statement | None, stmt: Statement) -> bool:
        if previous is None or isinstance(stmt, PhaseHeader) or isinstance(previous, PhaseHeader):
            return True
        if isinstance(previous, CommentLine):
            return False
        if isinstance(stmt, CreateTrigger) and isinstance(previous, DropTrigger):
            return False
        if isinstance(stmt, CreateIndex) and isinstance(previous, CreateIndex):
            return False
        if isinstance(stmt, ValidateConstraint) and isinstance(previous, ValidateConstraint):
            return False
        if isinstance(stmt, CommentOn) and isinstance(previous, (CommentOn, CreateTable)):
            return False
        return not (isinstance(stmt, Raw) and isinstance(previous, Raw))

    # -- layout -----------------------------------------------------------------------------

    def _comment_line(self, s: CommentLine) -> str:
        return "\n".join(comment(line) for line in s.text.splitlines() or [""])

    def _phase_header(self, s: PhaseHeader) -> str:
        rule = "-- " + "=" * 60
        return f"{rule}\n{comment(s.title)}\n{rule}"

    def _raw(self, s: Raw) -> str:
        return s.sql

    # -- schema -------------------------------------------------------------------------------

    def _create_schema(self, s: CreateSchema) -> str:
        return f"CREATE SCHEMA{' IF NOT EXISTS' if s.if_not_exists else ''} {ident(s.schema)};"


__all__ = [
    "LINE_LIMIT", "RENDERER", "AddColumn", "AddConstraint", "AlterColumnType", "CommentLine", "CommentOn",
    "CreateFunction", "CreateIndex", "CreateSchema", "CreateTable", "CreateTrigger", "CreateView", "DropColumn",
    "DropConstraint", "DropFunction", "DropIndex", "DropTable", "DropTrigger", "DropView", "PhaseHeader",
    "PostgresRenderer", "Raw", "RenameColumn", "RenameConstraint", "RenameTable", "RunSql", "SetDefault", "SetNotNull",
    "Statement", "SwapPrimaryKey", "ValidateConstraint", "check_sql", "foreign_key_sql", "index_key_sql", "render",
    "setting_value_sql", "terminated", "type_sql",
]

RENDERER = PostgresRenderer()


def render(stmt: Statement) -> str:
    return RENDERER.statement(stmt)
