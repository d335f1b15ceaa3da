"""Diff: two declared schemas -> changes, as plain data, each with its reverse.

No database and no SQL text here: :mod:`orders_schema.migrate.plan` turns changes into statements.
Objects are matched by name; a rename is only seen when declared (``renamed_from``), never
guessed. Two objects are the same when their normalised forms are equal: SQL fragments compare
by their sqlglot parse (so ``NOW()`` and ``now()`` do not differ, and a generated version settles:
diffing again after it yields nothing); function bodies compare verbatim, as PostgreSQL stores them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from orders_schema.declare import fragments
from orders_schema.declare import model as m
from orders_schema.kinds import INDEX, KINDS, VIEW
from orders_schema.kinds.comment import SetComment
from orders_schema.kinds.function import AddFunction, DropFunction, ReplaceFunction
from orders_schema.kinds.index import AddIndex, DropIndex
from orders_schema.kinds.view import AddView, DropView, ReplaceView
from orders_schema.migrate.change import Change

same_index = INDEX.same
same_view = VIEW.same

__all__ = [
    "AddColumn", "AddConstraint", "AddFunction", "AddIndex", "AddTable", "AddTrigger", "AddView", "AlterColumn",
    "Change", "ChangePrimaryKey", "DropColumn", "DropConstraint", "DropFunction", "DropIndex", "DropTable",
    "DropTrigger", "DropView", "RenameColumn", "RenameTable", "ReplaceFunction", "ReplaceView", "SetComment",
    "diff", "diff_table", "normal", "renames", "reverse", "same_check", "same_column", "same_index",
    "same_trigger", "same_view",
]


normal = fragments.normal
"""Canonical form of a SQL fragment (:func:`orders_schema.declare.fragments.normal`)."""


def same_column(a: m.Column, b: m.Column) -> bool:
    return (a.name, a.type, a.nullable, normal(a.default)) == (b.name, b.type, b.nullable, normal(b.default))


def same_check(a: m.Check, b: m.Check) -> bool:
    return normal(a.expression) == normal(b.expression)


def same_trigger(a: m.Trigger, b: m.Trigger) -> bool:
    return a.model_copy(update={"when": normal(a.when)}) == b.model_copy(update={"when": normal(b.when)})



# ---------------------------------------------------------------------------------------------
# Changes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddTable(Change):
    table: m.Table

    def reverse(self) -> Change:
        return DropTable(self.table)


@dataclass(frozen=True)
class DropTable(Change):
    table: m.Table

    def reverse(self) -> Change:
        return AddTable(self.table)


@dataclass(frozen=True)
class RenameTable(Change):
    old: str
    new: str

    def reverse(self) -> Change:
        return RenameTable(self.new, self.old)


@dataclass(frozen=True)
class AddColumn(Change):
    table: str
    column: m.Column

    def reverse(self) -> Change:
        return DropColumn(self.table, self.column)


@dataclass(frozen=True)
class DropColumn(Change):
    table: str
    column: m.Column

    def reverse(self) -> Change:
        return AddColumn(self.table, self.column)


@dataclass(frozen=True)
class RenameColumn(Change):
    table: str
    old: str
    new: str

    def reverse(self) -> Change:
        return RenameColumn(self.table, self.new, self.old)


@dataclass(frozen=True)
class AlterColumn(Change):
    """Type, default and/or nullability of one column changed."""

    table: str
    old: m.Column
    new: m.Column

    def reverse(self) -> Change:
        return AlterColumn(self.table, self.new, self.old)


@dataclass(frozen=True)
class AddConstraint(Change):
    table: str
    constraint: m.Check | m.ForeignKey | m.Unique

    def reverse(self) -> Change:
        return DropConstraint(self.table, self.constraint)


@dataclass(frozen=True)
class DropConstraint(Change):
    table: str
    constraint: m.Check | m.ForeignKey | m.Unique

    def reverse(self) -> Change:
        return AddConstraint(self.table, self.constraint)


@dataclass(frozen=True)
class ChangePrimaryKey(Change):
    """The table's primary key changes columns or name (``None``: the table has none); the names
    are the constraints' (``Table.pkey_name``: PostgreSQL's ``<table>_pkey`` unless declared)."""

    table: str
    old: m.PrimaryKey | None
    new: m.PrimaryKey | None
    old_name: str | None
    new_name: str | None

    def reverse(self) -> Change:
        return ChangePrimaryKey(self.table, self.new, self.old, self.new_name, self.old_name)


@dataclass(frozen=True)
class AddTrigger(Change):
    table: str
    trigger: m.Trigger

    def reverse(self) -> Change:
        return DropTrigger(self.table, self.trigger)


@dataclass(frozen=True)
class DropTrigger(Change):
    table: str
    trigger: m.Trigger

    def reverse(self) -> Change:
        return AddTrigger(self.table, self.trigger)


# ---------------------------------------------------------------------------------------------


def reverse(changes: Sequence[Change]) -> list[Change]:
    """The changes that undo ``changes`` (a down script), each from its own :meth:`Change.reverse`.

    Changes name tables and columns as they are after the renames they come with; undone, the
    renames run first, so every reversed change names the objects as they are after the renames
    back (the released names).
    """
    tables = {c.new: c.old for c in changes if isinstance(c, RenameTable)}
    columns = {(c.table, c.new): c.old for c in changes if isinstance(c, RenameColumn)}
    out: list[Change] = []
    for change in changes:
        back = change.reverse()
        if isinstance(back, (RenameTable, RenameColumn)):
            out.append(back)
            continue
        table = getattr(back, "table", None)
        if isinstance(table, str):
            renamed: dict[str, Any] = {}
            for f in fields(back):  # type: ignore[arg-type]
                value = getattr(back, f.name)
                if isinstance(value, m.Column) and (table, value.name) in columns:
                    renamed[f.name] = value.model_copy(update={"name": columns[(table, value.name)]})
            back = replace(back, table=tables.get(table, table), **renamed)  # type: ignore[type-var]
        out.append(back)
    return out


def diff(old: m.Schema, new: m.Schema) -> list[Change]:
    """Changes that turn ``old`` into ``new``, in no particular order (the planner orders them).

    Declared renames come first and are applied to ``old``: every other change names tables and
    columns as they are after them. Tables are diffed here; then each kind of
    :data:`orders_schema.kinds.KINDS` (indexes, functions, views, comments) diffs the renamed
    ``old`` against ``new``.
    """
    if old.name != new.name:
        raise ValueError(f"cannot diff schema {old.name} against schema {new.name}")
    changes, old = renames(old, new)
    old_tables = {t.name: t for t in old.tables}
    new_tables = {t.name: t for t in new.tables}
    for name, table in new_tables.items():
        if name not in old_tables:
            changes.append(AddTable(table))
        else:
            changes += diff_table(old_tables[name], table)
    changes += [DropTable(t) for name, t in old_tables.items() if name not in new_tables]

    for kind in KINDS:
        changes += kind.diff(old, new)
    return changes


def renames(old: m.Schema, new: m.Schema) -> tuple[list[Change], m.Schema]:
    """The declared renames of tables and columns, and ``old`` with them applied."""
    changes: list[Change] = []
    old_tables = {t.name: t for t in old.tables}
    renamed = {t.renamed_from: t.name for t in new.tables if t.renamed_from and t.renamed_from in old_tables
               and t.name not in old_tables}
    for old_name, new_name in renamed.items():
        changes.append(RenameTable(old_name, new_name))
    tables: list[m.Table] = []
    new_tables = {t.name: t for t in new.tables}
    for table in old.tables:
        name = renamed.get(table.name, table.name)
        table = table.model_copy(update={"name": name})
        if name in new_tables:
            old_cols = {c.name for c in table.columns}
            moves = {c.renamed_from: c.name for c in new_tables[name].columns
                     if c.renamed_from and c.renamed_from in old_cols and c.name not in old_cols}
            changes += [RenameColumn(name, a, b) for a, b in moves.items()]
            columns = tuple(c.model_copy(update={"name": moves.get(c.name, c.name)}) for c in table.columns)
            table = table.model_copy(update={"columns": columns})
        tables.append(table)
    return changes, old.model_copy(update={"tables": tuple(tables)})


def diff_table(old: m.Table, new: m.Table) -> list[Change]:
    """Columns, primary key, constraints and triggers of one table (``old`` with its renames
    applied, see :func:`renames`); its indexes and comments are diffed by their kinds."""
    t = new.name
    changes: list[Change] = []
    old_cols = {c.name: c for c in old.columns}
    for col in new.columns:
        if col.name not in old_cols:
            changes.append(AddColumn(t, col))
        elif not same_column(old_cols[col.name], col):
            changes.append(AlterColumn(t, old_cols[col.name], col))
    new_names = set(new.column_names)
    changes += [DropColumn(t, c) for name, c in old_cols.items() if name not in new_names]

    old_pk, new_pk = _pkey(old), _pkey(new)
    if old_pk != new_pk:
        changes.append(ChangePrimaryKey(t, old.primary_key, new.primary_key,
                                        old_pk[0] if old_pk else None, new_pk[0] if new_pk else None))
    changes += _diff_named(t, old.checks, new.checks, same_check)
    changes += _diff_named(t, old.foreign_keys, new.foreign_keys, lambda a, b: bool(a == b))
    changes += _diff_named(t, old.uniques, new.uniques, lambda a, b: bool(a == b))
    changes += _diff_named(t, old.triggers, new.triggers, same_trigger, AddTrigger, DropTrigger)
    return changes


def _pkey(table: m.Table) -> tuple[str, tuple[str, ...]] | None:
    return None if table.primary_key is None else (table.pkey_name, table.primary_key.columns)


def _diff_named(
    table: str,
    old: Sequence[Any],
    new: Sequence[Any],
    same: Callable[[Any, Any], bool],
    add: Callable[[str, Any], Change] = AddConstraint,
    drop: Callable[[str, Any], Change] = DropConstraint,
) -> list[Change]:
    """Objects of one table matched by name: added, dropped, or (when not ``same``) dropped and re-added."""
    changes: list[Change] = []
    old_by = {c.name: c for c in old}
    new_by = {c.name: c for c in new}
    for name, c in new_by.items():
        if name not in old_by:
            changes.append(add(table, c))
        elif not same(old_by[name], c):
            changes += [drop(table, old_by[name]), add(table, c)]
    changes += [drop(table, c) for name, c in old_by.items() if name not in new_by]
    return changes
