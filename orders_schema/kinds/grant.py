"""The privilege kind: ``GRANT`` and ``REVOKE`` on the schema, its tables and views (or some of
their columns), sequences and functions (``Schema.grants``, ``Schema.revokes``).

* declarations: :class:`Grant` (privileges on one object to one role or ``PUBLIC``) and
  :class:`Revoke` (a privilege PostgreSQL grants ``PUBLIC`` by default that the schema takes
  away: ``EXECUTE`` on a function);
* identity: one privilege of one grantee on one object (:data:`Entry`): the declared ACL is the
  objects' defaults (``EXECUTE`` to ``PUBLIC`` on every function), minus the revokes, plus the
  grants; the owner's own privileges are never declared nor compared (they follow ownership);
* changes: :class:`SetPrivilege` (granted or revoked), its reverse is the opposite; an object
  this version creates gets its non-default entries, one it drops loses them first;
* statements: :class:`GrantStatement` / :class:`RevokeStatement` (one per object, grantee and
  direction, its privileges together), placed once every object exists (``after``, after the
  views this version creates or re-creates, whose privileges a re-creation loses: they are
  granted again). They take no lock that blocks reads or writes, and are re-runnable;
* stored form: ``aclexplode`` of ``pg_namespace.nspacl``, ``pg_class.relacl``,
  ``pg_attribute.attacl`` and ``pg_proc.proacl`` (``acldefault`` where NULL), the owner's
  entries left out, ``0`` shown as ``PUBLIC``; compared entry for entry.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, model_validator

from orders_schema.declare.base import DeclarationError, Name, Node
from orders_schema.declare.quoting import ident, identifier_problem, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.kinds.role import PUBLIC
from orders_schema.live.difference import Difference, pair
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

Privilege = Literal[
    "SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "USAGE", "CREATE", "EXECUTE"
]
ObjectKind = Literal["schema", "table", "sequence", "function"]

ALLOWED: dict[str, frozenset[str]] = {
    "schema": frozenset({"USAGE", "CREATE"}),
    "table": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}),
    "column": frozenset({"SELECT", "INSERT", "UPDATE", "REFERENCES"}),
    "sequence": frozenset({"USAGE", "SELECT", "UPDATE"}),
    "function": frozenset({"EXECUTE"}),
}
"""What each kind of object can be granted (``column``: a table's columns)."""

def _valid_object(value: str) -> str:
    base, paren, rest = value.partition("(")
    if paren and (not rest.endswith(")") or any(ord(c) < 32 for c in rest)
                  or any(mark in rest for mark in (";", "--", "/*", "'", "$"))):
        raise ValueError("is neither a name nor a function's signature name(type, ...)")
    if problem := identifier_problem(base if paren else value):
        raise ValueError(problem)
    return value


ObjectName = Annotated[str, AfterValidator(_valid_object)]
"""An object's name, or a function's signature ``name(type, ...)``."""

_ORDER = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "USAGE", "CREATE", "EXECUTE")


class Grant(Node):
    """``GRANT privileges ON object TO role``.

    ``on``: ``schema`` (``name`` None: the declared schema itself), ``table`` (a table or a view;
    ``columns`` narrows SELECT / INSERT / UPDATE / REFERENCES to those columns), ``sequence``,
    ``function`` (by name, or by signature, e.g. ``total(numeric)``, which an overloaded name needs).
    ``to``: a role of ``Schema.roles`` or
    ``PUBLIC`` (every role, present and future)."""

    kind = "grant"

    to: Name
    privileges: tuple[Privilege, ...]
    on: ObjectKind
    name: ObjectName | None = None
    columns: tuple[Name, ...] = ()

    @property
    def object_text(self) -> str:
        return "schema" if self.on == "schema" else f"{self.on} {self.name}"

    @model_validator(mode="after")
    def _valid(self) -> Grant:
        what = f"grant to {self.to} on {self.object_text}"
        if not self.privileges:
            raise DeclarationError(f"{what}: names no privilege")
        if (self.on == "schema") != (self.name is None):
            raise DeclarationError(f"{what}: name the object (None only for the schema itself)")
        if self.columns and self.on != "table":
            raise DeclarationError(f"{what}: only a table's privileges can be narrowed to columns")
        allowed = ALLOWED["column" if self.columns else self.on]
        if bad := sorted(set(self.privileges) - allowed):
            raise DeclarationError(f"{what}: {', '.join(bad)} cannot be granted on a "
                                   f"{'column' if self.columns else self.on} (allowed: {', '.join(sorted(allowed))})")
        return self


