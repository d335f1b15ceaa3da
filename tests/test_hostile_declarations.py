"""No declared text reaches SQL unchecked: hostile values in every string field of the WallTrack
declarations are refused where they are declared, or rendered harmlessly.

The walk is generic: every pydantic field of every declared object reachable from the head schema
and the hand-declared versions (V1, V9), recursively, tuples included, so a field added later is
attacked without touching this file. Each kind of field (class, field, position inside tuples) is
attacked once, where it first occurs, with payloads that try to end a string, an identifier, a
parenthesis, a statement, a comment or a dollar quote and drop a canary table, plus newlines, NUL,
``--``, ``*/``, 64-byte and empty values.

A hostile value must either be refused with a one-line error naming the object (``DeclarationError``
from the declaration, or ``PlanError`` when a hand-declared version's layout no longer matches its
schema), or the files rendered from it are run through psql exactly as a DBA would (statement by
statement, going on after errors, so an injected statement would commit) on one scratch database,
and the canary table must still exist.
"""

from __future__ import annotations

import re
import subprocess
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from orders_schema.declare import model as m
from orders_schema.migrate import diff, plan
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.harness import Databases
from orders_schema.walltrack import HEAD, PROJECT

V1, V9 = PROJECT.versions

DROP = "DROP TABLE public.canary;"
PAYLOADS = [
    f"x'; {DROP} --",  # ends a string literal
    f'x"; {DROP} --',  # ends a quoted identifier
    f"x); {DROP} --",  # ends a parenthesis and the statement
    f"x */ {DROP} /*",  # ends a block comment
    f"x $$; {DROP} $$ $body$; {DROP} $body$",  # ends a dollar quote
    f"x\n); {DROP}\n\\echo INJECTED\n",  # ends a -- comment (and tries a psql meta-command)
    f"x\r); {DROP}\r",  # PostgreSQL ends a -- comment at a carriage return too
    "x --",  # swallows what is rendered after it
    "x \\echo INJECTED",  # a psql meta-command where psql would see one
    "x\x00y",  # NUL
    "n" * 64,  # one byte over PostgreSQL's name limit
    "",
]

KINDS = {cls.kind for cls in vars(m).values() if isinstance(cls, type) and issubclass(cls, m.Node) and cls.kind}
NAMED = re.compile(rf"^(V\d+: |default of column |({'|'.join(sorted(KINDS))})\b)")
"""A refusal names the object first: ``column x: ...``, ``trigger t on table o: ...``, ``V9: ...``."""


# ---------------------------------------------------------------------------------------------
# The generic walk
# ---------------------------------------------------------------------------------------------

Path = tuple[int, ...]


@dataclass(frozen=True)
class Target:
    """One string inside a declared object: ``owner.field[path...]``."""

    owner: m.Node
    field: str
    path: Path

    @property
    def kind(self) -> tuple[str, str, int, int | None]:
        """Class, field, depth in tuples, and for pairs (settings, example rows) which half."""
        return (type(self.owner).__name__, self.field, len(self.path), self.path[-1] if len(self.path) > 1 else None)

    def __str__(self) -> str:
        return f"{type(self.owner).__name__}.{self.field}{''.join(f'[{i}]' for i in self.path)}"


def _strings(value: Any, path: Path = ()) -> Iterator[Path]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def nodes(root: m.Node) -> Iterator[m.Node]:
    yield root
    for name in type(root).model_fields:
        yield from _nodes_in(getattr(root, name))


def _nodes_in(value: Any) -> Iterator[m.Node]:
    if isinstance(value, m.Node):
        yield from nodes(value)
    elif isinstance(value, tuple):
        for item in value:
            yield from _nodes_in(item)


def targets(root: m.Node, skip: set[m.Node]) -> Iterator[Target]:
    for node in nodes(root):
        if node in skip:
            continue
        for name in type(node).model_fields:
            for path in _strings(getattr(node, name)):
                yield Target(node, name, path)


