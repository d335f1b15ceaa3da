"""The policy kind: row-security policies (``Table.policies``).

* declaration: :class:`Policy` (name, PERMISSIVE or RESTRICTIVE, the command, the roles, ``USING``
  and ``WITH CHECK`` as validated fragments: one expression each, see
  :func:`orders_schema.declare.fragments.condition`);
* identity: ``(table, name)``;
* sameness: every attribute, the expressions on their normalised forms (``fragments.normal``);
* changes: :class:`AddPolicy`, :class:`DropPolicy`, :class:`ReplacePolicy`, each with its reverse;
* statements: :class:`CreatePolicy` and :class:`DropPolicyStatement` (``IF EXISTS``); a change
  is a drop then a create in the same transaction (re-runnable); both take a brief ACCESS
  EXCLUSIVE lock on the table; placed ``after`` (every table, column and function exists);
* stored form: ``pg_policy`` with ``pg_get_expr`` of ``polqual`` / ``polwithcheck``, the roles by
  name (``PUBLIC`` for 0), compared attribute by attribute.

A policy does nothing while its table's row security is disabled (see
:mod:`orders_schema.kinds.row_security`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import model_validator

from orders_schema.declare import fragments
from orders_schema.declare.base import DeclarationError, Name, Node, _fragment
from orders_schema.declare.quoting import ident, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.kinds.role import PUBLIC
from orders_schema.live.difference import Difference, pair
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

Command = Literal["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"]


class Policy(Node):
    """``CREATE POLICY name ON table AS PERMISSIVE|RESTRICTIVE FOR command TO roles USING (...)
    WITH CHECK (...)``. ``roles``: roles of ``Schema.roles`` or ``PUBLIC``. ``using`` filters the
    rows a command sees (SELECT, UPDATE, DELETE); ``with_check`` the rows it writes (INSERT, UPDATE)."""

    kind = "policy"

    name: Name
    command: Command = "ALL"
    permissive: bool = True
    roles: tuple[Name, ...] = (PUBLIC,)
    using: str | None = None
    with_check: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> Policy:
        what = f"policy {self.name}"
        if not self.roles:
            raise DeclarationError(f"{what}: names no role (PUBLIC for every role)")
        if self.using is None and self.with_check is None:
            raise DeclarationError(f"{what}: declares neither USING nor WITH CHECK")
        if self.with_check is not None and self.command in ("SELECT", "DELETE"):
            raise DeclarationError(f"{what}: a {self.command} policy takes no WITH CHECK (use USING)")
        if self.using is not None and self.command == "INSERT":
            raise DeclarationError(f"{what}: an INSERT policy takes no USING (use WITH CHECK)")
        for label, text in (("USING", self.using), ("WITH CHECK", self.with_check)):
            if text is not None:
                _fragment(fragments.condition, text, f"{what}: {label}")
        return self

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(sorted(PUBLIC if r.upper() == PUBLIC else r for r in self.roles))


def same_policy(a: Policy, b: Policy) -> bool:
    return (a.name, a.command, a.permissive, a.role_names) == (b.name, b.command, b.permissive, b.role_names) and all(
        fragments.normal(x) == fragments.normal(y) for x, y in ((a.using, b.using), (a.with_check, b.with_check))
    )


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddPolicy(Change):
    table: str
    policy: Policy

    def reverse(self) -> Change:
        return DropPolicy(self.table, self.policy)


@dataclass(frozen=True)
class DropPolicy(Change):
    table: str
    policy: Policy

    def reverse(self) -> Change:
        return AddPolicy(self.table, self.policy)


@dataclass(frozen=True)
class ReplacePolicy(Change):
    table: str
    old: Policy
    new: Policy

    def reverse(self) -> Change:
        return ReplacePolicy(self.table, self.new, self.old)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class CreatePolicy(Statement):
    schema: str
    table: str
    policy: Policy


@dataclass(frozen=True)
class DropPolicyStatement(Statement):
    schema: str
    table: str
    name: str
    if_exists: bool = True


@renders(CreatePolicy)
def create_policy_sql(s: CreatePolicy) -> str:
    p = s.policy
    roles = ", ".join(PUBLIC if r == PUBLIC else ident(r) for r in p.role_names)
    lines = [f"CREATE POLICY {ident(p.name)} ON {qualified(s.schema, s.table)}",
             f"    AS {'PERMISSIVE' if p.permissive else 'RESTRICTIVE'} FOR {p.command} TO {roles}"]
    # a fragment may end in a /* */ comment but never in a -- one (fragments.condition refuses it)
    if p.using is not None:
        lines.append(f"    USING ({p.using.strip()})")
    if p.with_check is not None:
        lines.append(f"    WITH CHECK ({p.with_check.strip()})")
    return "\n".join(lines) + ";"


@renders(DropPolicyStatement)
def drop_policy_sql(s: DropPolicyStatement) -> str:
    exists = " IF EXISTS" if s.if_exists else ""
    return f"DROP POLICY{exists} {ident(s.name)} ON {qualified(s.schema, s.table)};"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInfo:
    table: str
    name: str
    command: str
    permissive: bool
    roles: tuple[str, ...]
    using: str | None
    with_check: str | None

    @property
    def definition(self) -> str:
        text = (f"{'PERMISSIVE' if self.permissive else 'RESTRICTIVE'} FOR {self.command} "
                f"TO {', '.join(self.roles)}")
        if self.using is not None:
            text += f" USING ({self.using})"
        if self.with_check is not None:
            text += f" WITH CHECK ({self.with_check})"
        return text


QUERY = """
SELECT c.relname AS table, p.polname AS name,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS command,
       p.polpermissive AS permissive,
       ARRAY(SELECT CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r.oid)::text END
             FROM unnest(p.polroles) AS r(oid) ORDER BY 1) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS using,
       pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s