class Revoke(Node):
    """Take away a privilege PostgreSQL gives ``PUBLIC`` by default: ``EXECUTE`` on a function
    (``Revoke(on="function", name="f")`` renders ``REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC``;
    ``name`` is a function's name, or its signature, e.g. ``total(numeric)``, when it is overloaded)."""

    kind = "revoke"

    on: Literal["function"]
    name: ObjectName
    privileges: tuple[Literal["EXECUTE"], ...] = ("EXECUTE",)

    @model_validator(mode="after")
    def _valid(self) -> Revoke:
        if not self.privileges:
            raise DeclarationError(f"revoke on {self.on} {self.name}: names no privilege")
        return self


Entry = tuple[str, str, str, str, str]
"""``(object kind, object name, column, grantee, privilege)``: ``column`` is ``""`` unless the
privilege is a column's; the schema's own name is ``""``; object kind ``table`` also covers views;
a function's name is its signature (overloads are distinct objects)."""


def _loose(signature: str) -> str:
    """A signature as compared: argument types lower-cased, single spaces, none around ``( , ) [ ]``."""
    name, _, arguments = signature.partition("(")
    arguments = re.sub(r" ?([(),\[\]]) ?", r"\1", " ".join(arguments.lower().split()))
    return f"{name}({arguments}"


def function_named(functions: Iterable[m.Function], name: str, what: str, schema: str) -> m.Function:
    """The function a grant or revoke names: by its name when it is not overloaded, else by its
    signature (``total(numeric)``, as :attr:`Function.signature` gives it)."""
    fns = list(functions)
    if "(" in name:
        wanted = _loose(name)
        for fn in fns:
            if _loose(fn.signature) == wanted:
                return fn
        base = name.partition("(")[0]
        known = [fn.signature for fn in fns if fn.name == base]
        raise DeclarationError(f"{what}: no function {name!r} in schema {schema}" + (
            f" (the signatures of {base}: {', '.join(known)})" if known else f" (no function named {base!r})"))
    named = [fn for fn in fns if fn.name == name]
    if not named:
        raise DeclarationError(f"{what}: no function {name!r} in schema {schema}")
    if len(named) > 1:
        raise DeclarationError(f"{what}: {name} is overloaded ({', '.join(fn.signature for fn in named)}): "
                               "name one by its signature")
    return named[0]


def _signature_of(schema: m.Schema) -> dict[str, str]:
    """What a grant or revoke may name a function by (its name if not overloaded, its signature,
    loosely written) to its signature."""
    counts = Counter(fn.name for fn in schema.functions)
    out = {_loose(fn.signature): fn.signature for fn in schema.functions}
    out.update({fn.name: fn.signature for fn in schema.functions if counts[fn.name] == 1})
    return out


def signature(schema: m.Schema, name: str) -> str:
    """The signature of the function a (valid) grant or revoke names."""
    by = _signature_of(schema)
    return by.get(name) or by.get(_loose(name), name)


def key_names(*schemas: m.Schema) -> dict[str, str]:
    """Each function's signature to the name its privileges are rendered and read back with: its
    plain name while no other function of these schemas (all of which may exist at once while a
    migration runs) has it, else its signature."""
    signatures = {fn.signature: fn.name for s in schemas for fn in s.functions}
    counts = Counter(signatures.values())
    return {sig: name if counts[name] == 1 else sig for sig, name in signatures.items()}


def function_target(schema: str, name: str) -> str:
    """``s.f`` or, for a signature, ``s.f(type, ...)`` (the types as the validated declaration
    or the catalogue write them)."""
    if "(" in name and name.endswith(")"):
        base, _, arguments = name.partition("(")
        return f"{qualified(schema, base)}({arguments}"
    return qualified(schema, name)


def implied(schema: m.Schema) -> list[Grant]:
    """The grants the schema owner's default privileges (``Schema.default_privileges`` without
    ``for_role``) give every declared object of their kind: declared objects hold them whether
    they were created before the default (the version grants them) or after (PostgreSQL does)."""
    out: list[Grant] = []
    for d in schema.default_privileges:
        if d.for_role is not None:
            continue  # objects created by another role: none of the declared ones
        if d.on == "tables":
            names = [t.name for t in schema.tables] + [v.name for v in schema.views]
            out += [Grant(to=d.to, privileges=d.privileges, on="table", name=n) for n in names]
        elif d.on == "functions":
            keys = key_names(schema)
            out += [Grant(to=d.to, privileges=d.privileges, on="function", name=keys[f.signature])
                    for f in schema.functions]
    return out