def _put(value: Any, path: Path, new: str) -> Any:
    if not path:
        return new
    return tuple(_put(v, path[1:], new) if i == path[0] else v for i, v in enumerate(value))


class Refused(Exception):
    def __init__(self, node: m.Node, error: Exception) -> None:
        super().__init__(str(error))
        self.node, self.error = node, error


def _replace(node: m.Node, **changes: Any) -> m.Node:
    try:
        return node.replace(**changes)
    except m.DeclarationError as exc:
        raise Refused(node, exc) from None


def substitute(value: Any, old: m.Node, new: m.Node) -> Any:
    """``value`` with every object equal to ``old`` replaced by ``new``, each ancestor declared anew."""
    if isinstance(value, m.Node):
        if value == old:
            return new
        changes = {}
        for name in type(value).model_fields:
            current = getattr(value, name)
            updated = substitute(current, old, new)
            if updated is not current:
                changes[name] = updated
        return _replace(value, **changes) if changes else value
    if isinstance(value, tuple):
        items = [substitute(v, old, new) for v in value]
        return tuple(items) if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


# ---------------------------------------------------------------------------------------------
# What each root renders
# ---------------------------------------------------------------------------------------------


def _version(version: m.Version, previous: m.Version | None) -> list[str]:
    """A hand-declared version's file, as its header and its statements, each rendered alone."""
    statements = plan.baseline_statements(version, previous.state if previous else None)
    return [RENDERER.script([], version.header), *(RENDERER.statement(s) for s in statements)]


def _head(schema: m.Schema) -> list[str]:
    """The head schema created from nothing, and migrated from the released V9 (the path that
    renders ALTERs, backfills and function replacements), statement by statement."""
    changes = diff.diff(V9.state, schema)
    allow = tuple(k for c in changes if (k := plan.destructive(c, schema.name)))
    migration = plan.migration_plan(V9.state, schema, changes, allow=allow)
    statements = [*plan.create_statements(schema), *migration.transactional, *migration.online]
    return [RENDERER.statement(s) for s in statements]


