"""The index kind: identity (its name: one namespace with the schema's relations), sameness on
normalised keys and predicate, changes, CREATE/DROP INDEX statements and their rendering, the
``pg_get_indexdef`` catalogue query and the comparison of stored definitions.

The declaration, :class:`~orders_schema.declare.model.Index`, stays in the model (a table holds
its indexes). On a table that already holds data an index is built and dropped ``CONCURRENTLY``
in the online part of a migration, the new one before the old one so a query never loses its
index; an index redefined under the same name is dropped first.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orders_schema.declare import fragments
from orders_schema.declare.quoting import ident, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared, on_a_partition
from orders_schema.live import catalog_text as ct
from orders_schema.live.difference import Difference, array_casts_per_element, definition, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import LINE_LIMIT, Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddIndex(Change):
    table: str
    index: m.Index

    def reverse(self) -> Change:
        return DropIndex(self.table, self.index)


@dataclass(frozen=True)
class DropIndex(Change):
    table: str
    index: m.Index

    def reverse(self) -> Change:
        return AddIndex(self.table, self.index)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class CreateIndex(Statement):
    schema: str
    table: str
    index: m.Index
    if_not_exists: bool = False
    concurrently: bool = False
    only: bool = False
    """``ON ONLY``: a partitioned table's own index, INVALID until every partition's is attached."""

    @property
    def transactional(self) -> bool:  # type: ignore[override]
        return not self.concurrently


@dataclass(frozen=True)
class AttachIndex(Statement):
    """``ALTER INDEX parent_index ATTACH PARTITION partition_index`` (nothing when it is attached already)."""

    schema: str
    index: str
    partition_index: str


@dataclass(frozen=True)
class DropIndexStatement(Statement):
    schema: str
    name: str
    if_exists: bool = True
    concurrently: bool = False

    @property
    def transactional(self) -> bool:  # type: ignore[override]
        return not self.concurrently


def index_key_sql(key: m.IndexColumn) -> str:
    column = key.column
    text = ident(column) if column is not None else f"({key.expression})"
    if key.collation is not None:
        text += f" COLLATE {ident(key.collation)}"
    if key.opclass is not None:
        text += f" {qualified(*key.opclass.split('.'))}"
    if key.descending:
        text += " DESC"
    if key.nulls:
        text += f" NULLS {key.nulls}"
    return text


@renders(CreateIndex)
def create_index_sql(s: CreateIndex) -> str:
    idx = s.index
    head = "CREATE UNIQUE INDEX" if idx.unique else "CREATE INDEX"
    if s.concurrently:
        head += " CONCURRENTLY"
    if s.if_not_exists:
        head += " IF NOT EXISTS"
    head += f" {ident(idx.name)}"
    using = f" USING {idx.method}" if idx.method != "btree" else ""
    only = "ONLY " if s.only else ""
    target = f"ON {only}{qualified(s.schema, s.table)}{using}({', '.join(index_key_sql(k) for k in idx.columns)})"
    if idx.include:
        target += f" INCLUDE ({', '.join(ident(n) for n in idx.include)})"
    if not idx.nulls_distinct:
        target += " NULLS NOT DISTINCT"
    parts = [head, target] + ([f"WHERE {idx.where}"] if idx.where else [])
    one_line = " ".join(parts) + ";"
    return one_line if len(one_line) <= LINE_LIMIT else "\n    ".join(parts) + ";"


@renders(AttachIndex)
def attach_index_sql(s: AttachIndex) -> str:
    return f"ALTER INDEX {qualified(s.schema, s.index)} ATTACH PARTITION {qualified(s.schema, s.partition_index)};"


@renders(DropIndexStatement)
def drop_index_sql(s: DropIndexStatement) -> str:
    head = "DROP INDEX" + (" CONCURRENTLY" if s.concurrently else "") + (" IF EXISTS" if s.if_exists else "")
    return f"{head} {qualified(s.schema, s.name)};"


# -- the name PostgreSQL chooses for an unnamed index ---------------------------------------

_NAME_BYTES = 63
_CALL = re.compile(r"\s*(?:[A-Za-z_][A-Za-z0-9_$]*\s*\.\s*)?([A-Za-z_][A-Za-z0-9_$]*)\s*\(")


def _clip(name: str, size: int) -> str:
    """The first ``size`` bytes of ``name``, cut at a character boundary (``pg_mbcliplen``)."""
    return name.encode("utf-8")[:size].decode("utf-8", errors="ignore")


def _bytes(name: str) -> int:
    return len(name.encode("utf-8"))


def make_object_name(name1: str, name2: str | None, label: str) -> str:
    """PostgreSQL's ``makeObjectName``: ``name1_name2_label`` within 63 bytes, the longer name cut first."""
    overhead = (1 if name2 is not None else 0) + _bytes(label) + 1
    n1, n2 = _bytes(name1), _bytes(name2 or "")
    while n1 + n2 > _NAME_BYTES - overhead:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    return _clip(name1, n1) + (f"_{_clip(name2, n2)}" if name2 is not None else "") + f"_{label}"


