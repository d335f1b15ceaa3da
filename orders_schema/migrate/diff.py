"""Diff: two declared schemas -> changes, as plain data, each with its reverse.

No database and no SQL text here: :mod:`orders_schema.migrate.plan` turns changes into statements.
Objects are matched by name; a rename is only seen when declared (``renamed_from``), never
guessed. Two objects are the same when their normalised forms are equal: SQL fragments compare
by their sqlglot parse (so ``NOW()`` and ``now()`` do not differ, and a generated version settles:
diffing again after it yields nothing); function bodies compare verbatim, as PostgreSQL stores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

from orders_schema.declare import fragments
from orders_schema.declare import model as m
from orders_schema.kinds import CONSTRAINT, INDEX, KINDS, TRIGGER, VIEW
from orders_schema.kinds.comment import SetComment
from orders_schema.kinds.constraint import AddConstraint, DropConstraint
from orders_schema.kinds.function import AddFunction, DropFunction, ReplaceFunction
from orders_schema.kinds.index import AddIndex, DropIndex
from orders_schema.kinds.table import (
    AddColumn,
    AddTable,
    AlterColumn,
    ChangePrimaryKey,
    DropColumn,
    DropTable,
    RenameColumn,
    RenamePrimaryKey,
    RenameTable,
    diff_table,
    renames,
    same_column,
)
from orders_schema.kinds.trigger import AddTrigger, DropTrigger
from orders_schema.kinds.type_rename import type_renames
from orders_schema.kinds.view import AddView, DropView, ReplaceView
from orders_schema.migrate.change import Change

same_index = INDEX.same
same_view = VIEW.same
same_trigger = TRIGGER.same
same_check = CONSTRAINT.same
"""Two CHECKs are the same when their normalised expressions are."""

__all__ = [
    "AddColumn", "AddConstraint", "AddFunction", "AddIndex", "AddTable", "AddTrigger", "AddView", "AlterColumn",
    "Change", "ChangePrimaryKey", "DropColumn", "DropConstraint", "DropFunction", "DropIndex", "DropTable",
    "DropTrigger", "DropView", "RenameColumn", "RenamePrimaryKey", "RenameTable", "ReplaceFunction", "ReplaceView",
    "SetComment", "diff", "diff_table", "normal", "renames", "reverse", "same_check", "same_column", "same_index",
    "same_trigger", "same_view",
]


normal = fragments.normal
"""Canonical form of a SQL fragment (:func:`orders_schema.declare.fragments.normal`)."""


# ---------------------------------------------------------------------------------------------


def reverse(changes: Sequence[Change]) -> list[Change]:
    """The changes that undo ``changes`` (a down script), each from its own :meth:`Change.reverse`.

    Changes name tables and columns as they are after the renames they come with; undone, the
    renames run first, so every reversed change names the objects as they are after the renames
    back (the released names). A primary key renamed with its table is named back too, so a key
    changed in the same version is swapped under the name it has after the renames back.
    """
    tables = {c.new: c.old for c in changes if isinstance(c, RenameTable)}
    columns = {(c.table, c.new): c.old for c in changes if isinstance(c, RenameColumn)}
    keys = {(c.table, c.new): c.old for c in changes if isinstance(c, RenamePrimaryKey)}
    out: list[Change] = []
    for change in changes:
        back = change.reverse()
        if isinstance(back, RenameTable):
            out.append(back)
            continue
        if isinstance(back, RenameColumn):  # undone after its table's rename back
            out.append(replace(back, table=tables.get(back.table, back.table)))
            continue
        table = getattr(back, "table", None)
        if isinstance(table, str):
            renamed: dict[str, Any] = {}
            for f in fields(back):  # type: ignore[arg-type]
                value = getattr(back, f.name)
                if isinstance(value, m.Column) and (table, value.name) in columns:
                    renamed[f.name] = value.model_copy(update={"name": columns[(table, value.name)]})
            if isinstance(back, ChangePrimaryKey):
                renamed["old_name"] = back.old_name and keys.get((table, back.old_name), back.old_name)
                renamed["new_name"] = back.new_name and keys.get((table, back.new_name), back.new_name)
            back = replace(back, table=tables.get(table, table), **renamed)  # type: ignore[type-var]
        out.append(back)
    return out


def diff(old: m.Schema, new: m.Schema) -> list[Change]:
    """Changes that turn ``old`` into ``new``, in no particular order (the planner orders them).

    Declared renames come first and are applied to ``old``: every other change names tables and
    columns as they are after them. Then each kind of :data:`orders_schema.kinds.KINDS` (tables
    with their columns and primary key, triggers, CHECK / foreign key / UNIQUE constraints,
    indexes, functions, views, comments) diffs the renamed ``old`` against ``new``.
    """
    if old.name != new.name:
        raise ValueError(f"cannot diff schema {old.name} against schema {new.name}")
    changes, old = renames(old, new)
    renamed_types, old = type_renames(old, new)
    changes += renamed_types
    for kind in KINDS:
        changes += kind.diff(old, new)
    return changes

