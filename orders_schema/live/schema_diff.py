"""``orders-schema diff FROM TO``: the online-safe migration between any two schemas.

Each side is a live database (a DSN: read with :func:`orders_schema.live.declare.read_declarations`)
or declarations (``module:ATTR`` naming a :class:`~orders_schema.declare.model.Schema`, a
:class:`~orders_schema.declare.model.Version` or a :class:`~orders_schema.declare.project.Project`,
whose head is taken). When one side is live, the declared side is first read back in stored form
through a scratch database on that server (:func:`~orders_schema.live.compare.declared_catalog`),
so that both sides are PostgreSQL's own text and a declared ``IN (...)`` does not differ from its
stored ``= ANY (ARRAY[...])``.

The two sides are diffed (:func:`orders_schema.migrate.diff.diff`) and planned like a generated
version (:func:`orders_schema.migrate.plan.migration_plan`, every destructive change allowed and
shown as a hazard) and printed as one script for ``psql -f``: the transactional part between
``BEGIN`` and ``COMMIT``, then the part that runs outside a transaction, each of its statements
alone. Objects the model cannot declare yet are listed as comments, never compared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare.project import Project, ProjectError, load_object
from orders_schema.declare.quoting import comment, dollar_quote, ident, literal, qualified
from orders_schema.kinds import Undeclared
from orders_schema.kinds.index import CreateIndex, DropIndexStatement
from orders_schema.kinds.table import SwapPrimaryKey
from orders_schema.live.compare import DeclaredCatalogError, declared_catalog
from orders_schema.live.declare import declare_catalog, read_declarations
from orders_schema.live.inspect import SYSTEM_SCHEMAS
from orders_schema.migrate import diff as d
from orders_schema.migrate import plan, together
from orders_schema.migrate.lint import lint_text
from orders_schema.migrate.render import RENDERER, CreateSchema, Raw, Statement

__all__ = ["DiffInputError", "SchemaDiff", "Side", "diff_sides", "is_module_spec", "load_side", "render"]

HISTORY_SCHEMA = "orders_schema"
_MODULE_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class DiffInputError(ValueError):
    """Bad input for diff (an unreachable DSN, an unknown schema, a bad module spec): one line."""


def is_module_spec(text: str) -> bool:
    """``package.module:ATTR`` (declarations); anything else is a DSN."""
    return bool(_MODULE_SPEC.match(text))


@dataclass
class Side:
    """One side of a diff: its schemas as declarations, and what each leaves out."""

    label: str
    schemas: dict[str, m.Schema]
    undeclared: dict[str, tuple[Undeclared, ...]] = field(default_factory=dict)
    dsn: str | None = None

    @property
    def live(self) -> bool:
        return self.dsn is not None


def _declared_schemas(spec: str) -> dict[str, m.Schema]:
    try:
        obj = load_object(spec, "declarations")
    except ProjectError as exc:
        raise DiffInputError(str(exc)) from None
    if isinstance(obj, Project):
        obj = obj.schema
    elif isinstance(obj, m.Version):
        obj = obj.state
    if isinstance(obj, m.Schema):
        return {obj.name: obj}
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(s, m.Schema) for s in obj):
        return {s.name: s for s in obj}
    raise DiffInputError(f"declarations {spec!r}: is a {type(obj).__name__}, not a Schema, Version or Project")


def _live_schema_names(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        """SELECT n.nspname FROM pg_catalog.pg_namespace n
        WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> %(history)s
        ORDER BY 1""",
        {"system": SYSTEM_SCHEMAS, "history": HISTORY_SCHEMA},
    ).fetchall()
    return [str(r[0]) for r in rows]


def connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn, connect_timeout=10, autocommit=True)
    except psycopg.Error as exc:
        raise DiffInputError(f"cannot connect: {str(exc).strip().splitlines()[0]}") from None


def load_side(spec: str, label: str) -> Side:
    """Declarations as declared, or a live database's schema names (read by :func:`diff_sides`)."""
    if is_module_spec(spec):
        return Side(label, _declared_schemas(spec))
    with connect(spec):
        pass
    return Side(label, {}, dsn=spec)


