"""PostgreSQL renderer: statement objects in, SQL text out.

Statement objects say *how* a declared object is created or changed (IF NOT EXISTS, OR REPLACE,
CONCURRENTLY, NOT VALID, ...); the declared objects in :mod:`orders_schema.declare.model` say *what* it is.
One ``_<statement>`` method per statement kind, found by naming convention; the kinds of
:mod:`orders_schema.kinds` render their own statements (indexes, views, comments). Every identifier,
literal, function body and comment line goes through :mod:`orders_schema.declare.quoting`; declared SQL
fragments are pasted as written, after :mod:`orders_schema.declare.fragments` has checked them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orders_schema.declare import model as m
from orders_schema.declare.quoting import comment, ident, qualified
from orders_schema.kinds.comment import CommentOn
from orders_schema.kinds.function import CreateFunction, setting_value_sql
from orders_schema.kinds.function import DropFunctionStatement as DropFunction
from orders_schema.kinds.index import CreateIndex, index_key_sql
from orders_schema.kinds.index import DropIndexStatement as DropIndex
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


@dataclass(frozen=True)
class CreateTable(Statement):
    schema: str
    table: m.Table
    if_not_exists: bool = False


@dataclass(frozen=True)
class CreateTrigger(Statement):
    schema: str
    table: str
    trigger: m.Trigger


@dataclass(frozen=True)
class DropTrigger(Statement):
    schema: str
    table: str
    name: str
    if_exists: bool = True


@dataclass(frozen=True)
class DropTable(Statement):
    schema: str
    name: str
    if_exists: bool = True


@dataclass(frozen=True)
class RenameTable(Statement):
    schema: str
    old: str
    new: str


@dataclass(frozen=True)
class RenameColumn(Statement):
    schema: str
    table: str
    old: str
    new: str


@dataclass(frozen=True)
class RunSql(Statement):
    """Declared SQL run as part of a migration (``Table.populate``): a data backfill."""

    sql: str
    purpose: str


@dataclass(frozen=True)
class AddColumn(Statement):
    schema: str
    table: str
    column: m.Column
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropColumn(Statement):
    schema: str
    table: str
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class AlterColumnType(Statement):
    schema: str
    table: str
    name: str
    type: m.SqlType


@dataclass(frozen=True)
class SetDefault(Statement):
    schema: str
    table: str
    name: str
    default: str | None


@dataclass(frozen=True)
class SetNotNull(Statement):
    schema: str
    table: str
    name: str
    not_null: bool


@dataclass(frozen=True)
class AddConstraint(Statement):
    schema: str
    table: str
    constraint: m.Check | m.ForeignKey | m.Unique | m.PrimaryKey
    not_valid: bool = False
    name: str | None = None
    """Needed for a PrimaryKey (its name lives on the table)."""


@dataclass(frozen=True)
class SwapPrimaryKey(Statement):
    """Drop the old key and make a unique index built beforehand (``CONCURRENTLY``) the primary
    key, in one statement: a brief ACCESS EXCLUSIVE lock, and the table is never without a key."""

    schema: str
    table: str
    drop: tuple[str, ...]
    name: str
    index: str


@dataclass(frozen=True)
class ValidateConstraint(Statement):
    schema: str
    table: str
    name: str


@dataclass(frozen=True)
class DropConstraint(Statement):
    schema: str
    table: str
    name: str
    if_exists: bool = False


# ---------------------------------------------------------------------------------------------


def type_sql(t: m.SqlType) -> str:
    name = t.name.upper()
    return f"{name}({', '.join(str(a) for a in t.args)})" if t.args else name


def check_sql(check: m.Check) -> str:
    return f"CONSTRAINT {ident(check.name)} CHECK ({check.expression})"


def foreign_key_sql(schema: str, fk: m.ForeignKey) -> str:
    ref_schema, _, ref_name = fk.ref_table.rpartition(".")
    target = qualified(ref_schema or schema, ref_name)
    text = (
        f"CONSTRAINT {ident(fk.name)} FOREIGN KEY ({_names(fk.columns)}) "
        f"REFERENCES {target}({_names(fk.ref_columns)})"
    )
    if fk.on_delete != "NO ACTION":
        text += f" ON DELETE {fk.on_delete}"
    return text


def _names(names: Iterable[str]) -> str:
    return ", ".join(ident(n) for n in names)


class PostgresRenderer:
    """Renders statement objects to PostgreSQL text, one method per statement kind."""

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

    # -- schema and tables ------------------------------------------------------------------

    def _create_schema(self, s: CreateSchema) -> str:
        return f"CREATE SCHEMA{' IF NOT EXISTS' if s.if_not_exists else ''} {ident(s.schema)};"

    def _create_table(self, s: CreateTable) -> str:
        table = s.table
        inline_pk = table.primary_key is not None and len(table.primary_key.columns) == 1 and (
            table.primary_key.name in (None, f"{table.name}_pkey")
        )
        lines: list[str] = []
        for i, col in enumerate(table.columns):
            if col.section:
                if i:
                    lines.append("")
                lines.append(f"    {comment(col.section)}")
            lines.append("    " + self._column_def(table, col, inline_pk) + ",")
        table_constraints: list[str] = []
        if table.primary_key and not inline_pk:
            table_constraints.append(
                f"CONSTRAINT {ident(table.pkey_name)} PRIMARY KEY ({_names(table.primary_key.columns)})"
            )
        table_constraints += [check_sql(c) for c in table.checks if c.column is None]
        table_constraints += [foreign_key_sql(s.schema, fk) for fk in table.foreign_keys]
        table_constraints += [f"CONSTRAINT {ident(u.name)} UNIQUE ({_names(u.columns)})" for u in table.uniques]
        if table_constraints:
            lines.append("")
            lines += [f"    {c}," for c in table_constraints]
        lines[-1] = lines[-1].rstrip(",")
        head = f"CREATE TABLE{' IF NOT EXISTS' if s.if_not_exists else ''} {qualified(s.schema, table.name)} ("
        return head + "\n" + "\n".join(lines) + "\n);"

    def _column_def(self, table: m.Table, col: m.Column, inline_pk: bool) -> str:
        parts = [ident(col.name), type_sql(col.type)]
        is_pk = inline_pk and table.primary_key is not None and table.primary_key.columns == (col.name,)
        if is_pk:
            parts.append("PRIMARY KEY")
        elif not col.nullable:
            parts.append("NOT NULL")
        if col.default is not None:
            parts.append(f"DEFAULT {col.default}")
        text = " ".join(parts)
        for check in table.checks:
            if check.column == col.name:
                clause = check_sql(check)
                text = f"{text}\n        {clause}" if len(text) + len(clause) > LINE_LIMIT - 6 else f"{text} {clause}"
        return text

    def _drop_table(self, s: DropTable) -> str:
        return f"DROP TABLE{' IF EXISTS' if s.if_exists else ''} {qualified(s.schema, s.name)};"

    def _rename_table(self, s: RenameTable) -> str:
        return f"ALTER TABLE {qualified(s.schema, s.old)} RENAME TO {ident(s.new)};"

    def _rename_column(self, s: RenameColumn) -> str:
        return f"ALTER TABLE {qualified(s.schema, s.table)} RENAME COLUMN {ident(s.old)} TO {ident(s.new)};"

    def _run_sql(self, s: RunSql) -> str:
        return f"{comment(s.purpose)}\n{terminated(s.sql)}"

    def _alter(self, s: AddColumn | DropColumn | AlterColumnType | SetDefault | SetNotNull, action: str) -> str:
        return f"ALTER TABLE {qualified(s.schema, s.table)} {action};"

    def _add_column(self, s: AddColumn) -> str:
        col = s.column
        text = f"ADD COLUMN{' IF NOT EXISTS' if s.if_not_exists else ''} {ident(col.name)} {type_sql(col.type)}"
        if not col.nullable:
            text += " NOT NULL"
        if col.default is not None:
            text += f" DEFAULT {col.default}"
        return self._alter(s, text)

    def _drop_column(self, s: DropColumn) -> str:
        return self._alter(s, f"DROP COLUMN{' IF EXISTS' if s.if_exists else ''} {ident(s.name)}")

    def _alter_column_type(self, s: AlterColumnType) -> str:
        return self._alter(s, f"ALTER COLUMN {ident(s.name)} TYPE {type_sql(s.type)}")

    def _set_default(self, s: SetDefault) -> str:
        action = "DROP DEFAULT" if s.default is None else f"SET DEFAULT {s.default}"
        return self._alter(s, f"ALTER COLUMN {ident(s.name)} {action}")

    def _set_not_null(self, s: SetNotNull) -> str:
        return self._alter(s, f"ALTER COLUMN {ident(s.name)} {'SET' if s.not_null else 'DROP'} NOT NULL")

    def _add_constraint(self, s: AddConstraint) -> str:
        c = s.constraint
        if isinstance(c, m.Check):
            body = check_sql(c)
        elif isinstance(c, m.ForeignKey):
            body = foreign_key_sql(s.schema, c)
        elif isinstance(c, m.Unique):
            body = f"CONSTRAINT {ident(c.name)} UNIQUE ({_names(c.columns)})"
        else:
            body = f"CONSTRAINT {ident(s.name or '')} PRIMARY KEY ({_names(c.columns)})"
        suffix = " NOT VALID" if s.not_valid else ""
        return f"ALTER TABLE {qualified(s.schema, s.table)}\n    ADD {body}{suffix};"

    def _swap_primary_key(self, s: SwapPrimaryKey) -> str:
        actions = [f"DROP CONSTRAINT IF EXISTS {ident(name)}" for name in s.drop]
        actions.append(f"ADD CONSTRAINT {ident(s.name)} PRIMARY KEY USING INDEX {ident(s.index)}")
        return f"ALTER TABLE {qualified(s.schema, s.table)}\n    " + ",\n    ".join(actions) + ";"

    def _validate_constraint(self, s: ValidateConstraint) -> str:
        return f"ALTER TABLE {qualified(s.schema, s.table)} VALIDATE CONSTRAINT {ident(s.name)};"

    def _drop_constraint(self, s: DropConstraint) -> str:
        exists = " IF EXISTS" if s.if_exists else ""
        return f"ALTER TABLE {qualified(s.schema, s.table)} DROP CONSTRAINT{exists} {ident(s.name)};"

    # -- triggers (indexes, functions, views and comments render in orders_schema.kinds) -----------

    def _create_trigger(self, s: CreateTrigger) -> str:
        t = s.trigger
        events = []
        for event in t.events:
            if event == "UPDATE" and t.update_of:
                events.append(f"UPDATE OF {_names(t.update_of)}")
            else:
                events.append(event)
        lines = [
            f"CREATE TRIGGER {ident(t.name)}",
            f"    {t.timing} {' OR '.join(events)} ON {qualified(s.schema, s.table)}",
        ]
        transition = [f"OLD TABLE AS {ident(t.referencing_old)}"] if t.referencing_old else []
        transition += [f"NEW TABLE AS {ident(t.referencing_new)}"] if t.referencing_new else []
        if transition:
            lines.append(f"    REFERENCING {' '.join(transition)}")
        call = f"EXECUTE FUNCTION {qualified(s.schema, t.function)}()"
        if t.when:
            lines += [f"    FOR EACH {t.for_each}", f"    WHEN ({t.when})", f"    {call};"]
        else:
            lines.append(f"    FOR EACH {t.for_each} {call};")
        return "\n".join(lines)

    def _drop_trigger(self, s: DropTrigger) -> str:
        exists = " IF EXISTS" if s.if_exists else ""
        return f"DROP TRIGGER{exists} {ident(s.name)} ON {qualified(s.schema, s.table)};"


__all__ = [
    "LINE_LIMIT", "RENDERER", "AddColumn", "AddConstraint", "AlterColumnType", "CommentLine", "CommentOn",
    "CreateFunction", "CreateIndex", "CreateSchema", "CreateTable", "CreateTrigger", "CreateView", "DropColumn",
    "DropConstraint", "DropFunction", "DropIndex", "DropTable", "DropTrigger", "DropView", "PhaseHeader",
    "PostgresRenderer", "Raw", "RenameColumn", "RenameTable", "RunSql", "SetDefault", "SetNotNull", "Statement",
    "SwapPrimaryKey", "ValidateConstraint", "check_sql", "foreign_key_sql", "index_key_sql", "render",
    "setting_value_sql", "terminated", "type_sql",
]

RENDERER = PostgresRenderer()


def render(stmt: Statement) -> str:
    return RENDERER.statement(stmt)