def declared_acl(schema: m.Schema) -> dict[Entry, str]:
    """Every declared entry, with the object it is on (``table:t``, ``function:f(integer)``,
    ``schema``); a function by its signature."""
    out: dict[Entry, str] = {}
    revoked = {(signature(schema, r.name), p) for r in schema.revokes for p in r.privileges}
    for fn in schema.functions:
        if (fn.signature, "EXECUTE") not in revoked:
            out[("function", fn.signature, "", PUBLIC, "EXECUTE")] = f"function:{fn.signature}"
    for g in (*schema.grants, *implied(schema)):
        to = PUBLIC if g.to.upper() == PUBLIC else g.to
        name = signature(schema, str(g.name)) if g.on == "function" else g.name or ""
        owner = "schema" if g.on == "schema" else f"{g.on}:{name}"
        for p in g.privileges:
            for column in g.columns or ("",):
                out[(g.on, name, column, to, p)] = owner
    return out


def _defaults(schema: m.Schema) -> set[Entry]:
    return {("function", fn.signature, "", PUBLIC, "EXECUTE") for fn in schema.functions}


def _objects(schema: m.Schema) -> set[str]:
    return ({"schema"} | {f"table:{t.name}" for t in schema.tables} | {f"table:{v.name}" for v in schema.views}
            | {f"function:{f.signature}" for f in schema.functions})


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetPrivilege(Change):
    entry: Entry
    granted: bool

    def reverse(self) -> Change:
        return SetPrivilege(self.entry, not self.granted)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class GrantStatement(Statement):
    schema: str
    on: str
    name: str
    columns: tuple[str, ...]
    privileges: tuple[str, ...]
    grantee: str


@dataclass(frozen=True)
class RevokeStatement(Statement):
    schema: str
    on: str
    name: str
    columns: tuple[str, ...]
    privileges: tuple[str, ...]
    grantee: str


def _target(schema: str, on: str, name: str) -> str:
    if on == "schema":
        return f"SCHEMA {ident(schema)}"
    if on in ("function", "procedure"):  # the name alone, or the signature of an overload
        return f"{on.upper()} {function_target(schema, name)}"
    return f"{on.upper()} {qualified(schema, name)}"


def _privileges(s: GrantStatement | RevokeStatement) -> str:
    cols = f" ({', '.join(ident(c) for c in s.columns)})" if s.columns else ""
    return ", ".join(p + cols for p in s.privileges)


def _grantee(name: str) -> str:
    return PUBLIC if name == PUBLIC else ident(name)


@renders(GrantStatement)
def grant_sql(s: GrantStatement) -> str:
    return f"GRANT {_privileges(s)} ON {_target(s.schema, s.on, s.name)} TO {_grantee(s.grantee)};"


@renders(RevokeStatement)
def revoke_sql(s: RevokeStatement) -> str:
    return f"REVOKE {_privileges(s)} ON {_target(s.schema, s.on, s.name)} FROM {_grantee(s.grantee)};"


def procedures(*schemas: m.Schema) -> frozenset[str]:
    """The signatures of the schemas' procedures: their privileges are ``ON PROCEDURE``
    (PostgreSQL refuses ``ON FUNCTION`` for one)."""
    return frozenset(f.signature for s in schemas for f in s.functions if f.procedure)


def statements(
    schema: str, entries: Sequence[Entry], granted: bool, procedures: Collection[str] = (),
    names: Mapping[str, str] | None = None,
) -> list[Statement]:
    """One statement per object, grantee and column set, its privileges in a fixed order; a
    ``function`` entry (by signature) of one of ``procedures`` is on that procedure, named as
    ``names`` says (:func:`key_names`: its plain name unless overloaded)."""
    out: list[Statement] = []
    by_target: dict[tuple[str, str, str], dict[str, set[str]]] = {}
    for on, name, column, grantee, privilege in entries:
        if on == "function":
            on = "procedure" if name in procedures else on
            name = (names or {}).get(name, name)
        by_target.setdefault((on, name, grantee), {}).setdefault(privilege, set()).add(column)
    for (on, name, grantee), privileges in by_target.items():
        shapes = sorted((tuple(sorted(c for c in cols if c)), p) for p, cols in privileges.items())
        for columns, group in groupby(shapes, key=lambda x: x[0]):
            ps = tuple(sorted((p for _, p in group), key=_ORDER.index))
            cls = GrantStatement if granted else RevokeStatement
            out.append(cls(schema, on, name, columns, ps, grantee))
    return out


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivilegeInfo:
    on: str
    name: str
    column: str
    grantee: str
    privilege: str
    grantable: bool

    @property
    def entry(self) -> Entry:
        return (self.on, self.name, self.column, self.grantee, self.privilege)