@dataclass(frozen=True)
class SchemaDiff:
    """The migration of one schema."""

    schema: str
    plan: plan.MigrationPlan
    hazards: tuple[str, ...]
    """Destructive changes (the allowance keys ``migration_plan`` would otherwise refuse)."""
    create_schema: bool = False
    drop_schema: bool = False
    undeclared_from: tuple[Undeclared, ...] = ()
    undeclared_to: tuple[Undeclared, ...] = ()
    notes: tuple[str, ...] = ()
    old: m.Schema | None = None
    new: m.Schema | None = None
    changes: tuple[d.Change, ...] = ()

    @property
    def empty(self) -> bool:
        return self.plan.empty and not self.create_schema and not self.drop_schema


def _schema_names(sides: Sequence[Side], wanted: Sequence[str]) -> list[str]:
    declared = [name for side in sides for name in side.schemas]
    live: list[str] = []
    for side in sides:
        if side.dsn is not None:
            with connect(side.dsn) as conn:
                live += _live_schema_names(conn)
    if wanted:
        unknown = [s for s in wanted if s not in declared and s not in live]
        if unknown:
            raise DiffInputError(f"unknown schema {unknown[0]!r}: neither side has it")
        return list(dict.fromkeys(wanted))
    if declared:  # declarations name their schemas: a live side is read on those only
        return list(dict.fromkeys(declared))
    return sorted(set(live))


def _read(
    side: Side, name: str, server: str | None, notes: list[str]
) -> tuple[m.Schema | None, tuple[Undeclared, ...]]:
    """One schema of a side as declarations (None: the side does not have it)."""
    if side.dsn is not None:
        with connect(side.dsn) as conn:
            exists = conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (name,)).fetchone()
            if exists is None:
                return None, ()
            read = read_declarations(conn, name)
        return read.schema, read.undeclared
    schema = side.schemas.get(name)
    if schema is None or server is None:
        return schema, ()
    try:  # the declarations in PostgreSQL's stored forms, like the live side
        stored = declare_catalog(declared_catalog(schema, server))
    except DeclaredCatalogError as exc:
        notes.append(f"{side.label} compared as declared, not in stored form: {exc}")
        return schema, ()
    return stored.schema, stored.undeclared


def diff_sides(source: Side, target: Side, schemas: Sequence[str] = ()) -> list[SchemaDiff]:
    """The migration of each schema from ``source`` to ``target``."""
    server = source.dsn or target.dsn
    out: list[SchemaDiff] = []
    for name in _schema_names((source, target), schemas):
        notes: list[str] = []
        old, old_undeclared = _read(source, name, server, notes)
        new, new_undeclared = _read(target, name, server, notes)
        before, after = old or m.Schema(name=name), new or m.Schema(name=name)
        changes = d.diff(before, after)
        hazards = tuple(key for c in changes if (key := plan.destructive(c, name)))
        try:
            migration = plan.migration_plan(before, after, changes, allow=hazards)
        except plan.PlanError as exc:
            raise DiffInputError(f"schema {name}: {exc}") from None
        out.append(SchemaDiff(
            name, migration, hazards,
            create_schema=old is None and new is not None,
            drop_schema=new is None and old is not None and target.live and name != "public",
            undeclared_from=old_undeclared, undeclared_to=new_undeclared, notes=tuple(notes),
            old=before, new=after, changes=tuple(changes),
        ))
    return out


# ---------------------------------------------------------------------------------------------
# The script
# ---------------------------------------------------------------------------------------------

ALONE = "-- runs alone, outside a transaction"


def _statement(stmt: Statement, alone: bool = False, part: Sequence[Statement] = ()) -> str:
    text = _rerunnable_swap(stmt, part) if isinstance(stmt, SwapPrimaryKey) else RENDERER.statement(stmt)
    lines = [f"-- hazard: {h}" for linted in lint_text(text) for h in linted.hazards]
    if alone and not isinstance(stmt, Raw):
        lines.append(ALONE)
    return "\n".join([*lines, text])


