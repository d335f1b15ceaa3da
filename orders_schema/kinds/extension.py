"""The extension kind: ``CREATE EXTENSION`` with its schema and version.

* declaration: :class:`Extension` (``Schema.extensions``): ``name``, ``in_schema`` (default
  ``public``; a schema the project owns is declared in ``Schema.schemas``), ``version`` (None: the
  server's default version);
* identity: the name (extensions are database-wide);
* changes: :class:`AddExtension`, :class:`DropExtension` (a hazard: it needs the allowance
  ``drop extension <name>``; ``DROP EXTENSION`` without CASCADE refuses while a column or function
  uses it), :class:`UpdateExtension` (``ALTER EXTENSION ... UPDATE TO``; extensions ship no
  downgrade scripts, so going back to an older version is a comment in the down script, not a
  statement) and :class:`MoveExtension` (``ALTER EXTENSION ... SET SCHEMA``, relocatable extensions only);
* statements: created and updated before everything that may use their types and functions,
  dropped after everything else; ``CREATE EXTENSION IF NOT EXISTS`` is re-runnable;
* stored form: ``pg_extension`` (name, schema, version), every extension but ``plpgsql``; a live
  extension that is not declared is reported only when it lives in the declared schema (one
  installed elsewhere, ``pg_stat_statements`` in ``public``, is not the project's).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from orders_schema.declare.base import Name, Node
from orders_schema.declare.quoting import comment, ident, literal
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned
from orders_schema.live.difference import Difference, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:
    from orders_schema.declare import model as m


class Extension(Node):
    """``Extension(name="citext", in_schema="extensions", version="1.6")``."""

    kind = "extension"

    name: Name
    in_schema: Name = "public"
    version: str | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", value):
            raise ValueError("is not an extension version (letters, digits, '.', '_', '-')")
        return value


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddExtension(Change):
    extension: Extension

    def reverse(self) -> Change:
        return DropExtension(self.extension)


@dataclass(frozen=True)
class DropExtension(Change):
    extension: Extension

    def reverse(self) -> Change:
        return AddExtension(self.extension)

    def destructive(self, schema: str) -> str | None:
        return f"drop extension {self.extension.name}"


@dataclass(frozen=True)
class UpdateExtension(Change):
    name: str
    old: str | None
    new: str | None

    def reverse(self) -> Change:
        return UpdateExtension(self.name, self.new, self.old)

    @property
    def downgrade(self) -> bool:
        """Going to an older version: no script does that (unpinned: ``UPDATE`` to the default)."""
        if self.new is None or self.old is None:
            return False
        return _version_key(self.new) < _version_key(self.old)


@dataclass(frozen=True)
class MoveExtension(Change):
    name: str
    old: str
    new: str

    def reverse(self) -> Change:
        return MoveExtension(self.name, self.new, self.old)


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[._-]", version))


# -- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateExtension(Statement):
    extension: Extension
    if_not_exists: bool = True


@dataclass(frozen=True)
class AlterExtension(Statement):
    name: str
    update_to: str | None = None
    set_schema: str | None = None


@dataclass(frozen=True)
class DropExtensionStatement(Statement):
    name: str


@dataclass(frozen=True)
class KeepExtensionVersion(Statement):
    """A down script cannot downgrade an extension: said in a comment."""

    name: str
    version: str | None
    kept: str | None


@renders(CreateExtension)
def create_extension_sql(s: CreateExtension) -> str:
    e = s.extension
    version = f" VERSION {literal(e.version)}" if e.version else ""
    return (f"CREATE EXTENSION{' IF NOT EXISTS' if s.if_not_exists else ''} {ident(e.name)} "
            f"WITH SCHEMA {ident(e.in_schema)}{version};")


@renders(AlterExtension)
def alter_extension_sql(s: AlterExtension) -> str:
    if s.set_schema is not None:
        return f"ALTER EXTENSION {ident(s.name)} SET SCHEMA {ident(s.set_schema)};"
    to = f" TO {literal(s.update_to)}" if s.update_to else ""
    return f"ALTER EXTENSION {ident(s.name)} UPDATE{to};"


@renders(DropExtensionStatement)
def drop_extension_sql(s: DropExtensionStatement) -> str:
    return f"DROP EXTENSION IF EXISTS {ident(s.name)};"


@renders(KeepExtensionVersion)
def keep_extension_version_sql(s: KeepExtensionVersion) -> str:
    return comment(
        f"HAZARD: extension {s.name} stays at version {s.kept or 'its current one'}: extensions ship no "
        f"downgrade scripts to {s.version or 'the default version'}"
    )


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtensionInfo:
    name: str
    schema: str
    version: str
    used: bool = field(default=False, compare=False)
    """Whether the schema's columns, domains or composite types use one of its types (read back
    as declarations, never compared)."""


QUERY = """
SELECT e.extname AS name, n.nspname AS schema, e.extversion AS version,
       EXISTS (SELECT 1 FROM pg_depend x JOIN pg_type et ON et.oid = x.objid
               WHERE x.classid = 'pg_type'::regclass AND x.refclassid = 'pg_extension'::regclass
                 AND x.refobjid = e.oid AND x.deptype = 'e'
                 AND (EXISTS (SELECT 1 FROM pg_attribute a
                              JOIN pg_class c ON c.oid = a.attrelid
                              JOIN pg_namespace cn ON cn.oid = c.relnamespace
                              JOIN pg_type ty ON ty.oid = a.atttypid
                              WHERE cn.nspname = %(schema)s AND a.attnum > 0 AND NOT a.attisdropped
                                AND et.oid IN (ty.oid, ty.typelem, ty.typbasetype))
                      OR EXISTS (SELECT 1 FROM pg_type d JOIN pg_namespace dn ON dn.oid = d.typnamespace
                                 WHERE dn.nspname = %(schema)s AND d.typtype = 'd' AND d.typbasetype = et.oid)))
         AS used
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql' AND EXISTS (SELECT 1 FROM pg_namespace s WHERE s.nspname = %(schema)s)
ORDER BY 1"""
"""Database-wide (extensions belong to no schema, their objects do), read where the schema exists."""


class ExtensionKind(Kind[Extension, ExtensionInfo]):
    name = "extension"
    rank = 2
    catalog_field = "extensions"
    query = QUERY
    create_stage = "first"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[Extension]]:
        return {e.name: Declared(None, e) for e in schema.extensions}

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for key, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddExtension(b.obj))
            elif b is None and a is not None:
                changes.append(DropExtension(a.obj))
            elif a is not None and b is not None:
                if a.obj.in_schema != b.obj.in_schema:
                    changes.append(MoveExtension(str(key), a.obj.in_schema, b.obj.in_schema))
                if a.obj.version != b.obj.version:
                    changes.append(UpdateExtension(str(key), a.obj.version, b.obj.version))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[Extension]) -> list[Statement]:
        return [CreateExtension(item.obj, if_not_exists=False)]

    def plan(self, ctx: PlanContext) -> Planned:
        out = Planned()
        out.early += [CreateExtension(c.extension) for c in ctx.of(AddExtension)]
        out.early += [AlterExtension(c.name, set_schema=c.new) for c in ctx.of(MoveExtension)]
        for c in ctx.of(UpdateExtension):
            out.early.append(KeepExtensionVersion(c.name, c.new, c.old) if c.downgrade
                             else AlterExtension(c.name, update_to=c.new))
        out.final += [DropExtensionStatement(c.extension.name) for c in ctx.of(DropExtension)]
        return out

    def declare(self, schema: m.Schema, stored: Sequence[ExtensionInfo]) -> Declaration:
        """The extensions that are the schema's: installed in it, or whose types its columns,
        domains or composite types use (``used``), pinned at their installed version; the schema
        holding one (other than ``public`` and the schema itself) is declared in ``schemas``.
        Others (``pg_stat_statements`` in ``public``) are another project's: neither declared nor
        listed, as compare does not report them."""
        mine = [e for e in stored if e.schema == schema.name or e.used]
        extensions = tuple(Extension(name=e.name, in_schema=e.schema, version=e.version) for e in mine)
        schemas = tuple(dict.fromkeys([*schema.schemas, *(e.schema for e in mine
                                                           if e.schema not in ("public", schema.name))]))
        return Declaration(schema.model_copy(update={"extensions": (*schema.extensions, *extensions),
                                                     "schemas": schemas}))

    def stored(self, rows: list[dict[str, Any]]) -> tuple[ExtensionInfo, ...]:
        return tuple(ExtensionInfo(**r) for r in rows)

    def compare(
        self, schema: str, declared: Sequence[ExtensionInfo], live: Sequence[ExtensionInfo]
    ) -> Iterator[Difference]:
        def text(e: ExtensionInfo | None) -> str | None:
            return None if e is None else f"{e.name} {e.version} in schema {e.schema}"

        for name, d, x in pair({e.name: e for e in declared}, {e.name: e for e in live}):
            if d is None and x is not None and x.schema != schema:
                continue  # installed beside the project (pg_stat_statements in public): not its to report
            if d is None or x is None:
                yield presence("extension", ident(name), text(d), text(x))
                continue
            if d.schema != x.schema:
                yield Difference("extension", ident(name), "schema differs", d.schema, x.schema)
            if d.version != x.version:
                yield Difference("extension", ident(name), "version differs", d.version, x.version)


EXTENSION = ExtensionKind()
