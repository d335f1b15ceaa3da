"""Plans: declared objects -> ordered statement objects (no SQL text here; see render.py).

* :func:`baseline_statements` lays out a hand-declared :class:`~orders_schema.declare.model.Version`
  (idempotent creates, in the version's phases).
* :func:`create_statements` creates a whole declared schema on an empty database; the tester
  uses it to read declarations back in PostgreSQL's stored form.
* :func:`migration_plan` orders the changes of :mod:`orders_schema.migrate.diff` into online-safe
  statements: a transactional part and an online part (CONCURRENTLY, VALIDATE).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from orders_schema.declare import fragments
from orders_schema.declare import model as m
from orders_schema.declare.quoting import literal
from orders_schema.kinds import COMMENT, KINDS, TABLE, PlanContext, Planned
from orders_schema.kinds.base import Refused
from orders_schema.kinds.constraint import AddConstraintStatement, DropConstraintStatement, collapsing_uniques
from orders_schema.kinds.table import CreatePartition, destructive, is_widening
from orders_schema.kinds.view import ViewCycleError
from orders_schema.migrate import diff as d
from orders_schema.migrate import render as r

T = TypeVar("T", bound=d.Change)

__all__ = [
    "LOCK_TIMEOUT", "DestructiveChangeError", "MigrationPlan", "PlanError", "assemble", "baseline_statements",
    "context", "create_schemas", "create_statements", "destructive", "is_widening", "migration_plan", "placed",
    "stateobjects",
]


class PlanError(ValueError):
    """A version whose layout does not match what it declares."""


def _key(obj: m.PhaseItem, schema: m.Schema) -> tuple[str, str]:
    if isinstance(obj, m.Table):
        return ("table", obj.name)
    if isinstance(obj, m.Index):
        return ("index", obj.name)
    if isinstance(obj, m.Trigger):
        return ("trigger", f"{schema.owner_of(obj).name}.{obj.name}")
    if isinstance(obj, m.Function):
        return ("function", obj.signature)
    if isinstance(obj, m.View):
        return ("view", obj.name)
    raise TypeError(obj)


def stateobjects(schema: m.Schema) -> dict[tuple[str, str], m.PhaseItem]:
    """Every object of a schema keyed by (kind, name); triggers by ``table.trigger``."""
    objects: dict[tuple[str, str], m.PhaseItem] = {}
    for table in schema.tables:
        objects[("table", table.name)] = table
        for index in table.indexes:
            objects[("index", index.name)] = index
        for trigger in table.triggers:
            objects[("trigger", f"{table.name}.{trigger.name}")] = trigger
    for fn in schema.functions:
        objects[("function", fn.signature)] = fn
    for view in schema.views:
        objects[("view", view.name)] = view
    return objects


def baseline_statements(version: m.Version, previous: m.Schema | None) -> list[r.Statement]:
    """Statements of a hand-declared version, checked against what it claims to add."""
    schema = version.state
    if previous is not None and previous.name != schema.name:
        raise PlanError(f"V{version.number}: schema {schema.name} follows schema {previous.name}")
    before = stateobjects(previous) if previous is not None else {}
    after = stateobjects(schema)
    changed = sorted(k for k in before if k in after and before[k] != after[k])
    if changed:
        raise PlanError(
            f"V{version.number}: {', '.join(f'{k} {n}' for k, n in changed)} changed since the previous "
            "version; a hand-declared version can only add objects (changes go through generate)"
        )
    dropped = sorted(set(before) - set(after))
    if dropped:
        raise PlanError(f"V{version.number}: {', '.join(f'{k} {n}' for k, n in dropped)} dropped")
    listed = [_key(o, schema) for o in version.objects()]
    added = set(after) - set(before)
    for k in listed:
        if k not in added:
            what = "is listed twice" if listed.count(k) > 1 else "is not new in this version"
            raise PlanError(f"V{version.number}: {k[0]} {k[1]} {what}")
        if listed.count(k) > 1:
            raise PlanError(f"V{version.number}: {k[0]} {k[1]} is listed twice")
    missing = sorted(added - set(listed))
    if missing:
        raise PlanError(
            f"V{version.number}: {', '.join(f'{k} {n}' for k, n in missing)} added by the version "
            "but listed in none of its phases"
        )

    s = schema.name
    for kind in KINDS:  # what tables use (schemas, extensions, types): declared in the head, generated
        if kind.create_stage == "first":
            new = sorted(str(k) for k in kind.declared(schema) if k not in kind.declared(previous or m.Schema(name=s)))
            if new:
                raise PlanError(
                    f"V{version.number}: {kind.name} {', '.join(new)} cannot be laid out in a hand-declared version; "
                    "declare it in the head and generate the version that creates it"
                )
    out: list[r.Statement] = []
    if version.create_schema:
        out.append(r.CreateSchema(s, if_not_exists=True))
    for phase in version.phases:
        out.append(r.PhaseHeader(phase.title))
        for item in phase.items:
            if isinstance(item, m.Comment):
                out.append(r.CommentLine(item.text))
            elif isinstance(item, m.Table):
                out.append(r.CreateTable(s, item, if_not_exists=True))
                out += [CreatePartition(s, item.name, p, if_not_exists=True) for p in item.partitions]
                for unique in collapsing_uniques(item):  # PostgreSQL would fold it into the key
                    out += [DropConstraintStatement(s, item.name, unique.name, if_exists=True),
                            AddConstraintStatement(s, item.name, unique)]
                out += [stmt for key, declared in COMMENT.declared(schema).items() if declared.owner == item.name
                        for stmt in COMMENT.create(s, key, declared)]
            elif isinstance(item, m.Index):
                out.append(r.CreateIndex(s, schema.owner_of(item).name, item, if_not_exists=True))
            elif isinstance(item, m.Function):
                out.append(r.CreateFunction(s, item, or_replace=True))
            elif isinstance(item, m.Trigger):
                table = schema.owner_of(item).name
                out += [r.DropTrigger(s, table, item.name, if_exists=True), r.CreateTrigger(s, table, item)]
            else:
                out.append(r.CreateView(s, item, or_replace=True))
    return out


def _called_by_defaults(schemas: Sequence[m.Schema]) -> set[str]:
    return {name for schema in schemas for table in schema.tables for column in table.columns
            if column.default is not None
            for name in fragments.called_functions(fragments.parse_expression(column.default, column.name))}


def create_statements(schema: m.Schema) -> list[r.Statement]:
    """Create a declared schema from nothing (no IF NOT EXISTS: the database must be empty).

    Foreign keys are added after every table exists, so declaration order does not matter.
    """
    return create_schemas([schema])


def create_schemas(schemas: Sequence[m.Schema]) -> list[r.Statement]:
    """Create several declared schemas from nothing, stage by stage across them (every schema's
    types before any table, every table before any foreign key or view...), ``schemas`` in
    dependency order (:func:`orders_schema.migrate.together.schema_order`)."""
    relations = {t.name for s in schemas for t in s.tables} | {v.name for s in schemas for v in s.views}
    out: list[r.Statement] = [*unchecked_sql_bodies([fn for s in schemas for fn in s.functions], relations)]
    # A schema the project does not own (public, or one declared owned=False) is used, never created.
    out += [r.CreateSchema(s.name, if_not_exists=not s.owned) for s in schemas if s.name != "public"]
    out += _kind_creates(schemas, "first")  # other schemas, extensions, types
    # A function a column default calls must exist before its table; the others (trigger
    # functions) come after the tables, so a SQL-language body may read them.
    called = _called_by_defaults(schemas)
    early = [(s, fn) for s in schemas for fn in s.functions if fn.name.lower() in called]
    out += _kind_creates(schemas, "before_tables")  # sequences a default calls
    out += [r.CreateFunction(s.name, fn, or_replace=False) for s, fn in early]
    placed_early = {(s.name, fn.signature) for s, fn in early}
    out += [stmt for s in schemas for key, table in TABLE.declared(s).items()
            for stmt in TABLE.create(s.name, key, table)]
    out += [stmt for s in schemas for kind in KINDS for key, item in kind.declared(s).items()
            for stmt in kind.create_after_tables(s.name, key, item)]  # a sequence's OWNED BY
    out += _kind_creates(schemas, "after_tables")  # foreign keys, then indexes
    out += [r.CreateFunction(s.name, fn, or_replace=False) for s in schemas for fn in s.functions
            if (s.name, fn.signature) not in placed_early]
    out += _kind_creates(schemas, "after_functions")
    out += _kind_creates(schemas, "last")
    return out


def unchecked_sql_bodies(functions: Iterable[m.Function], later: set[str]) -> list[r.Statement]:
    """``SET check_function_bodies = off`` when a SQL-language function reads a relation of
    ``later`` (created after it in the same script: a view, a new table): PostgreSQL checks a SQL
    body when the function is created (pg_dump turns that off too; the body is checked when first
    called)."""
    if any(fn.language == "sql" and (fragments.relations_read(fn.body) or later) & later for fn in functions):
        return [r.Raw("SET check_function_bodies = off;")]
    return []


def _kind_creates(schemas: Sequence[m.Schema], stage: str) -> list[r.Statement]:
    return [stmt for schema in schemas for kind in KINDS if kind.create_stage == stage
            for key, item in kind.declared(schema).items() for stmt in kind.create(schema.name, key, item)]


# ---------------------------------------------------------------------------------------------
# Migrations: changes -> online-safe statements
# ---------------------------------------------------------------------------------------------

LOCK_TIMEOUT = "5s"


class DestructiveChangeError(PlanError):
    """A change that loses data and that the declarations did not explicitly allow."""


@dataclass(frozen=True)
class MigrationPlan:
    """Statements of one generated version, split by how they must run.

    Every statement is re-runnable (IF [NOT] EXISTS, OR REPLACE, DROP ... IF EXISTS before ADD
    CONSTRAINT and CREATE TRIGGER), so a version applies a second time without error; only a
    declared rename cannot be repeated.

    ``transactional`` runs in one transaction (all or nothing). ``online`` runs outside a
    transaction, statement by statement: CREATE/DROP INDEX CONCURRENTLY and VALIDATE CONSTRAINT
    on tables that already hold data, so that no long lock is taken on them.
    """

    transactional: list[r.Statement]
    online: list[r.Statement]

    @property
    def empty(self) -> bool:
        return not self.transactional and not self.online


def _refuse_destructive(changes: list[d.Change], schema: str, allow: tuple[str, ...]) -> None:
    refused = [key for c in changes if (key := destructive(c, schema)) and key not in allow]
    if refused:
        raise DestructiveChangeError(
            "refusing destructive change(s): " + "; ".join(refused)
            + ". Declare each one in the project's allow_destructive to accept the data loss."
        )


def _of(changes: list[d.Change], kind: type[T]) -> list[T]:
    return [c for c in changes if isinstance(c, kind)]


def context(old: m.Schema, new: m.Schema, changes: list[d.Change]) -> PlanContext:
    """What every phase and kind needs: tables named as after this version's renames."""
    renamed = {c.old: c.new for c in _of(changes, d.RenameTable)}
    # Tables that hold data are named as they are after this version's renames: everything a
    # renamed table gets (an index, a CHECK) must be as online-safe as on any other existing table.
    reshaped = {c.table for c in _of(changes, d.AlterColumn) if c.old.type != c.new.type}
    reshaped |= {c.table for c in _of(changes, d.DropColumn)} | {c.table for c in _of(changes, d.RenameColumn)}
    reshaped |= {c.old for c in _of(changes, d.RenameTable)} | {c.table.name for c in _of(changes, d.DropTable)}
    return PlanContext(
        schema=new.name, old=old, new=new, changes=tuple(changes),
        existing=frozenset(renamed.get(t.name, t.name) for t in old.tables),
        was={new_name: old_name for old_name, new_name in renamed.items()},
        dropped=frozenset(c.table.name for c in _of(changes, d.DropTable)),
        reshaped=frozenset(reshaped),
        added=frozenset(c.table.name for c in _of(changes, d.AddTable)),
        added_columns=frozenset((c.table, c.column.name) for c in _of(changes, d.AddColumn)),
        dropped_columns=frozenset((c.table, c.column.name) for c in _of(changes, d.DropColumn)),
        retyped_columns=frozenset((c.table, c.new.name) for c in _of(changes, d.AlterColumn)
                                  if c.old.type != c.new.type),
    )


