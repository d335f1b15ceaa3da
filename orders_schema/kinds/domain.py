"""The domain kind: ``CREATE DOMAIN`` with its base type, NOT NULL, DEFAULT and named CHECKs.

* declaration: :class:`Domain` (``Schema.domains``) and its :class:`DomainCheck` tuple; a CHECK
  reads the value as ``VALUE``;
* identity: the name; a check by its name within its domain;
* changes: :class:`AddDomain` / :class:`DropDomain`; :class:`AlterDomain` (default, NOT NULL);
  :class:`AddDomainCheck` / :class:`DropDomainCheck` (a changed CHECK is dropped and added);
  a changed base type is refused (:class:`ChangeDomainBase`: every column of the domain would be
  rewritten; declare a new domain and convert the columns);
* placement: created before the tables that use it, dropped after them; a CHECK added to an
  existing domain goes in ``NOT VALID`` (no scan of the columns using it) and is validated in the
  online part (``ALTER DOMAIN ... VALIDATE CONSTRAINT``); ``SET NOT NULL`` scans every column of the
  domain (it is in the transaction: no NOT VALID form exists for it);
* stored form: ``format_type`` of the base type, ``typnotnull``, ``typdefault`` and each CHECK's
  ``pg_get_constraintdef`` with whether it is validated.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from orders_schema.declare import fragments
from orders_schema.declare.base import DeclarationError, Description, Name, Node, _described, _duplicates, _fragment
from orders_schema.declare.quoting import ident, qualified
from orders_schema.declare.sqltype import SqlType, coerce_type
from orders_schema.kinds.base import (
    Declaration,
    Declared,
    Kind,
    PlanContext,
    Planned,
    Refused,
    Undeclared,
    by_dependency,
)
from orders_schema.kinds.guard import guarded, type_missing
from orders_schema.kinds.table import type_sql
from orders_schema.kinds.type_rename import planned as planned_renames
from orders_schema.live.difference import Difference, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:
    from orders_schema.declare import model as m

normal = fragments.normal


class DomainCheck(Node):
    """``DomainCheck(name="positive", expression="VALUE > 0")``."""

    kind = "domain check"

    name: Name
    expression: str

    @model_validator(mode="after")
    def _valid(self) -> DomainCheck:
        _fragment(fragments.expression, self.expression, f"domain check {self.name}")
        return self


class Domain(Node):
    """``Domain(name="price", base="numeric(20, 8)", nullable=False, checks=(DomainCheck(...),))``."""

    kind = "domain"

    name: Name
    base: SqlType
    nullable: bool = True
    default: str | None = None
    checks: tuple[DomainCheck, ...] = ()
    renamed_from: Name | None = Field(default=None, exclude_if=lambda v: v is None)
    """Declares a rename: the migration renames the type (:mod:`orders_schema.kinds.type_rename`)."""
    comment: Description | None = _described()
    """``COMMENT ON DOMAIN`` (:mod:`orders_schema.kinds.comment`)."""

    _v_base = field_validator("base", mode="before")(coerce_type)

    @model_validator(mode="after")
    def _valid(self) -> Domain:
        if self.default is not None:
            _fragment(fragments.expression, self.default, f"domain {self.name} DEFAULT")
        if dup := _duplicates(c.name for c in self.checks):
            raise DeclarationError(f"domain {self.name}: duplicate check names {dup}")
        return self


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddDomain(Change):
    domain: Domain

    def reverse(self) -> Change:
        return DropDomain(self.domain)


@dataclass(frozen=True)
class DropDomain(Change):
    domain: Domain

    def reverse(self) -> Change:
        return AddDomain(self.domain)


@dataclass(frozen=True)
class AlterDomain(Change):
    """Default and/or NOT NULL of a domain changed."""

    old: Domain
    new: Domain

    def reverse(self) -> Change:
        return AlterDomain(self.new, self.old)


@dataclass(frozen=True)
class AddDomainCheck(Change):
    domain: str
    check: DomainCheck

    def reverse(self) -> Change:
        return DropDomainCheck(self.domain, self.check)


@dataclass(frozen=True)
class DropDomainCheck(Change):
    domain: str
    check: DomainCheck

    def reverse(self) -> Change:
        return AddDomainCheck(self.domain, self.check)


@dataclass(frozen=True)
class ChangeDomainBase(Change):
    """Refused when planned (see the module)."""

    domain: str
    old: SqlType
    new: SqlType

    def reverse(self) -> Change:
        return ChangeDomainBase(self.domain, self.new, self.old)


# -- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateDomain(Statement):
    schema: str
    domain: Domain
    if_not_exists: bool = False


@dataclass(frozen=True)
class AlterDomainStatement(Statement):
    """One ``ALTER DOMAIN`` action, spelled by the kind from quoted names and declared fragments."""

    schema: str
    name: str
    action: str


@dataclass(frozen=True)
class DropDomainStatement(Statement):
    schema: str
    name: str


def _check_sql(check: DomainCheck) -> str:
    return f"CONSTRAINT {ident(check.name)} CHECK ({check.expression})"


@renders(CreateDomain)
def create_domain_sql(s: CreateDomain) -> str:
    d = s.domain
    parts = [f"CREATE DOMAIN {qualified(s.schema, d.name)} AS {type_sql(d.base)}"]
    if d.default is not None:
        parts.append(f"DEFAULT {d.default}")
    if not d.nullable:
        parts.append("NOT NULL")
    parts += [_check_sql(c) for c in d.checks]
    create = "\n    ".join(parts) + ";"
    return guarded(type_missing(s.schema, d.name), create) if s.if_not_exists else create


@renders(AlterDomainStatement)
def alter_domain_sql(s: AlterDomainStatement) -> str:
    return f"ALTER DOMAIN {qualified(s.schema, s.name)} {s.action};"


@renders(DropDomainStatement)
def drop_domain_sql(s: DropDomainStatement) -> str:
    return f"DROP DOMAIN IF EXISTS {qualified(s.schema, s.name)};"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainInfo:
    name: str
    base: str
    not_null: bool
    default: str | None
    checks: tuple[str, ...]
    """``name CHECK (...)``, ``NOT VALID`` appended while not validated; by name."""

    @property
    def definition(self) -> str:
        text = f"{self.base}{' NOT NULL' if self.not_null else ''}"
        text += f" DEFAULT {self.default}" if self.default is not None else ""
        return text + "".join(f" CONSTRAINT {c}" for c in self.checks)


QUERY = """
SELECT t.typname AS name, format_type(t.typbasetype, t.typtypmod) AS base, t.typnotnull AS not_null,
       t.typdefault AS default,
       ARRAY(SELECT quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid)
                    || CASE WHEN k.convalidated THEN '' ELSE ' NOT VALID' END
             FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c' ORDER BY k.conname) AS checks
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = %(schema)s AND t.typtype = 'd'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY 1"""


# -- the kind --------------------------------------------------------------------------------


_STORED_CHECK = re.compile(r'(?s)("(?:[^"]|"")+"|\S+) CHECK \((.*)\)( NOT VALID)?')


def _stored_check(text: str) -> DomainCheck:
    """A stored CHECK (``name CHECK ((VALUE > 0))``, see :data:`QUERY`) as its declaration."""
    match = _STORED_CHECK.fullmatch(text)
    if match is None:
        raise ValueError(f"check {text!r} cannot be read back")
    name = match[1][1:-1].replace('""', '"') if match[1].startswith('"') else match[1]
    return DomainCheck(name=name, expression=match[2])


class DomainKind(Kind[Domain, DomainInfo]):
    name = "domain"
    rank = 4
    catalog_field = "domains"
    query = QUERY
    create_stage = "first"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[Domain]]:
        return {d.name: Declared(None, d) for d in schema.domains}

    def same(self, a: Domain, b: Domain) -> bool:
        return not _changes(a, b)

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddDomain(b.obj))
            elif b is None and a is not None:
                changes.append(DropDomain(a.obj))
            elif a is not None and b is not None:
                changes += _changes(a.obj, b.obj)
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[Domain]) -> list[Statement]:
        return [CreateDomain(schema, item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        s = ctx.schema
        for c in ctx.of(ChangeDomainBase):
            raise Refused(
                f"domain {s}.{c.domain}: its base type changes ({type_sql(c.old)} -> {type_sql(c.new)}), which "
                "rewrites every column of the domain under an ACCESS EXCLUSIVE lock and is not done online: "
                "declare a new domain and convert the columns to it"
            )
        for c in ctx.of(AddDomainCheck):
            if (column := _behind_composite(ctx.new, c.domain)) is not None:
                raise Refused(
                    f"domain {s}.{c.domain}: check {c.check.name} cannot be added while {column} stores the domain "
                    "inside a composite type: PostgreSQL refuses to check those values (cannot alter type "
                    "because column uses it); declare a new domain for the new rule"
                )
        out = Planned()
        out.rename += planned_renames(ctx, 'domain')
        out.early += [CreateDomain(s, c.domain, if_not_exists=True) for c in ctx.of(AddDomain)]
        out.drop += [AlterDomainStatement(s, c.domain, f"DROP CONSTRAINT IF EXISTS {ident(c.check.name)}")
                     for c in ctx.of(DropDomainCheck)]
        for c in ctx.of(AlterDomain):
            if normal(c.old.default) != normal(c.new.default):
                action = "DROP DEFAULT" if c.new.default is None else f"SET DEFAULT {c.new.default}"
                out.early.append(AlterDomainStatement(s, c.new.name, action))
            if c.old.nullable != c.new.nullable:
                out.early.append(AlterDomainStatement(s, c.new.name, f"{'DROP' if c.new.nullable else 'SET'} NOT NULL"))
        for c in ctx.of(AddDomainCheck):
            name = ident(c.check.name)
            out.early += [AlterDomainStatement(s, c.domain, f"DROP CONSTRAINT IF EXISTS {name}"),
                          AlterDomainStatement(s, c.domain, f"ADD {_check_sql(c.check)} NOT VALID")]
            out.online.append(AlterDomainStatement(s, c.domain, f"VALIDATE CONSTRAINT {name}"))
        out.final += [DropDomainStatement(s, c.domain.name) for c in ctx.of(DropDomain)]
        return out

    def declare(self, schema: m.Schema, stored: Sequence[DomainInfo]) -> Declaration:
        """Each domain with its base type (``format_type`` form), NOT NULL, default and CHECKs
        (``pg_get_constraintdef``'s expression; one not yet validated is declared as it will be)."""
        from orders_schema.kinds.table import sql_type_of

        domains: list[Domain] = []
        undeclared: list[Undeclared] = []
        for info in stored:
            base = sql_type_of(info.base)
            if base is None:
                undeclared.append(Undeclared(self.name, info.name, f"its base type {info.base} cannot be read back"))
                continue
            try:
                checks = tuple(_stored_check(text) for text in info.checks)
                domains.append(Domain(name=info.name, base=base, nullable=not info.not_null, default=info.default,
                                      checks=checks))
            except (DeclarationError, ValueError) as exc:
                undeclared.append(Undeclared(self.name, info.name, str(exc)))
        own = schema.name
        domains = by_dependency(domains, lambda d: d.name,
                                lambda d: {d.base.name} if d.base.in_schema == own else set())
        return Declaration(schema.model_copy(update={"domains": (*schema.domains, *domains)}), tuple(undeclared))

    def stored(self, rows: list[dict[str, Any]]) -> tuple[DomainInfo, ...]:
        return tuple(DomainInfo(**{**r, "checks": tuple(r["checks"])}) for r in rows)

    def compare(self, schema: str, declared: Sequence[DomainInfo], live: Sequence[DomainInfo]) -> Iterator[Difference]:
        for name, d, x in pair({e.name: e for e in declared}, {e.name: e for e in live}):
            where = qualified(schema, name)
            if d is None or x is None:
                yield presence("domain", where, d.definition if d else None, x.definition if x else None)
            elif d.definition != x.definition:
                yield Difference("domain", where, "definition differs", d.definition, x.definition)


def _behind_composite(schema: m.Schema, domain: str) -> str | None:
    """A table column whose composite type has an attribute of ``domain`` (``table.column``), if any."""
    def own(t: SqlType, names: set[str]) -> bool:
        return t.in_schema == schema.name and t.name in names

    composites = {c.name for c in schema.composites if any(own(a.type, {domain}) for a in c.attributes)}
    for table in schema.tables:
        for col in table.columns:
            if own(col.type, composites):
                return f"column {table.name}.{col.name}"
    return None


def _changes(a: Domain, b: Domain) -> list[Change]:
    if a.base != b.base:
        return [ChangeDomainBase(b.name, a.base, b.base)]
    out: list[Change] = []
    if normal(a.default) != normal(b.default) or a.nullable != b.nullable:
        out.append(AlterDomain(a, b))
    old = {c.name: c for c in a.checks}
    new = {c.name: c for c in b.checks}
    for name, check in old.items():
        if name not in new or normal(new[name].expression) != normal(check.expression):
            out.append(DropDomainCheck(b.name, check))
    for name, check in new.items():
        if name not in old or normal(old[name].expression) != normal(check.expression):
            out.append(AddDomainCheck(b.name, check))
    return out


DOMAIN = DomainKind()
