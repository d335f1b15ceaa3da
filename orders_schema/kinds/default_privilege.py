"""The default-privilege kind: privileges that objects created later in the schema get
(``ALTER DEFAULT PRIVILEGES ... IN SCHEMA``; ``Schema.default_privileges``).

* declaration: :class:`DefaultPrivilege` (the creating role, ``None`` for the schema's owner,
  which is the role applying the migrations; the kind of object; privileges; the grantee).
  Per-schema defaults can only add to the global ones (PostgreSQL's rule): they cannot take
  ``EXECUTE`` on functions away from ``PUBLIC``, so revoke that per function (:class:`Revoke`);
* identity: one privilege of one grantee on one kind of object for one creating role;
* changes: :class:`SetDefaultPrivilege` (granted or revoked), its reverse the opposite;
* statements: :class:`AlterDefaultPrivileges` (``GRANT`` or ``REVOKE``), placed once every role
  exists; it takes no lock on a table; re-runnable;
* stored form: ``pg_default_acl`` of the schema, ``aclexplode``d; the creating role is shown as
  ``""`` when it is the schema's owner, so the declarations compare equal on any server.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import model_validator

from orders_schema.declare.base import DeclarationError, Name, Node
from orders_schema.declare.quoting import ident
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.kinds.role import PUBLIC, with_roles
from orders_schema.live.difference import Difference, pair
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

Objects = Literal["tables", "sequences", "functions"]
Privilege = Literal["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "USAGE", "EXECUTE"]
_ALLOWED: dict[str, frozenset[str]] = {
    "tables": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}),
    "sequences": frozenset({"USAGE", "SELECT", "UPDATE"}),
    "functions": frozenset({"EXECUTE"}),
}
_OBJTYPE = {"r": "tables", "S": "sequences", "f": "functions"}
_ORDER = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "USAGE", "EXECUTE")


class DefaultPrivilege(Node):
    """``ALTER DEFAULT PRIVILEGES [FOR ROLE for_role] IN SCHEMA s GRANT privileges ON on TO to``:
    e.g. ``DefaultPrivilege(on="tables", privileges=("SELECT",), to="walltrack_reader")`` gives the
    reader every table the schema's owner creates from then on. ``for_role`` None: the schema's
    owner (the role applying the migrations)."""

    kind = "default privilege"

    on: Objects
    privileges: tuple[Privilege, ...]
    to: Name
    for_role: Name | None = None

    @model_validator(mode="after")
    def _valid(self) -> DefaultPrivilege:
        what = f"default privilege on {self.on} to {self.to}"
        if not self.privileges:
            raise DeclarationError(f"{what}: names no privilege")
        if bad := sorted(set(self.privileges) - _ALLOWED[self.on]):
            raise DeclarationError(f"{what}: {', '.join(bad)} cannot be granted on {self.on} "
                                   f"(allowed: {', '.join(sorted(_ALLOWED[self.on]))})")
        return self


Entry = tuple[str, str, str, str]
"""``(creating role or "", object kind, grantee, privilege)``."""


def _grantee(name: str) -> str:
    return PUBLIC if name.upper() == PUBLIC else name


def declared_entries(schema: m.Schema) -> set[Entry]:
    return {(d.for_role or "", d.on, _grantee(d.to), p) for d in schema.default_privileges for p in d.privileges}


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetDefaultPrivilege(Change):
    entry: Entry
    granted: bool

    def reverse(self) -> Change:
        return SetDefaultPrivilege(self.entry, not self.granted)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class AlterDefaultPrivileges(Statement):
    schema: str
    for_role: str
    on: str
    privileges: tuple[str, ...]
    grantee: str
    granted: bool


@renders(AlterDefaultPrivileges)
def alter_default_privileges_sql(s: AlterDefaultPrivileges) -> str:
    role = f" FOR ROLE {ident(s.for_role)}" if s.for_role else ""
    grantee = PUBLIC if s.grantee == PUBLIC else ident(s.grantee)
    action = (f"GRANT {', '.join(s.privileges)} ON {s.on.upper()} TO {grantee}" if s.granted
              else f"REVOKE {', '.join(s.privileges)} ON {s.on.upper()} FROM {grantee}")
    return f"ALTER DEFAULT PRIVILEGES{role} IN SCHEMA {ident(s.schema)}\n    {action};"


def statements(schema: str, entries: Sequence[Entry], granted: bool) -> list[Statement]:
    grouped: dict[tuple[str, str, str], set[str]] = {}
    for role, on, grantee, privilege in entries:
        grouped.setdefault((role, on, grantee), set()).add(privilege)
    return [AlterDefaultPrivileges(schema, role, on, tuple(sorted(ps, key=_ORDER.index)), grantee, granted)
            for (role, on, grantee), ps in sorted(grouped.items())]


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DefaultPrivilegeInfo:
    for_role: str
    on: str
    grantee: str
    privilege: str

    @property
    def entry(self) -> Entry:
        return (self.for_role, self.on, self.grantee, self.privilege)


QUERY = """
SELECT CASE WHEN d.defaclrole = n.nspowner THEN '' ELSE pg_get_userbyid(d.defaclrole)::text END AS for_role,
       d.defaclobjtype::text AS on,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee)::text END AS grantee,
       x.privilege_type AS privilege