# What WallTrack does not declare, so that every field of every declared kind is attacked: renames,
# a named primary key, UNIQUE, INCLUDE and NULLS LAST, a function with arguments, a view reading
# another schema, COMMENT ON a table and a column.
EXTRA = m.Schema(
    name="hx",
    tables=(
        m.Table(
            name="t", renamed_from="t_old", comment="What t holds",
            columns=(m.Column(name="id", type=m.INTEGER, nullable=False),
                     m.Column(name="c", type=m.TEXT, renamed_from="c_old"),
                     m.Column(name="d", type=m.TEXT, comment="What d means"),
                     m.Column(name="n", type=m.BIGINT, nullable=False, identity=m.Identity(generated="ALWAYS")),
                     m.Column(name="g", type=m.TEXT, generated="upper(d)"),
                     m.Column(name="e", type="hx_e", collation="C"), m.Column(name="p", type="hx_d"),
                     m.Column(name="q", type="hx_c")),
            primary_key=m.PrimaryKey(columns=("id",), name="t_key"),
            uniques=(m.Unique(name="t_d_key", columns=("d",), comment="Unique d"),),
            checks=(m.Check(name="t_id_check", expression="id > 0", comment="Positive ids"),),
            excludes=(m.Exclude(name="t_d_excl", using="btree", elements=(("d", "="),), include=("id",),
                               where="d <> 'x'", comment="Excluded d"),),
            triggers=(m.Trigger(name="t_touch", timing="BEFORE", events=("UPDATE",), function="touch",
                                comment="Touches"),),
            indexes=(m.Index(name="t_id_idx", columns=("id DESC NULLS LAST",), include=("d",), comment="By id"),
                     m.Index(name="t_d_idx", columns=(m.IndexColumn(expression="d", collation="C",
                                                                    opclass="text_pattern_ops"),))),
        ),
        m.Table(
            name="u", columns=(m.Column(name="k", type=m.TEXT),), row_security="forced", owner="r",
            uniques=(m.Unique(name="u_k_key", columns=("k",)),),
            foreign_keys=(m.ForeignKey(name="u_k_fk", columns=("k",), ref_table="u", ref_columns=("k",),
                                       comment="Points at u"),),
            policies=(m.Policy(name="u_own", roles=("r",), using="k = current_user", with_check="k IS NOT NULL"),),
        ),
        m.Table(name="w", columns=(m.Column(name="k", type=m.TEXT),), partition_by="LIST (k)",
                partitions=(m.Partition(name="w_a", bound="FOR VALUES IN ('a')"),)),
        m.Table(name="x", columns=(m.Column(name="j", type=m.TEXT),), inherits=("u",)),
    ),
    sequences=(m.Sequence(name="t_seq", owned_by=("t", "id"), comment="Numbers"),),
    comment="The hostile schema",
    roles=(m.Role(name="r"),),
    grants=(m.Grant(to="r", privileges=("USAGE",), on="schema"),
            m.Grant(to="r", privileges=("SELECT", "UPDATE"), on="table", name="u", columns=("k",)),
            m.Grant(to="r", privileges=("EXECUTE",), on="function", name="f")),
    revokes=(m.Revoke(on="function", name="f"),),
    default_privileges=(m.DefaultPrivilege(on="tables", privileges=("SELECT",), to="r", for_role="r"),),
    functions=(m.Function(name="f", returns="integer", language="sql", body="SELECT $1 + 1",
                          arguments=("a integer",), volatility="IMMUTABLE", comment="Adds one"),
               m.Function(name="touch", body="BEGIN RETURN NEW; END")),
    views=(m.View(name="v", query="SELECT o.id FROM walltrack.orders o", comment="Orders' ids",
                  column_comments=(("id", "The id"),),
                  triggers=(m.Trigger(name="v_write", timing="INSTEAD OF", events=("INSERT",), function="touch",
                                      comment="Writes"),)),),
    external_tables=("walltrack.orders",),
    schemas=("hx_aux",),
    extensions=(m.Extension(name="citext", in_schema="hx_aux", version="1.6"),),
    enums=(m.EnumType(name="hx_e", labels=("a", "b"), renamed=(("old", "b"),), comment="An enum",
                      renamed_from="hx_e_old"),),
    domains=(m.Domain(name="hx_d", base="text", default="'x'", comment="A domain", renamed_from="hx_d_old",
                      checks=(m.DomainCheck(name="hx_dc", expression="VALUE <> ''"),)),),
    composites=(m.CompositeType(name="hx_c", attributes=(m.Attribute(name="a", type="integer"),), comment="A type",
                                renamed_from="hx_c_old"),),
    ranges=(m.RangeType(name="hx_r", subtype="text", collation="C", subtype_opclass="text_pattern_ops",
                        comment="A range", renamed_from="hx_r_old"),
            m.RangeType(name="hx_f", subtype="double precision", subtype_diff="float8mi")),
)