def migration_plan(
    old: m.Schema, new: m.Schema, changes: list[d.Change], allow: tuple[str, ...] = ()
) -> MigrationPlan:
    """Order ``changes`` (from :func:`orders_schema.migrate.diff.diff`, or their
    :func:`~orders_schema.migrate.diff.reverse`) into online-safe statements, phase by phase; each
    kind of :data:`~orders_schema.kinds.KINDS` places its own statements in the phases (see
    :class:`~orders_schema.kinds.Planned`): the drops before the renames, the renames, what
    defaults call, the tables and columns with their keys, the objects on them, triggers, the
    backfills of derived tables and the drops; online, the primary keys' swaps, VALIDATEs and
    index builds. Several schemas at once: :func:`orders_schema.migrate.together.migration_plan`."""
    return assemble([placed(old, new, changes, allow)])


def placed(old: m.Schema, new: m.Schema, changes: list[d.Change], allow: tuple[str, ...] = ()) -> list[Planned]:
    """Each kind's statements for one schema's ``changes``, by stage (destructive ones refused unless allowed)."""
    _refuse_destructive(changes, new.name, allow)
    ctx = context(old, new, changes)
    try:
        return [kind.plan(ctx) for kind in KINDS]
    except (ViewCycleError, Refused) as exc:
        raise PlanError(str(exc)) from None


