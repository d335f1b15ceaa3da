"""The comment kind: ``COMMENT ON TABLE`` and ``COMMENT ON COLUMN``.

* declaration: the ``comment`` field of :class:`~orders_schema.declare.model.Table` and
  :class:`~orders_schema.declare.model.Column` (a :data:`~orders_schema.declare.model.Description`);
* identity: ``(table, column)``, ``column`` None for the table's own comment;
* sameness: the text, verbatim (PostgreSQL stores it as written);
* changes: :class:`SetComment` (old text -> new text; None is no comment), its reverse swaps them;
  a comment goes with its table or column, so a dropped one needs no statement and a renamed one
  keeps its comment;
* statements: :class:`CommentOn` (``COMMENT ON ... IS 'text'`` or ``IS NULL``); it takes a SHARE
  UPDATE EXCLUSIVE lock, which blocks neither reads nor writes, so it runs in the transaction,
  after the tables and columns exist; it is re-runnable;
* stored form: ``obj_description`` / ``col_description`` read with the schema a bound parameter,
  compared text for text.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orders_schema.declare.quoting import literal, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.live.difference import Difference, pair
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

Target = tuple[str, str | None]
"""``(table, column)``; column None for the table itself."""

# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetComment(Change):
    table: str
    column: str | None
    old: str | None
    new: str | None

    def reverse(self) -> Change:
        return SetComment(self.table, self.column, self.new, self.old)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class CommentOn(Statement):
    schema: str
    table: str
    column: str | None
    text: str | None
    """None removes the comment."""


@renders(CommentOn)
def comment_on_sql(s: CommentOn) -> str:
    target = (
        f"COLUMN {qualified(s.schema, s.table, s.column)}" if s.column is not None
        else f"TABLE {qualified(s.schema, s.table)}"
    )
    return f"COMMENT ON {target} IS {'NULL' if s.text is None else literal(s.text)};"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CommentInfo:
    table: str
    column: str | None
    text: str

    @property
    def target(self) -> Target:
        return (self.table, self.column)


QUERY = """
SELECT c.relname AS table, NULL::text AS column, obj_description(c.oid, 'pg_class') AS text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND obj_description(c.oid, 'pg_class') IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT c.relname, a.attname::text, col_description(c.oid, a.attnum)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND col_description(c.oid, a.attnum) IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2 NULLS FIRST"""


# -- the kind --------------------------------------------------------------------------------


class CommentKind(Kind[str, CommentInfo]):
    name = "comment"
    rank = 50
    catalog_field = "comments"
    query = QUERY
    create_stage = "last"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[str]]:
        out: dict[Hashable, Declared[str]] = {}
        for table in schema.tables:
            if table.comment is not None:
                out[(table.name, None)] = Declared(table.name, table.comment)
            for column in table.columns:
                if column.comment is not None:
                    out[(table.name, column.name)] = Declared(table.name, column.comment)
        return out

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        columns = {(t.name, c.name) for t in new.tables for c in t.columns}
        old_columns = {(t.name, c.name) for t in old.tables for c in t.columns}
        changes: list[Change] = []
        for key, a, b in self.matched(old, new):
            table, column = _target(key)
            if column is not None and ((table, column) not in columns or (table, column) not in old_columns):
                continue  # the column is added (it carries its comment) or dropped (with it)
            before, after = (a.obj if a else None), (b.obj if b else None)
            if before != after:
                changes.append(SetComment(table, column, before, after))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[str]) -> list[Statement]:
        table, column = _target(key)
        return [CommentOn(schema, table, column, item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        out = Planned()
        out.after += [CommentOn(ctx.schema, c.table, c.column, c.new) for c in ctx.of(SetComment)]
        for key, item in self.declared(ctx.new).items():
            table, column = _target(key)
            if table in ctx.added or (column is not None and (table, column) in ctx.added_columns):
                out.after.append(CommentOn(ctx.schema, table, column, item.obj))
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[CommentInfo, ...]:
        return tuple(CommentInfo(**r) for r in rows)

    def compare(
        self, schema: str, declared: Sequence[CommentInfo], live: Sequence[CommentInfo]
    ) -> Iterator[Difference]:
        for (table, column), d, x in pair(
            {(c.table, c.column or ""): c for c in declared}, {(c.table, c.column or ""): c for c in live}
        ):
            where = qualified(schema, table, column) if column else qualified(schema, table)
            dt, lt = (d.text if d else None), (x.text if x else None)
            if d is None or x is None:
                yield Difference("comment", where, "missing" if x is None else "extra", dt, lt)
            elif dt != lt:
                yield Difference("comment", where, "text differs", dt, lt)

    def declare(self, schema: m.Schema, stored: Sequence[CommentInfo]) -> Declaration:
        """Each comment onto its table or column (those declared so far)."""
        from orders_schema.declare.model import DeclarationError

        by_target = {c.target: c.text for c in stored}
        out: list[m.Table] = []
        undeclared: list[Undeclared] = []
        for table in schema.tables:
            try:
                columns = tuple(c.replace(comment=by_target[(table.name, c.name)])
                                if (table.name, c.name) in by_target else c for c in table.columns)
                out.append(table.replace(comment=by_target.get((table.name, None), table.comment), columns=columns))
            except DeclarationError as exc:
                undeclared.append(Undeclared(self.name, table.name, str(exc)))
                out.append(table)
        return Declaration(schema.model_copy(update={"tables": tuple(out)}), tuple(undeclared))


def _target(key: Hashable) -> Target:
    assert isinstance(key, tuple)
    table, column = key
    return str(table), None if column is None else str(column)


COMMENT = CommentKind()