def _before_renames(schema: m.Schema) -> m.Schema:
    """The schema as it stood before its declared renames (so that a migration renders them)."""
    tables = []
    for t in schema.tables:
        columns = tuple(c.replace(name=c.renamed_from, renamed_from=None) if c.renamed_from else c for c in t.columns)
        tables.append(t.replace(name=t.renamed_from or t.name, renamed_from=None, columns=columns))
    was = {t.name: t.renamed_from for t in schema.tables if t.renamed_from}
    sequences = tuple(q.replace(owned_by=(was.get(q.owned_by[0], q.owned_by[0]), q.owned_by[1])) if q.owned_by else q
                      for q in schema.sequences)
    types = {t.name: t.renamed_from for t in (*schema.enums, *schema.domains, *schema.composites, *schema.ranges)
             if t.renamed_from}

    def back(items: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(t.replace(name=t.renamed_from, renamed_from=None) if t.renamed_from else t for t in items)

    tables = [t.replace(columns=tuple(c.replace(type=c.type.replace(name=types[c.type.name]))
                                      if c.type.in_schema == schema.name and c.type.name in types else c
                                      for c in t.columns)) for t in tables]
    return schema.replace(tables=tuple(tables), sequences=sequences, enums=back(schema.enums),
                          domains=back(schema.domains), composites=back(schema.composites), ranges=back(schema.ranges))


def _extra(schema: m.Schema) -> list[str]:
    old = _before_renames(schema)
    migration = plan.migration_plan(old, schema, diff.diff(old, schema))
    statements = [*plan.create_statements(schema), *migration.transactional, *migration.online]
    return [RENDERER.statement(s) for s in statements]


ROOTS: list[tuple[str, m.Node, Callable[[Any], list[str]], set[m.Node]]] = [
    ("head", HEAD, _head, set()),
    ("V1", V1, lambda v: _version(v, None), set()),
    # V9 inherits V1's objects unchanged (a hand-declared version can only add): attack what V9 adds.
    ("V9", V9, lambda v: _version(v, V1), set(nodes(V1.state))),
    ("extra", EXTRA, _extra, set()),
]


@dataclass(frozen=True)
class Case:
    root: str
    target: Target
    payload: str

    @property
    def id(self) -> str:
        return f"{self.root}:{self.target}:{self.payload[:12]!r}"


def cases() -> list[Case]:
    seen: set[tuple[str, str, int, int | None]] = set()
    out: list[Case] = []
    for root_name, root, _, skip in ROOTS:
        for target in targets(root, skip):
            if target.kind in seen:
                continue
            seen.add(target.kind)
            out += [Case(root_name, target, p) for p in PAYLOADS]
    return out


def hostile(case: Case) -> list[str]:
    """The rendered statements that carry the hostile value (those the original declarations do not
    render: the rest is the released text); raises Refused."""
    _, root, render, _ = next(r for r in ROOTS if r[0] == case.root)
    t = case.target
    new_owner = _replace(t.owner, **{t.field: _put(getattr(t.owner, t.field), t.path, case.payload)})
    new_root = substitute(root, t.owner, new_owner)
    try:
        original = set(render(root))
        return [text for text in render(new_root) if text not in original]
    except plan.PlanError as exc:
        raise Refused(new_root, exc) from None


# ---------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch(dbs: Databases) -> Iterator[tuple[Databases, str]]:
    name = dbs.empty("orders_schema_hostile")
    yield dbs, name
    dbs.drop(name)


# The statements carrying one hostile value run in a transaction rolled back afterwards, on a
# database at the released V9, with psql rolling back only a failing statement and going on
# (ON_ERROR_ROLLBACK): an injected statement would run, as it would when a DBA applies the file.
# After them: a marker proving psql is back at a statement boundary (text that left a string,
# identifier, comment or dollar quote open would swallow it), then the canary check.
AFTER = """
\\echo END-{n}
SELECT 'DROPPED-{n}' WHERE pg_catalog.to_regclass('public.canary') IS NULL;
ROLLBACK;
"""


def _holds_text(annotation: Any) -> bool:
    """Can a field of this type hold a string (``str``, a string ``Literal``, inside tuples, ...)?"""
    if annotation is str:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return any(isinstance(a, str) for a in typing.get_args(annotation))
    return any(_holds_text(a) for a in typing.get_args(annotation))


def test_walk_reaches_every_kind_of_declared_string() -> None:
    """The walk is what the hostile test trusts: it must reach names, fragments, comments, bodies,
    settings and example rows, in the schema and in the versions' own fields, and every string
    field of every declared kind."""
    kinds = {c.target.kind for c in cases()}
    declared = [cls for cls in vars(m).values() if isinstance(cls, type) and issubclass(cls, m.Node)]
    # Query is the application's statements, run by the repository, never rendered into a version.
    fields = {(cls.__name__, f) for cls in declared if cls not in (m.Node, m.Query)
              for f, info in cls.model_fields.items() if _holds_text(info.annotation)}
    assert fields <= {k[:2] for k in kinds}, sorted(fields - {k[:2] for k in kinds})
    expected = {
        ("Column", "name", 0, None), ("Column", "default", 0, None), ("Column", "section", 0, None),
        ("Check", "expression", 0, None), ("Check", "accepts", 3, 0), ("Check", "accepts", 3, 1),
        ("Index", "where", 0, None), ("IndexColumn", "expression", 0, None), ("Trigger", "referencing_new", 0, None),
        ("Trigger", "when", 0, None), ("Function", "body", 0, None), ("Function", "settings", 2, 0),
        ("Function", "settings", 2, 1), ("Function", "returns", 0, None), ("View", "query", 0, None),
        ("Table", "populate", 0, None), ("Schema", "name", 0, None), ("Version", "header", 1, None),
        ("Phase", "title", 0, None), ("Comment", "text", 0, None), ("ForeignKey", "ref_table", 0, None),
        ("PrimaryKey", "columns", 1, None), ("Column", "renamed_from", 0, None), ("Table", "renamed_from", 0, None),
        ("Unique", "name", 0, None), ("Index", "include", 1, None), ("IndexColumn", "nulls", 0, None),
        ("Function", "arguments", 1, None), ("Schema", "external_tables", 1, None),
        ("Role", "name", 0, None), ("Grant", "to", 0, None), ("Grant", "columns", 1, None),
        ("Policy", "using", 0, None), ("Policy", "with_check", 0, None), ("Policy", "roles", 1, None),
        ("Revoke", "name", 0, None), ("Table", "owner", 0, None), ("DefaultPrivilege", "to", 0, None),
        ("DefaultPrivilege", "for_role", 0, None), ("DefaultPrivilege", "privileges", 1, None),
    }
    assert expected <= kinds, sorted(expected - kinds)


def test_hostile_values_are_refused_or_rendered_harmlessly(scratch: tuple[Databases, str]) -> None:
    dbs, dbname = scratch
    assert dbs.server.bindir is not None
    problems: list[str] = []
    refused: list[Case] = []
    unchanged: list[Case] = []  # the value does not reach the SQL (e.g. an example row's value)
    rendered: list[tuple[Case, str]] = []
    for case in cases():
        try:
            statements = hostile(case)
        except Refused as exc:
            message = str(exc)
            if "\n" in message or not NAMED.match(message):
                problems.append(f"{case.id}: refused without naming the object: {message!r}")
            refused.append(case)
            continue
        if statements:
            rendered.append((case, "\n".join(statements)))
        else:
            unchanged.append(case)
    script = "".join(f"BEGIN;\n{text}{AFTER.format(n=n)}" for n, (_, text) in enumerate(rendered))
    psql = [str(dbs.server.bindir / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_ROLLBACK=on"]
    with psycopg.connect(dbs.server.dsn(dbname), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.canary (x int)")
        conn.execute("\n".join(_version(V1, None) + _version(V9, V1)))  # type: ignore[arg-type]
        run = subprocess.run([*psql, dbs.server.dsn(dbname)], input=script, capture_output=True, text=True,
                             check=False, timeout=600)
        alive = conn.execute("SELECT to_regclass('public.canary') IS NOT NULL").fetchone()
    assert alive == (True,), "rendered SQL dropped the canary"
    segments = re.split(r"^END-(\d+)$", run.stdout, flags=re.MULTILINE)
    ended = {int(n) for n in segments[1::2]}
    for n, (case, text) in enumerate(rendered):
        output = segments[2 * n] if 2 * n < len(segments) else ""
        if n not in ended:
            problems.append(f"{case.id}: the rendered SQL swallowed what follows it:\n{text}")
        if "INJECTED" in output or re.search(rf"^DROPPED-{n}$", run.stdout, flags=re.MULTILINE):
            problems.append(f"{case.id}: the rendered SQL ran the payload:\n{text}")
    assert problems == []
    # Both outcomes happen: names, fragments and comments are refused; names that are merely odd,
    # comments, bodies and setting values are quoted and run.
    assert len(refused) > 300 and len(rendered) > 60, (len(refused), len(rendered), len(unchanged))
