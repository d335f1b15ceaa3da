"""The schema kind: the other schemas a project owns (``Schema.schemas``), e.g. one for extensions.

* declaration: ``Schema.schemas`` (names); the declared schema itself is created by its first
  version (``Version.create_schema``) unless it is not owned (``Schema.owned = False``, and
  ``public`` always): a pre-existing schema is used, never created or dropped;
* identity: the name; changes: :class:`AddSchema` / :class:`DropSchema` (a hazard: it needs the
  allowance ``drop schema <name>``, and ``DROP SCHEMA`` without CASCADE refuses while the schema
  holds anything);
* statements: ``CREATE SCHEMA IF NOT EXISTS`` before everything else of a migration, ``DROP SCHEMA
  IF EXISTS`` after everything else;
* stored form: the other non-system schemas of the database; compared for missing ones only (a
  database may hold other projects' schemas, which are not this project's to report).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orders_schema.declare.quoting import ident
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned
from orders_schema.live.difference import Difference
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:
    from orders_schema.declare import model as m


@dataclass(frozen=True)
class AddSchema(Change):
    name: str

    def reverse(self) -> Change:
        return DropSchema(self.name)


@dataclass(frozen=True)
class DropSchema(Change):
    name: str

    def reverse(self) -> Change:
        return AddSchema(self.name)

    def destructive(self, schema: str) -> str | None:
        return f"drop schema {self.name}"


@dataclass(frozen=True)
class CreateSchemaStatement(Statement):
    name: str
    if_not_exists: bool = True


@dataclass(frozen=True)
class DropSchemaStatement(Statement):
    name: str


@renders(CreateSchemaStatement)
def create_schema_sql(s: CreateSchemaStatement) -> str:
    return f"CREATE SCHEMA{' IF NOT EXISTS' if s.if_not_exists else ''} {ident(s.name)};"


@renders(DropSchemaStatement)
def drop_schema_sql(s: DropSchemaStatement) -> str:
    return f"DROP SCHEMA IF EXISTS {ident(s.name)};"


@dataclass(frozen=True)
class SchemaInfo:
    name: str


QUERY = """
SELECT n.nspname AS name
FROM pg_namespace n
WHERE n.nspname <> %(schema)s AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%'
  AND EXISTS (SELECT 1 FROM pg_namespace s WHERE s.nspname = %(schema)s)
ORDER BY 1"""
"""The database's other schemas, read where the schema exists (none for a schema that does not)."""


class SchemaKind(Kind[str, SchemaInfo]):
    name = "schema"
    rank = 1
    catalog_field = "schemas"
    query = QUERY
    create_stage = "first"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[str]]:
        return {name: Declared(None, name) for name in schema.schemas}

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = [AddSchema(n) for n in new.schemas if n not in old.schemas]
        return changes + [DropSchema(n) for n in old.schemas if n not in new.schemas]

    def create(self, schema: str, key: Hashable, item: Declared[str]) -> list[Statement]:
        return [CreateSchemaStatement(item.obj, if_not_exists=False)]

    def plan(self, ctx: PlanContext) -> Planned:
        out = Planned()
        out.early += [CreateSchemaStatement(c.name) for c in ctx.of(AddSchema)]
        out.final += [DropSchemaStatement(c.name) for c in ctx.of(DropSchema)]
        return out

    def declare(self, schema: m.Schema, stored: Sequence[SchemaInfo]) -> Declaration:
        """Nothing by itself: the database's other schemas may be other projects'. The extension
        kind declares the schemas holding the extensions it declares; other schemas are neither
        declared nor listed (compare reports missing schemas only, for the same reason)."""
        return Declaration(schema)

    def stored(self, rows: list[dict[str, Any]]) -> tuple[SchemaInfo, ...]:
        return tuple(SchemaInfo(r["name"]) for r in rows)

    def compare(self, schema: str, declared: Sequence[SchemaInfo], live: Sequence[SchemaInfo]) -> Iterator[Difference]:
        have = {s.name for s in live}
        for s in declared:
            if s.name not in have:
                yield Difference("schema", ident(s.name), "missing", f"CREATE SCHEMA {ident(s.name)}", None)


SCHEMA = SchemaKind()