@dataclass(frozen=True)
class ObjectAcl:
    """One object's non-owner privileges (its columns' included), as stored."""

    on: str
    name: str
    entries: tuple[PrivilegeInfo, ...]


_NOT_EXTENSION = """NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = '{catalog}'::regclass AND d.objid = {oid} AND d.deptype = 'e')"""

QUERY = """
WITH objects AS (
    SELECT 'schema' AS on, '' AS name, '' AS column, coalesce(n.nspacl, acldefault('n', n.nspowner)) AS acl,
           n.nspowner AS owner
    FROM pg_namespace n WHERE n.nspname = %(schema)s
    UNION ALL
    SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END, c.relname, '',
           coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner)),
           c.relowner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND """ + _NOT_EXTENSION.format(
    catalog="pg_class", oid="c.oid") + """
    UNION ALL
    SELECT 'table', c.relname, a.attname, a.attacl, c.relowner
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0
      AND NOT a.attisdropped AND a.attacl IS NOT NULL
    UNION ALL
    SELECT 'function',
           CASE WHEN count(*) OVER (PARTITION BY p.proname) = 1 THEN p.proname::text
                ELSE p.proname || '(' || array_to_string(ARRAY(
                    SELECT format_type(u.t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i)
                    ORDER BY u.i), ', ') || ')' END,
           '', coalesce(p.proacl, acldefault('f', p.proowner)), p.proowner
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = %(schema)s AND p.prokind IN ('f', 'p') AND """ + _NOT_EXTENSION.format(
    catalog="pg_proc", oid="p.oid") + """
)
SELECT o.on, o.name, o.column,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee)::text END AS grantee,
       x.privilege_type AS privilege, x.is_grantable AS grantable
FROM objects o
LEFT JOIN LATERAL (SELECT * FROM aclexplode(o.acl) e WHERE e.grantee <> o.owner) x ON true
ORDER BY 1, 2, 3, 4, 5"""
"""One row per privilege, and one with a NULL privilege for an object that has none: the objects
themselves are known, so a privilege is compared only on objects both sides have. A function is
named by its name, or by its signature (``total(numeric)``) when it is overloaded."""


# -- the kind --------------------------------------------------------------------------------