def _key_name(key: m.IndexColumn) -> str:
    """The index column's name as PostgreSQL figures it: the column, a function's name, else ``expr``."""
    if key.column is not None:
        return key.column
    tree = fragments.parse_expression(key.expression, "index key")
    while isinstance(tree, (fragments.exp.Paren, fragments.exp.Cast)):
        tree = tree.this
    if isinstance(tree, fragments.exp.Column) and not isinstance(tree.this, fragments.exp.Star):
        return fragments.column_name(tree)
    call = _CALL.match(key.expression.strip().lstrip("(")) if isinstance(tree, fragments.exp.Func) else None
    return call.group(1).lower() if call else "expr"


def default_index_name(table: str, index: m.Index, taken: set[str]) -> str:
    """The name PostgreSQL gives ``CREATE INDEX ON table (...)``: ``<table>_<columns>_idx`` (keys and
    INCLUDE columns; an expression by its function's name, else ``expr``; repeated column names
    numbered), cut to 63 bytes, numbered (``_idx1``) while ``taken`` holds it."""
    columns: list[str] = []
    for name in [_key_name(k) for k in index.columns] + list(index.include):
        current, i = name, 0
        while current in columns:
            i += 1
            current = _clip(name, _NAME_BYTES - len(str(i))) + str(i)
        columns.append(current)
    addition = ""
    for name in columns:
        addition += ("_" if addition else "") + name
        if _bytes(addition) >= _NAME_BYTES + 1:
            break
    label, n = "idx", 0
    while (chosen := make_object_name(table, addition, label)) in taken:
        n += 1
        label = f"idx{n}"
    return chosen


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexInfo:
    name: str
    table: str
    definition: str
    """``pg_get_indexdef(oid)``, e.g. ``CREATE INDEX idx ON walltrack.orders USING btree (status)``."""
    unique: bool
    predicate: str | None
    """``pg_get_expr(indpred, indrelid)`` for a partial index."""
    constraint: str | None
    """The PRIMARY KEY, UNIQUE or EXCLUDE constraint this index backs, if any."""


QUERY = """
SELECT i.relname AS name, c.relname AS table, pg_get_indexdef(i.oid) AS definition,
       x.indisunique AS unique, pg_get_expr(x.indpred, x.indrelid) AS predicate,
       (SELECT k.conname FROM pg_constraint k
        WHERE k.conindid = i.oid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')
       ) AS constraint
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE n.nspname = %(schema)s AND NOT i.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid IN (c.oid, i.oid) AND d.deptype = 'e')
ORDER BY i.relname"""
"""The schema's indexes but a partition's index attached to its table's (the table's declares it)."""


# -- the kind --------------------------------------------------------------------------------


def index_keys(index: m.Index) -> tuple[Any, ...]:
    """What makes two declared indexes the same (normalised keys, uniqueness, method, predicate, INCLUDE)."""
    return _keys(index)


def _keys(index: m.Index) -> tuple[Any, ...]:
    keys = tuple((fragments.normal(k.expression), k.descending, k.nulls, k.collation, k.opclass)
                 for k in index.columns)
    return keys, index.unique, index.method, fragments.normal(index.where), index.include, index.nulls_distinct