ORDER BY 1, 2"""


# -- the kind --------------------------------------------------------------------------------


class PolicyKind(Kind[Policy, PolicyInfo]):
    name = "policy"
    rank = 57
    catalog_field = "policies"
    query = QUERY
    create_stage = "last"
    of_tables = True

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[Policy]]:
        return {(t.name, p.name): Declared(t.name, p) for t in schema.tables for p in t.policies}

    def same(self, a: Policy, b: Policy) -> bool:
        return same_policy(a, b)

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for key, a, b in self.matched(old, new):
            table = str(key[0]) if isinstance(key, tuple) else ""
            if a is None and b is not None:
                changes.append(AddPolicy(table, b.obj))
            elif b is None and a is not None:
                changes.append(DropPolicy(table, a.obj))
            elif a is not None and b is not None and not self.same(a.obj, b.obj):
                changes.append(ReplacePolicy(table, a.obj, b.obj))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[Policy]) -> list[Statement]:
        return [CreatePolicy(schema, str(item.owner), item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        s = ctx.schema
        out = Planned()
        for c in ctx.changes:
            if isinstance(c, DropPolicy):
                out.after.append(DropPolicyStatement(s, c.table, c.policy.name))
            elif isinstance(c, ReplacePolicy):
                out.after += [DropPolicyStatement(s, c.table, c.old.name), CreatePolicy(s, c.table, c.new)]
            elif isinstance(c, AddPolicy):
                out.after += [DropPolicyStatement(s, c.table, c.policy.name), CreatePolicy(s, c.table, c.policy)]
        for item in self.declared(ctx.new).values():
            if item.owner in ctx.added:  # re-runnable, like every statement of a generated version
                out.after += [DropPolicyStatement(s, str(item.owner), item.obj.name),
                              CreatePolicy(s, str(item.owner), item.obj)]
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[PolicyInfo, ...]:
        return tuple(PolicyInfo(**{**r, "roles": tuple(r["roles"])}) for r in rows)

    def compare(self, schema: str, declared: Sequence[PolicyInfo], live: Sequence[PolicyInfo]) -> Iterator[Difference]:
        for (table, name), d, x in pair({(p.table, p.name): p for p in declared},
                                        {(p.table, p.name): p for p in live}):
            where = f"{ident(name)} ON {qualified(schema, table)}"
            if d is None or x is None:
                yield Difference("policy", where, "missing" if x is None else "extra",
                                 None if d is None else d.definition, None if x is None else x.definition)
            elif d.definition != x.definition:
                yield Difference("policy", where, "definition differs", d.definition, x.definition)

    def declare(self, schema: m.Schema, stored: Sequence[PolicyInfo]) -> Declaration:
        """Each policy onto its table, its expressions as PostgreSQL stores them; one whose table
        is not declared, or whose expression the model refuses, is listed."""
        from orders_schema.declare.base import DeclarationError

        names = {t.name for t in schema.tables}
        by_table: dict[str, list[Policy]] = {}
        undeclared: list[Undeclared] = []
        for info in stored:
            if info.table not in names:
                undeclared.append(Undeclared(self.name, f"{info.table}.{info.name}", "its table is not declared"))
                continue
            roles = {r.name for r in schema.roles}
            if missing := sorted(r for r in info.roles if r != PUBLIC and r not in roles):
                undeclared.append(Undeclared(self.name, f"{info.table}.{info.name}",
                                             f"its role(s) {', '.join(missing)} cannot be declared"))
                continue
            try:
                policy = Policy(name=info.name, command=info.command, permissive=info.permissive,
                                roles=info.roles, using=info.using, with_check=info.with_check)
            except DeclarationError as exc:
                undeclared.append(Undeclared(self.name, f"{info.table}.{info.name}", str(exc)))
                continue
            by_table.setdefault(info.table, []).append(policy)
        tables = tuple(t.model_copy(update={"policies": (*t.policies, *by_table[t.name])}) if t.name in by_table else t
                       for t in schema.tables)
        return Declaration(schema.model_copy(update={"tables": tables}), tuple(undeclared))


POLICY = PolicyKind()