class GrantKind(Kind["Grant | Revoke", ObjectAcl]):
    name = "privilege"
    rank = 60
    catalog_field = "privileges"
    query = QUERY
    create_stage = "last"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[Grant | Revoke]]:
        out: dict[Hashable, Declared[Grant | Revoke]] = {}
        procs = procedures(schema)  # the key names what ``create`` renders: FUNCTION or PROCEDURE

        def on(g: Grant | Revoke) -> str:
            return "procedure" if g.on == "function" and signature(schema, str(g.name)) in procs else g.on

        def spelled(g: Grant | Revoke) -> Any:  # a signature as the function's declaration writes it
            return g.replace(name=signature(schema, str(g.name))) if g.on == "function" and "(" in str(g.name) else g

        for g in (*map(spelled, schema.grants), *implied(schema)):
            key = ("grant", on(g), g.name or "", g.to, g.columns)
            if key in out:  # declared and implied by a default: one GRANT of both's privileges
                g = g.replace(privileges=tuple(dict.fromkeys((*out[key].obj.privileges, *g.privileges))))
            out[key] = Declared(None, g)
        out.update({("revoke", on(r), r.name): Declared(None, r) for r in map(spelled, schema.revokes)})
        return out

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        before, after = declared_acl(old), declared_acl(new)
        gone, born = _objects(old) - _objects(new), _objects(new) - _objects(old)
        old_defaults, new_defaults = _defaults(old), _defaults(new)
        changes: list[Change] = []
        for entry in sorted(after.keys() - before.keys()):
            # an object created now already carries its defaults
            if not (after[entry] in born and entry in new_defaults):
                changes.append(SetPrivilege(entry, True))
        for entry in sorted(new_defaults - after.keys()):
            if f"function:{entry[1]}" in born:  # a new function whose default is revoked
                changes.append(SetPrivilege(entry, False))
        for entry in sorted(before.keys() - after.keys()):
            if before[entry] not in gone or entry not in old_defaults:
                changes.append(SetPrivilege(entry, False))
        for entry in sorted(old_defaults - before.keys()):
            if f"function:{entry[1]}" in gone:
                changes.append(SetPrivilege(entry, True))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[Grant | Revoke]) -> list[Statement]:
        g, on = item.obj, str(key[1]) if isinstance(key, tuple) else item.obj.on
        if isinstance(g, Revoke):
            return [RevokeStatement(schema, on, g.name, (), g.privileges, PUBLIC)]
        to = PUBLIC if g.to.upper() == PUBLIC else g.to
        return [GrantStatement(schema, on, g.name or "", g.columns,
                               tuple(sorted(set(g.privileges), key=_ORDER.index)), to)]

    def plan(self, ctx: PlanContext) -> Planned:
        out = Planned()
        # a column, table or function this migration drops takes its privileges with it: changing
        # them first would only make the script fail when run again, once the object is gone
        functions = {f.signature for f in ctx.new.functions}

        def gone(on: str, name: str, column: str) -> bool:
            if on == "table":
                return name in ctx.dropped or (name, column) in ctx.dropped_columns
            return on == "function" and name not in functions

        changes = [c for c in ctx.of(SetPrivilege) if not gone(*c.entry[:3])]
        procs = procedures(ctx.new) | (procedures(ctx.old) - functions)
        names = key_names(ctx.new, ctx.old)  # the old functions this version drops still exist here
        out.after += statements(ctx.schema, [c.entry for c in changes if not c.granted], False, procs, names)
        out.after += statements(ctx.schema, [c.entry for c in changes if c.granted], True, procs, names)
        out.last += self._regranted(ctx)  # once every view is created again (some are, in ``last``)
        return out

    def _regranted(self, ctx: PlanContext) -> list[Statement]:
        """Views re-created and functions dropped and created by this version lose their privileges:
        grant the declared ones again (and revoke the revoked defaults)."""
        from orders_schema.kinds.function import ReplaceFunction
        from orders_schema.kinds.view import dropped_views

        views = dropped_views(ctx)
        functions = {c.new.signature for c in ctx.of(ReplaceFunction)
                     if c.old.arguments != c.new.arguments or c.old.returns != c.new.returns
                     or c.old.procedure != c.new.procedure}
        keep = {f"table:{v.name}" for v in ctx.new.views if v.name in views} | {f"function:{f}" for f in functions}
        acl = declared_acl(ctx.new)
        done = {c.entry for c in ctx.of(SetPrivilege)}
        grants = [e for e, owner in acl.items() if owner in keep and e not in done and e not in _defaults(ctx.new)]
        revokes = [e for e in _defaults(ctx.new) - acl.keys() if f"function:{e[1]}" in keep and e not in done]
        procs, names = procedures(ctx.new), key_names(ctx.new, ctx.old)
        return [*statements(ctx.schema, revokes, False, procs, names),
                *statements(ctx.schema, grants, True, procs, names)]

    def stored(self, rows: list[dict[str, Any]]) -> tuple[ObjectAcl, ...]:
        objects: dict[tuple[str, str], list[PrivilegeInfo]] = {}
        for r in rows:
            entries = objects.setdefault((r["on"], r["name"]), [])
            if r["privilege"] is not None:
                entries.append(PrivilegeInfo(**r))
        return tuple(ObjectAcl(on, name, tuple(entries)) for (on, name), entries in objects.items())

    def compare(self, schema: str, declared: Sequence[ObjectAcl], live: Sequence[ObjectAcl]) -> Iterator[Difference]:
        # an object on one side only is its own kind's difference (a table, a function, a view)
        for _, d_acl, x_acl in pair({(o.on, o.name): o for o in declared}, {(o.on, o.name): o for o in live}):
            if d_acl is None or x_acl is None:
                continue
            for (on, name, column, grantee, privilege), d, x in pair(
                {p.entry: p for p in d_acl.entries}, {p.entry: p for p in x_acl.entries}
            ):
                where = (ident(schema) if on == "schema" else function_target(schema, name) if on == "function"
                         else qualified(schema, name, *([column] if column else [])))
                text = f"{privilege} to {_grantee(grantee)}"
                if d is None or x is None:
                    yield Difference("privilege", f"{on} {where}", "missing" if x is None else "extra",
                                     None if d is None else text, None if x is None else text)
                elif d.grantable != x.grantable:
                    yield Difference("privilege", f"{on} {where}", "grant option differs",
                                     f"{text} grantable={d.grantable}", f"{text} grantable={x.grantable}")

    def declare(self, schema: m.Schema, stored: Sequence[ObjectAcl]) -> Declaration:
        """Each declared object's non-default privileges as grants (a column's, grouped by the
        privileges they share), a function's missing ``EXECUTE`` to ``PUBLIC`` as a revoke. Listed
        instead: privileges on objects not declared (sequences among them), WITH GRANT OPTION,
        to roles that cannot be declared. An overloaded function's are declared by its signature."""
        roles = {r.name for r in schema.roles}
        objects = _objects(schema)
        grants: list[Grant] = []
        revokes: list[Revoke] = []
        undeclared: list[Undeclared] = []
        for acl in stored:
            where = "schema" if acl.on == "schema" else f"{acl.on} {acl.name}"
            entries = set(acl.entries)
            if acl.on == "function":
                default = {("function", acl.name, "", PUBLIC, "EXECUTE")}
                if {e.entry for e in entries} == default and all(not e.grantable for e in entries):
                    continue  # PostgreSQL's default
            # a function by its signature, as its declaration writes it (the catalogue's when overloaded)
            name = signature(schema, acl.name) if acl.on == "function" else acl.name or ""
            if ("schema" if acl.on == "schema" else f"{acl.on}:{name}") not in objects:
                held = sorted(_text(e) for e in entries)
                if acl.on == "function" and not any(e.grantee == PUBLIC for e in entries):
                    held.append("EXECUTE revoked from PUBLIC")
                if held:
                    undeclared.append(Undeclared(self.name, where, f"its object is not declared: {', '.join(held)}"))
                continue
            if acl.on == "function" and (PUBLIC, "EXECUTE") not in {(e.grantee, e.privilege) for e in entries}:
                revokes.append(Revoke(on="function", name=name if "(" in acl.name else acl.name))
            for e in sorted(entries, key=lambda e: e.entry):
                if e.grantable:
                    undeclared.append(Undeclared(self.name, where, f"{_text(e)} WITH GRANT OPTION is not declarable"))
                elif e.grantee != PUBLIC and e.grantee not in roles:
                    undeclared.append(Undeclared(self.name, where, f"{_text(e)}: the role cannot be declared"))
            kept = [e for e in entries if not e.grantable and (e.grantee == PUBLIC or e.grantee in roles)
                    and not (acl.on == "function" and e.grantee == PUBLIC and e.privilege == "EXECUTE")]
            grants += _grants(acl if "(" not in acl.name else ObjectAcl(acl.on, name, acl.entries), kept)
        return Declaration(schema.model_copy(update={"grants": (*schema.grants, *grants),
                                                     "revokes": (*schema.revokes, *revokes)}), tuple(undeclared))


