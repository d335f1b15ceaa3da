"""The role kind: roles a schema expects to exist (``Schema.roles``).

* declaration: :class:`Role` (a name; never ``PUBLIC``, never a reserved ``pg_`` name);
* identity: its name;
* changes: :class:`AddRole`; its reverse, :class:`ForgetRole`, renders nothing: roles are
  cluster-wide (every database of the server shares them, other databases may hold privileges
  granted to one), so a down script never drops a role, and a version never alters one that is
  there already (its LOGIN, password, membership are the DBA's);
* statements: :class:`CreateRoleIfMissing`, a ``DO`` block creating the role ``NOLOGIN`` when
  ``pg_roles`` has none of that name (re-runnable; a concurrent creator's ``duplicate_object`` is
  swallowed). The migration's lint names it as a cluster-wide hazard;
* stored form: the roles the schema's privileges and policies name (:class:`RoleInfo`), compared
  by name: a declared role that is missing shows up through the privileges it should hold.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import model_validator

from orders_schema.declare.base import DeclarationError, Name, Node
from orders_schema.declare.quoting import dollar_quote, ident, literal
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.live.difference import Difference, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

PUBLIC = "PUBLIC"
"""The pseudo-role every role belongs to (``0`` in an ACL)."""


class Role(Node):
    """A role the schema's privileges and policies name: ``Role(name="walltrack_app")``.

    Created ``NOLOGIN`` by the version that declares it when the server has no role of that name;
    never altered when present (give it LOGIN, a password or members outside the schema)."""

    kind = "role"

    name: Name

    @model_validator(mode="after")
    def _valid(self) -> Role:
        if self.name.upper() == PUBLIC:
            raise DeclarationError("role PUBLIC: is the pseudo-role every role belongs to, not a role to create")
        if self.name.startswith("pg_"):
            raise DeclarationError(f"role {self.name}: names starting with pg_ are reserved by PostgreSQL")
        return self


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddRole(Change):
    role: Role

    def reverse(self) -> Change:
        return ForgetRole(self.role)


@dataclass(frozen=True)
class ForgetRole(Change):
    """The schema no longer expects the role; the role itself stays (it is cluster-wide)."""

    role: Role

    def reverse(self) -> Change:
        return AddRole(self.role)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class CreateRoleIfMissing(Statement):
    name: str


@renders(CreateRoleIfMissing)
def create_role_sql(s: CreateRoleIfMissing) -> str:
    body = (
        "\nBEGIN\n"
        f"    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {literal(s.name)}) THEN\n"
        f"        CREATE ROLE {ident(s.name)} NOLOGIN;\n"
        "    END IF;\n"
        "EXCEPTION WHEN duplicate_object THEN\n"
        "    NULL;  -- created meanwhile by another database's migration\n"
        "END\n"
    )
    return f"DO {dollar_quote(body)};"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleInfo:
    name: str


QUERY = """
WITH acl AS (
    SELECT n.nspacl AS acl FROM pg_namespace n WHERE n.nspname = %(schema)s
    UNION ALL
    SELECT c.relacl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s
    UNION ALL
    SELECT a.attacl FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s AND a.attnum > 0
    UNION ALL
    SELECT p.proacl FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(schema)s
), named AS (
    SELECT (aclexplode(acl)).grantee AS oid FROM acl WHERE acl IS NOT NULL
    UNION
    SELECT unnest(p.polroles) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s
)
SELECT r.rolname AS name
FROM pg_roles r
WHERE r.oid IN (SELECT oid FROM named)
  AND NOT EXISTS (SELECT FROM pg_namespace n WHERE n.nspname = %(schema)s AND n.nspowner = r.oid)
ORDER BY 1"""


# -- the kind --------------------------------------------------------------------------------


class RoleKind(Kind[Role, RoleInfo]):
    name = "role"
    rank = 6
    catalog_field = "roles"
    query = QUERY
    create_stage = "after_tables"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[Role]]:
        return {role.name: Declared(None, role) for role in schema.roles}

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddRole(b.obj))
            elif b is None and a is not None:
                changes.append(ForgetRole(a.obj))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[Role]) -> list[Statement]:
        return [CreateRoleIfMissing(item.obj.name)]

    def plan(self, ctx: PlanContext) -> Planned:
        out = Planned()
        out.early += [CreateRoleIfMissing(c.role.name) for c in ctx.of(AddRole)]
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[RoleInfo, ...]:
        return tuple(RoleInfo(**r) for r in rows)

    def compare(self, schema: str, declared: Sequence[RoleInfo], live: Sequence[RoleInfo]) -> Iterator[Difference]:
        for name, d, x in pair({r.name: r for r in declared}, {r.name: r for r in live}):
            if d is None or x is None:
                held = f"holds privileges in {ident(schema)}"
                yield presence("role", ident(name), None if d is None else held, None if x is None else held)

    def declare(self, schema: m.Schema, stored: Sequence[RoleInfo]) -> Declaration:
        """Every role the schema's privileges and policies name; a reserved ``pg_`` role (granted
        something, e.g. ``pg_read_all_data``) cannot be declared and is listed."""
        roles, undeclared = list(schema.roles), []
        for info in stored:
            if info.name.startswith("pg_"):
                undeclared.append(Undeclared(self.name, info.name, "a reserved pg_ role cannot be declared"))
            elif info.name not in {r.name for r in roles}:
                roles.append(Role(name=info.name))
        return Declaration(schema.model_copy(update={"roles": tuple(roles)}), tuple(undeclared))


def with_roles(schema: m.Schema, *names: str) -> m.Schema:
    """``schema`` with the named roles in ``Schema.roles`` (added when missing, PUBLIC never)."""
    have = {r.name for r in schema.roles}
    missing = [n for n in dict.fromkeys(names) if n not in have and n.upper() != PUBLIC]
    if not missing:
        return schema
    return schema.model_copy(update={"roles": (*schema.roles, *(Role(name=n) for n in missing))})


ROLE = RoleKind()