def _rerunnable_swap(swap: SwapPrimaryKey, online: Sequence[Statement]) -> str:
    """A primary key swap that a re-run skips once the key is in place (the swap's plain ALTER TABLE
    would drop the new key again, and fail when a foreign key now depends on it), then drops the
    staging index a re-run rebuilt."""
    built = next((s for s in online if isinstance(s, CreateIndex) and s.index.name == swap.index), None)
    alter = RENDERER.statement(swap)
    if built is None:
        return alter
    definition = f"PRIMARY KEY ({', '.join(ident(k.expression) for k in built.index.columns)})"
    body = (
        f"BEGIN\n    IF to_regclass({literal(qualified(swap.schema, swap.index))}) IS NOT NULL AND NOT EXISTS (\n"
        "        SELECT 1 FROM pg_catalog.pg_constraint\n"
        f"        WHERE conrelid = {literal(qualified(swap.schema, swap.table))}::regclass AND contype = 'p'\n"
        f"          AND conname = {literal(swap.name)}"
        f" AND pg_catalog.pg_get_constraintdef(oid) = {literal(definition)}) THEN\n"
        + "\n".join("        " + line for line in alter.splitlines()) + "\n    END IF;\nEND"
    )
    drop = RENDERER.statement(DropIndexStatement(swap.schema, swap.index, concurrently=True))
    return f"DO {dollar_quote(body)};\n\n{ALONE}\n{drop}"


def render(diffs: Sequence[SchemaDiff], source: str, target: str) -> str:
    """The migration as one script for ``psql -f`` (without ``-1``): header comments (what is not
    declared, the hazards), ``BEGIN``, the new schemas, the transactional part of every schema
    planned together (:func:`orders_schema.migrate.together.migration_plan`: ordered by the
    dependencies between the schemas), the dropped schemas, ``COMMIT``, then the part outside a
    transaction, each statement alone."""
    head = [comment(f"orders-schema diff {_safe(source)} -> {_safe(target)}")]
    tx: list[str] = []
    online: list[str] = []
    drops: list[str] = []
    for sd in diffs:
        for note in sd.notes:
            head.append(comment(f"note: {note}"))
        for which, items in (("FROM", sd.undeclared_from), ("TO", sd.undeclared_to)):
            for u in sorted(items, key=str):
                head.append(comment(f"not yet declared ({which}, not compared): {sd.schema}: {u}"))
        for key in sd.hazards:
            head.append(comment(f"hazard: {key} (data loss)"))
        if sd.create_schema:
            tx.append(RENDERER.statement(CreateSchema(sd.schema, if_not_exists=True)))
        if sd.drop_schema:
            drops.append(f"-- hazard: drops schema {ident(sd.schema)} and anything left in it\n"
                         f"DROP SCHEMA IF EXISTS {ident(sd.schema)} CASCADE;")
    steps = [(sd.old, sd.new, list(sd.changes)) for sd in diffs if sd.old is not None and sd.new is not None]
    plans = [sd.plan for sd in diffs]  # SchemaDiffs built without their sides: each its own plan
    if len(steps) == len(diffs):
        plans = [together.migration_plan(steps, allow=tuple(h for sd in diffs for h in sd.hazards))]
    for p in plans:
        tx += [_statement(s) for s in p.transactional]
        online += [_statement(s, alone=True, part=p.online) for s in p.online]
    if not tx and not online and not drops:
        return "\n".join([*head, "-- no differences"]) + "\n"
    parts = ["\n".join(head)]
    if tx or drops:
        parts.append("BEGIN;")
        parts += tx + drops
        parts.append("COMMIT;")
    if online:
        parts.append("-- " + "=" * 60 + "\n-- Outside a transaction: each statement below runs alone\n-- " + "=" * 60)
        parts += online
    return "\n\n".join(parts) + "\n"


def _safe(spec: str) -> str:
    """A side as the header names it: a module spec as given, a DSN without its password."""
    if is_module_spec(spec):
        return spec
    return re.sub(r"(password\s*=\s*)\S+|(://[^:/@]*:)[^@]*@",
                  lambda mt: (mt[1] or mt[2]) + "***" + ("@" if mt[2] else ""), spec)