FROM pg_default_acl d
JOIN pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) x
WHERE n.nspname = %(schema)s
ORDER BY 1, 2, 3, 4"""


# -- the kind --------------------------------------------------------------------------------


class DefaultPrivilegeKind(Kind[DefaultPrivilege, DefaultPrivilegeInfo]):
    name = "default privilege"
    rank = 62
    catalog_field = "default_privileges"
    query = QUERY
    create_stage = "last"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[DefaultPrivilege]]:
        return {(d.for_role or "", d.on, _grantee(d.to), d.privileges): Declared(None, d)
                for d in schema.default_privileges}

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        before, after = declared_entries(old), declared_entries(new)
        changes: list[Change] = [SetDefaultPrivilege(e, True) for e in sorted(after - before)]
        return changes + [SetDefaultPrivilege(e, False) for e in sorted(before - after)]

    def create(self, schema: str, key: Hashable, item: Declared[DefaultPrivilege]) -> list[Statement]:
        d = item.obj
        return statements(schema, [(d.for_role or "", d.on, _grantee(d.to), p) for p in d.privileges], True)

    def plan(self, ctx: PlanContext) -> Planned:
        out = Planned()
        changes = ctx.of(SetDefaultPrivilege)
        out.after += statements(ctx.schema, [c.entry for c in changes if not c.granted], False)
        out.after += statements(ctx.schema, [c.entry for c in changes if c.granted], True)
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[DefaultPrivilegeInfo, ...]:
        return tuple(DefaultPrivilegeInfo(**{**r, "on": _OBJTYPE.get(r["on"], r["on"])}) for r in rows)

    def compare(self, schema: str, declared: Sequence[DefaultPrivilegeInfo],
                live: Sequence[DefaultPrivilegeInfo]) -> Iterator[Difference]:
        for (role, on, grantee, privilege), d, x in pair({p.entry: p for p in declared}, {p.entry: p for p in live}):
            if d is None or x is None:
                text = f"{privilege} on {on} to {grantee}" + (f" (objects created by {ident(role)})" if role else "")
                yield Difference("default privilege", f"in schema {ident(schema)}",
                                 "missing" if x is None else "extra",
                                 None if d is None else text, None if x is None else text)

    def declare(self, schema: m.Schema, stored: Sequence[DefaultPrivilegeInfo]) -> Declaration:
        """The defaults per creating role, kind of object and grantee, their roles declared too.
        Listed instead: defaults on other kinds of object (types, schemas), reserved ``pg_`` roles,
        and a default of the schema's owner that a declared object it would cover lacks (the
        declarations imply it on every object: they could not say "not on this one")."""
        from orders_schema.kinds.grant import declared_acl, implied, signature

        grouped: dict[tuple[str, str, str], list[str]] = {}
        undeclared: list[Undeclared] = []
        for info in stored:
            what = f"{info.privilege} on {info.on} to {info.grantee}" + (
                f" (objects created by {info.for_role})" if info.for_role else "")
            if info.on not in _ALLOWED:
                undeclared.append(Undeclared(self.name, what, f"defaults on {info.on} are not declarable yet"))
            elif any(r.startswith("pg_") for r in (info.for_role, info.grantee)):
                undeclared.append(Undeclared(self.name, what, "a reserved pg_ role cannot be declared"))
            else:
                grouped.setdefault((info.for_role, info.on, info.grantee), []).append(info.privilege)
        acl = declared_acl(schema)
        out: list[DefaultPrivilege] = []
        for (role, on, grantee), ps in sorted(grouped.items()):
            d = DefaultPrivilege(on=on, privileges=tuple(sorted(set(ps), key=_ORDER.index)),
                                 to=grantee, for_role=role or None)
            alone = schema.model_copy(update={"default_privileges": (d,)})
            lacking = sorted({f"{g.on} {g.name}" for g in implied(alone) for p in g.privileges
                              if (g.on, signature(schema, str(g.name)) if g.on == "function" else g.name or "",
                                  "", _grantee(g.to), p) not in acl})
            if lacking:
                undeclared.append(Undeclared(self.name, f"{', '.join(d.privileges)} on {on} to {grantee}",
                                             f"{', '.join(lacking)} lack it (created before it)"))
                continue
            schema = with_roles(schema, grantee, *([role] if role else []))
            out.append(d)
        return Declaration(schema.model_copy(update={"default_privileges": (*schema.default_privileges, *out)}),
                           tuple(undeclared))


DEFAULT_PRIVILEGE = DefaultPrivilegeKind()