def assemble(
    schemas: Sequence[list[Planned]], first_drop: Sequence[r.Statement] = (), later_create: Sequence[r.Statement] = ()
) -> MigrationPlan:
    """The stages of one or several schemas' :func:`placed` statements, stage by stage: every
    schema's ``drop``, then every schema's ``rename``, and so on. ``schemas`` come in dependency
    order (what a schema uses first); the stages that take objects away (``drop``, ``last``,
    ``final``) run through them the other way round. ``first_drop`` opens the ``drop`` stage and
    ``later_create`` closes the ``create`` stage (foreign keys between schemas, dropped before any
    table and added once every schema's tables exist)."""
    def stage(name: str, backwards: bool = False) -> list[r.Statement]:
        ordered = list(reversed(schemas)) if backwards else list(schemas)
        kinds = (reversed(p) if name == "final" else p for p in ordered)
        return [stmt for p in kinds for one in p for stmt in getattr(one, name)]

    tx = [*first_drop, *stage("drop", True), *stage("rename"), *stage("early"), *stage("create"), *later_create,
          *stage("after"), *stage("late"), *stage("last", True), *stage("final", True)]
    online = stage("online")
    if tx:
        later = {st.view.name for st in tx if isinstance(st, r.CreateView)}
        later |= {st.table.name for st in tx if isinstance(st, r.CreateTable)}
        tx[:0] = [r.Raw(f"SET lock_timeout = {literal(LOCK_TIMEOUT)};"),
                  *unchecked_sql_bodies((st.function for st in tx if isinstance(st, r.CreateFunction)), later)]
    if online:
        online.insert(0, r.Raw(f"SET lock_timeout = {literal(LOCK_TIMEOUT)};"))
    return MigrationPlan(tx, online)
