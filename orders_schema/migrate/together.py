"""Several schemas planned together: their statements ordered by the dependencies between them.

A table of ``app`` with a foreign key to ``ref.codes``, a view of ``api`` reading ``app.orders``,
a default of ``app`` calling ``util.next_code()``, a column of ``app`` typed ``types.mood``: each
schema's plan (:func:`orders_schema.migrate.plan.placed`) is built on its own, then the plans are
laid out stage by stage across the schemas (every schema's types and functions before any table,
every table before any foreign key, view or trigger...), the schemas in dependency order within a
stage (:func:`schema_order`: what a schema uses first) and the other way round in the stages that
take objects away. Foreign keys between schemas close the ``create`` stage, once every schema's
tables exist, so two schemas that reference each other's tables plan too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from orders_schema.declare import model as m
from orders_schema.declare.sqltype import SqlType
from orders_schema.kinds.constraint import AddConstraintStatement, DropConstraintStatement
from orders_schema.kinds.schema import CreateSchemaStatement, DropSchemaStatement
from orders_schema.migrate import diff as d
from orders_schema.migrate import plan
from orders_schema.migrate.render import Statement

__all__ = ["create_statements", "migration_plan", "schema_order", "uses"]


def _values(value: Any, field: str = "") -> Iterator[tuple[str, Any]]:
    """Every (field name, leaf value) of a declaration, recursively."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _values(getattr(value, name), name)
        if isinstance(value, SqlType):
            yield "in_schema", value.in_schema
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _values(item, field)
    else:
        yield field, value


def uses(schema: m.Schema, others: Sequence[str]) -> set[str]:
    """The schemas of ``others`` that ``schema``'s declarations name: a type's schema, a foreign
    key's table, a schema-qualified name in a default, CHECK, view query or function body."""
    names = [o for o in others if o != schema.name]
    if not names:
        return set()
    qualified = re.compile(
        r'(?<![\w$."])"?(' + "|".join(re.escape(n) for n in names) + r')"?\s*\.\s*"?[A-Za-z_]'
    )
    found: set[str] = set()
    for field, value in _values(schema):
        if not isinstance(value, str):
            continue
        if field in ("in_schema", "schema") and value in names:
            found.add(value)
        else:
            found.update(mt[1] for mt in qualified.finditer(value))
    return found


def schema_order(schemas: Sequence[m.Schema]) -> list[str]:
    """The schemas' names, each after those it uses (:func:`uses`); the given order among
    schemas that do not depend on each other, and within a cycle."""
    names = list(dict.fromkeys(s.name for s in schemas))
    needs: dict[str, set[str]] = {n: set() for n in names}
    for s in schemas:
        needs[s.name] |= uses(s, names)
    return ordered(names, needs)


def ordered(names: list[str], needs: dict[str, set[str]]) -> list[str]:
    """``names`` with each after those of them it needs (``needs[name]``; names outside ``names``
    ignored): the given order among names that do not depend on each other, and within a cycle."""
    out: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in out or name in visiting:
            return
        visiting.add(name)
        for other in names:  # the given order, not the set's
            if other in needs.get(name, set()):
                visit(other)
        visiting.discard(name)
        out.append(name)

    for name in names:
        visit(name)
    return out


def create_statements(schemas: Sequence[m.Schema]) -> list[Statement]:
    """Create several declared schemas from nothing, in dependency order (see the module)."""
    by_name = {s.name: s for s in schemas}
    return plan.create_schemas([by_name[n] for n in schema_order(schemas)])


def migration_plan(
    steps: Sequence[tuple[m.Schema, m.Schema, list[d.Change]]], allow: tuple[str, ...] = (),
    create: Sequence[str] = (), drop: Sequence[str] = (),
) -> plan.MigrationPlan:
    """One plan for several schemas' changes, each step ``(old, new, changes)`` of one schema (an
    empty ``Schema(name=...)`` on the side where the schema does not exist); the schemas named in
    ``create`` are created first, those in ``drop`` dropped last (never with CASCADE). Raises
    :class:`~orders_schema.migrate.plan.PlanError` like :func:`orders_schema.migrate.plan.migration_plan`."""
    # what the old side used is dropped after it, what the new side uses is created before it
    order = schema_order([s for old, new, _ in steps for s in (old, new)])
    by_name = {new.name: (old, new, changes) for old, new, changes in steps}
    placed = []
    cross: list[Statement] = []
    unhooked: list[Statement] = []
    for name in order:
        old, new, changes = by_name[name]
        stages = plan.placed(old, new, changes, allow)
        # a dropped table's foreign keys to another schema go first, so each schema's tables drop
        # whatever the order (two schemas whose tables reference each other)
        unhooked += [DropConstraintStatement(name, c.table.name, fk.name, if_exists=True)
                     for c in changes if isinstance(c, d.DropTable) for fk in c.table.foreign_keys
                     if fk.ref_table.rpartition(".")[0] not in ("", name)]
        for p in stages:  # a foreign key to another schema's table waits until every schema's tables exist
            crossing = [st for st in p.create if isinstance(st, AddConstraintStatement)
                        and isinstance(st.constraint, m.ForeignKey)
                        and st.constraint.ref_table.rpartition(".")[0] not in ("", name)]
            cross += crossing
            p.create[:] = [st for st in p.create if not any(st is c for c in crossing)]
        placed.append(stages)
    planned = plan.assemble(placed, first_drop=unhooked, later_create=cross)
    if not create and not drop:
        return planned
    return plan.MigrationPlan([*(CreateSchemaStatement(n) for n in create), *planned.transactional,
                               *(DropSchemaStatement(n) for n in drop)], planned.online)