class IndexKind(Kind["m.Index", IndexInfo]):
    name = "index"
    rank = 20
    catalog_field = "indexes"
    query = QUERY
    create_stage = "after_tables"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[m.Index]]:
        return {index.name: Declared(table.name, index) for table, index in schema.indexes()}

    def same(self, a: m.Index, b: m.Index) -> bool:
        return _keys(a) == _keys(b)

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddIndex(str(b.owner), b.obj))
            elif b is None and a is not None:
                changes.append(DropIndex(str(a.owner), a.obj))
            elif a is not None and b is not None and (a.owner != b.owner or not self.same(a.obj, b.obj)):
                changes += [DropIndex(str(a.owner), a.obj), AddIndex(str(b.owner), b.obj)]
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[m.Index]) -> list[Statement]:
        return [CreateIndex(schema, str(item.owner), item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        """New tables' indexes in the transaction; on a table that holds data, built ``CONCURRENTLY``
        online, the new before the old is dropped. A partitioned table's: ``ON ONLY`` the table (an
        INVALID index), each partition's built ``CONCURRENTLY`` and attached, after which PostgreSQL
        marks it valid; dropped in the transaction (PostgreSQL drops no partitioned index
        CONCURRENTLY)."""
        out = Planned()
        s = ctx.schema
        kept = {t.name for t in ctx.new.tables}
        partitioned = {t.name: t for t in ctx.new.tables if t.partition_by is not None}
        online_drops: dict[str, Statement] = {}
        for drop in ctx.of(DropIndex):
            if drop.table in partitioned and drop.table in ctx.existing:
                out.drop.append(DropIndexStatement(s, drop.index.name))
            elif drop.table in ctx.existing and drop.table in kept:
                online_drops[drop.index.name] = DropIndexStatement(s, drop.index.name, concurrently=True)
            elif drop.table not in ctx.dropped:
                out.drop.append(DropIndexStatement(s, drop.index.name))
        for add in ctx.of(AddIndex):
            if add.table not in ctx.existing:
                out.create.append(CreateIndex(s, add.table, add.index))
                continue
            if add.index.name in online_drops:
                out.online.append(online_drops.pop(add.index.name))
            if add.table in partitioned:
                out.online += per_partition(s, partitioned[add.table], add.index)
                continue
            out.online.append(CreateIndex(s, add.table, add.index, concurrently=True, if_not_exists=True))
        out.online += online_drops.values()
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[IndexInfo, ...]:
        return tuple(IndexInfo(**r) for r in rows)

    def compare(self, schema: str, declared: Sequence[IndexInfo], live: Sequence[IndexInfo]) -> Iterator[Difference]:
        for name, d, x in pair({i.name: i for i in declared}, {i.name: i for i in live}):
            where = qualified(schema, name)
            if d is None or x is None:
                yield presence("index", where, definition(d), definition(x))
            elif array_casts_per_element(d.definition) != array_casts_per_element(x.definition):
                yield Difference("index", where, "definition differs", d.definition, x.definition)
            elif d.constraint != x.constraint:
                yield Difference("index", where, "backs another constraint", d.constraint, x.constraint)

    def declare(self, schema: m.Schema, stored: Sequence[IndexInfo]) -> Declaration:
        """The indexes of the tables declared so far, but those behind a constraint (the constraint
        declares them); other methods and storage options are reported."""
        from orders_schema.declare.model import DeclarationError

        found: dict[str, list[m.Index]] = {}
        undeclared: list[Undeclared] = []
        tables = {t.name for t in schema.tables}
        for info in stored:
            if info.table not in tables and (found_on := on_a_partition(schema, self.name, info.table, info.name)):
                undeclared.append(found_on)
            if info.constraint is not None or info.table not in tables:
                continue
            try:
                index = declared_index(info)
            except DeclarationError as exc:
                index = str(exc)
            if isinstance(index, str):
                undeclared.append(Undeclared(self.name, f"{info.table}.{info.name}", index))
            else:
                found.setdefault(info.table, []).append(index)
        out: list[m.Table] = []
        for table in schema.tables:
            indexes = found.get(table.name)
            try:
                out.append(table.replace(indexes=(*table.indexes, *indexes)) if indexes else table)
            except DeclarationError as exc:
                undeclared.append(Undeclared("table", table.name, str(exc)))
        return Declaration(schema.model_copy(update={"tables": tuple(out)}), tuple(undeclared))


def per_partition(schema: str, table: m.Table, index: m.Index) -> list[Statement]:
    """A partitioned table's index built without blocking writes: ``ON ONLY`` the table, then each
    partition's ``CONCURRENTLY`` under the name PostgreSQL would give it, attached to it."""
    out: list[Statement] = [CreateIndex(schema, table.name, index, if_not_exists=True, only=True)]
    for partition in table.partitions:
        name = default_index_name(partition.name, index, set())
        out += [CreateIndex(schema, partition.name, index.model_copy(update={"name": name}), concurrently=True,
                            if_not_exists=True),
                AttachIndex(schema, index.name, name)]
    return out


_INDEXDEF = re.compile(r"^CREATE (?P<unique>UNIQUE )?INDEX \S+ ON (?:ONLY )?.+? USING (?P<method>\w+) (?P<rest>\(.*)$",
                       re.DOTALL)


def declared_index(info: IndexInfo) -> m.Index | str:
    """One stored index as the model declares it, or why it cannot be (a sentence)."""
    from orders_schema.declare.model import Index, IndexColumn

    match = _INDEXDEF.match(info.definition)
    if match is None:
        return f"unexpected definition {info.definition}"
    rest = match["rest"]
    end = ct.matching_paren(rest, 0)
    keys, tail = rest[1:end], rest[end + 1:].strip()
    include: tuple[str, ...] | None = ()
    if tail.startswith("INCLUDE ("):
        close = ct.matching_paren(tail, len("INCLUDE "))
        include = ct.ident_list(tail[len("INCLUDE ("):close])
        tail = tail[close + 1:].strip()
    nulls_distinct = not tail.startswith("NULLS NOT DISTINCT")
    tail = tail.removeprefix("NULLS NOT DISTINCT").strip()
    if info.predicate is not None and tail.startswith("WHERE "):
        tail = ""
    if tail or include is None:
        return f"{tail or 'INCLUDE'} is not declarable yet"
    if match["method"] not in ("btree", "hash", "gin", "gist", "brin"):
        return f"index method {match['method']} is not declarable yet"
    columns: list[m.IndexColumn] = []
    # a key's collation and operator class are split off by IndexColumn.parse
    columns = [IndexColumn.parse(key) for key in ct.split_top(keys)]
    return Index(name=info.name, columns=tuple(columns), unique=bool(match["unique"]), method=match["method"],
                 where=info.predicate and ct.varchar_in_lists(info.predicate), include=include,
                 nulls_distinct=nulls_distinct)


INDEX = IndexKind()