def _text(e: PrivilegeInfo) -> str:
    return f"{e.privilege}{f' ({e.column})' if e.column else ''} to {_grantee(e.grantee)}"


def _grants(acl: ObjectAcl, entries: Sequence[PrivilegeInfo]) -> list[Grant]:
    """One grant per grantee for the whole object, one per grantee and set of columns sharing the
    same privileges."""
    out: list[Grant] = []
    on: ObjectKind = acl.on  # type: ignore[assignment]
    name = acl.name or None
    by_grantee: dict[str, list[PrivilegeInfo]] = {}
    for e in entries:
        by_grantee.setdefault(e.grantee, []).append(e)
    for grantee, es in sorted(by_grantee.items()):
        whole = sorted({e.privilege for e in es if not e.column}, key=_ORDER.index)
        if whole:
            out.append(Grant(to=grantee, privileges=tuple(whole), on=on, name=name))
        per_column: dict[str, set[str]] = {}
        for e in es:
            if e.column:
                per_column.setdefault(e.column, set()).add(e.privilege)
        shapes: dict[tuple[str, ...], list[str]] = {}
        for column, privileges in per_column.items():
            shapes.setdefault(tuple(sorted(privileges, key=_ORDER.index)), []).append(column)
        for shape, columns in sorted(shapes.items()):
            out.append(Grant(to=grantee, privileges=shape, on=on, name=name,
                             columns=tuple(sorted(columns))))
    return out


GRANT = GrantKind()
