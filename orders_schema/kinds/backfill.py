"""Backfilling a new derived table in batches, outside the lock its triggers take.

A derived table (``Table.populate``) is kept up to date by triggers on its source table. Creating
them takes SHARE ROW EXCLUSIVE on the source, held until the migration's transaction ends, so a
backfill in that transaction blocks every writer of the source for as long as it reads it: the
stall grows with the table. For the shapes this module recognises (:func:`shape`: a count or sum
per group, grouped by the derived table's primary key, from one table with a one-column primary
key) the backfill leaves the transaction:

* **in the migration's transaction** (:class:`BackfillSetup`, brief): the project's triggers are
  created as declared, and with them a progress row (``low``: the source keys up to it are
  counted; ``done``) and statement-level triggers that take back, for every row whose key is not
  counted yet, what the project's triggers added for it. From then on the derived table holds
  exactly the contribution of the rows already counted (none yet).
* **in the online version** (:class:`BatchedBackfill`, one ``DO`` block that commits per batch):
  each batch locks the progress row (``FOR UPDATE``, under a short ``lock_timeout``, retried),
  counts the next rows in key order, adds them to the derived table, moves ``low`` past them and
  commits. The last batch has no upper bound and sets ``done``. Then the helper triggers, function
  and progress table are dropped (each under the short ``lock_timeout``, retried). No lock is taken
  on the source table but the brief ones of the setup and of the drops.

Why it is exact (docs/decisions.md, "Backfills in batches"): every write to the source fires the
helper triggers, which read the progress row ``FOR SHARE`` and keep that lock until the writer
commits. So a batch, which locks the row ``FOR UPDATE`` first, waits for every writer that already
wrote, and no writer commits a change to the source while a batch runs (its trigger waits for the
batch): the batch counts a still state, and a writer reads the ``low`` that stays in force until it
commits. Each row version therefore lands either in the triggers' sum (its key counted) or in a
later batch's count (not counted yet), never in both and never in neither. A REPEATABLE READ or
SERIALIZABLE writer whose snapshot predates a batch fails with a serialization error (``FOR
SHARE`` on a row updated since) rather than read a stale ``low``.

It relies on what the in-transaction backfill relies on too: the project's triggers maintain the
table as ``populate`` computes it, adding and subtracting (``INSERT ... ON CONFLICT DO UPDATE``), and
no write bypasses triggers (``session_replication_role = replica``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from orders_schema.declare import fragments
from orders_schema.declare.quoting import comment, dollar_quote, ident, literal, qualified
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

BATCH_ROWS = 1_000
"""Source rows counted by the first batch; the next ones count as many as fit in
:data:`BATCH_MILLISECONDS` at the pace of the last one (between :data:`MIN_ROWS` and
:data:`MAX_ROWS`): a writer whose statement ends during a batch waits for it, so a batch's time is
the writers' stall, whatever the table's size and however much of it is cached."""
BATCH_MILLISECONDS = 10
"""The time a batch aims at."""
MIN_ROWS, MAX_ROWS = 100, 50_000
BATCH_LOCK_TIMEOUT = "50ms"
"""How long a batch (or the cleanup) waits for its lock before it gives way and retries: writers
queued behind it wait at most this long plus one batch."""
PAUSE_SECONDS = 0.01
"""Between two batches: the writers that queued during a batch run."""
RETRIES = 1000
"""Lock waits given up in a row before the backfill stops with an error (the version can be
applied again: it resumes where it stopped)."""

_AGGREGATES = (exp.Count, exp.Sum)


@dataclass(frozen=True)
class Shape:
    """A derived table the batched backfill fills exactly: ``populate`` is ``INSERT INTO t (keys...,
    aggregates...) SELECT ... FROM source [WHERE ...] GROUP BY ...``."""

    schema: str
    table: str
    columns: tuple[str, ...]
    """The INSERT's column list."""
    keys: tuple[str, ...]
    """The derived table's primary key columns (the conflict target)."""
    aggregates: tuple[str, ...]
    """The columns holding a count or a sum (added up on conflict)."""
    select: exp.Select
    """The populate's query (its own text, parsed)."""
    source: str
    alias: str
    """How the query names the source table (its alias, else its name)."""
    source_key: str
    """The source's one-column primary key: the batches walk it in order."""
    maintained_by: tuple[str, ...]
    """The project's triggers on the source that keep the table up to date."""

    @property
    def progress(self) -> str:
        return helper_name(self.table)

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(f"{self.progress}_{event.lower()}" for event in ("INSERT", "UPDATE", "DELETE"))


BATCHED_MARK = "-- orders-schema batched backfill of"
"""The first line of a batched backfill's ``DO`` body: lint reads it to tell the drop of the
backfill's own progress table from a drop of data."""


def helper_name(table: str) -> str:
    """The name of the progress table and of the helper function: ``<table>_backfill``."""
    return f"{table.encode()[:50].decode(errors='ignore')}_backfill"


def _mentions(body: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_$]){re.escape(name)}(?![A-Za-z0-9_$])", body, re.IGNORECASE) is not None


def shape(schema: m.Schema, old: m.Schema, table: m.Table) -> Shape | str:
    """The batched shape of ``table``'s backfill, or why it has none (a sentence)."""
    if table.populate is None:
        return "it declares no populate"
    insert = fragments.insert(table.populate, f"table {table.name}: populate")
    target = insert.this
    if not isinstance(target, exp.Schema) or not target.expressions:
        return "its INSERT does not list its columns"
    columns = tuple(col.name for col in target.expressions)
    select = insert.expression
    if not isinstance(select, exp.Select):
        return "its INSERT does not read a SELECT"
    allowed = {"expressions", "from", "from_", "where", "group"}
    extra = sorted(k for k, v in select.args.items() if v and k not in allowed)
    if extra:
        return f"its SELECT has {', '.join(extra)} (only columns, counts and sums, WHERE and GROUP BY batch exactly)"
    source_ref = select.args.get("from") or select.args.get("from_")
    src = source_ref.this if isinstance(source_ref, exp.From) else None
    if not isinstance(src, exp.Table) or src.args.get("joins"):
        return "it does not read exactly one table"
    if src.db and src.db != schema.name:
        return f"it reads a table of another schema ({src.db})"
    source = next((t for t in schema.tables if t.name == src.name), None)
    before = next((t for t in old.tables if t.name == src.name), None)
    if source is None or before is None:
        return f"its source {src.name} is not a table that already holds data"
    pk = source.primary_key
    if pk is None or len(pk.columns) != 1 or before.primary_key is None or before.primary_key.columns != pk.columns:
        return f"its source {src.name} has no one-column primary key to walk in batches"
    alias = src.alias or src.name
    if len(select.expressions) != len(columns):
        return "its SELECT and its column list differ in length"
    if table.primary_key is None:
        return f"{table.name} has no primary key to add the batches up on"
    if table.checks or table.uniques or table.excludes or table.triggers:
        return f"{table.name} has CHECK, UNIQUE or EXCLUDE constraints or triggers that partial sums could break"
    keys = set(table.primary_key.columns)
    if not keys <= set(columns):
        return f"its column list lacks primary key column(s) of {table.name}"
    source_columns = set(source.column_names)
    grouped: list[str] = []
    aggregates: list[str] = []
    for column, item in zip(columns, select.expressions, strict=True):
        value = item.this if isinstance(item, exp.Alias) else item
        if column in keys:
            if isinstance(value, exp.Column) and _of_source(value, alias) and value.name in source_columns:
                grouped.append(value.name)
            elif not isinstance(value, exp.Literal | exp.Boolean):
                return f"its key column {column} is neither a column of {src.name} nor a constant"
        elif isinstance(value, _AGGREGATES) and not value.args.get("distinct") and _summable(value, source, alias):
            aggregates.append(column)
        else:
            return f"its column {column} is not count(*), count(column) or sum(NOT NULL column) of {src.name}"
    group = select.args.get("group")
    by = [_grouped(e, select.expressions) for e in (group.expressions if group else [])]
    if not by or any(b is None for b in by) or {b for b in by} != set(grouped):
        return "it does not GROUP BY exactly its key columns"
    where = select.args.get("where")
    if where is not None:
        if any(where.find_all(exp.Subquery, exp.Select)):
            return "its WHERE has a subquery"
        if any(not _of_source(c, alias) or c.name not in source_columns for c in where.find_all(exp.Column)):
            return f"its WHERE reads columns that are not {src.name}'s"
        if fragments.non_immutable_builtins(where.sql(dialect=fragments.DIALECT)):
            return "its WHERE calls a function that is not IMMUTABLE"
    maintained = tuple(
        trigger.name for trigger in source.triggers
        for fn in schema.functions if fn.name == trigger.function and _mentions(fn.body, table.name)
    )
    if not maintained:
        return f"no trigger on {src.name} maintains it (the backfill takes no lock on {src.name} then)"
    taken = {t.name for t in schema.tables} | {v.name for v in schema.views} | {f.name for f in schema.functions}
    if helper_name(table.name) in taken or any(f"{helper_name(table.name)}_" in t.name for t in source.triggers):
        return f"{helper_name(table.name)} is a name the schema already uses"
    return Shape(
        schema=schema.name, table=table.name, columns=columns, keys=tuple(table.primary_key.columns),
        aggregates=tuple(aggregates), select=select, source=src.name, alias=alias, source_key=pk.columns[0],
        maintained_by=maintained,
    )


def _of_source(column: exp.Column, alias: str) -> bool:
    return not column.args.get("db") and column.table in ("", alias)


def _summable(value: exp.Expr, source: m.Table, alias: str) -> bool:
    arg = value.this
    if isinstance(value, exp.Count):
        return isinstance(arg, exp.Star) or (isinstance(arg, exp.Column) and _of_source(arg, alias))
    # sum(NULL only) is NULL, which a batch cannot add up: the column must be NOT NULL
    return (isinstance(arg, exp.Column) and _of_source(arg, alias) and arg.name in source.column_names
            and not source.column(arg.name).nullable)


def _grouped(item: exp.Expr, selected: Sequence[exp.Expr]) -> str | None:
    """The source column a GROUP BY item names (a column, or an ordinal of a selected column)."""
    if isinstance(item, exp.Literal) and item.is_int and 1 <= int(item.this) <= len(selected):
        item = selected[int(item.this) - 1]
        item = item.this if isinstance(item, exp.Alias) else item
    return item.name if isinstance(item, exp.Column) else None


def _ranged(shape: Shape, source: exp.Expr, condition: str | None) -> exp.Select:
    """The populate's query reading ``source`` (a table or a transition table, named as the query
    names its source) and, when given, only the rows matching ``condition`` too."""
    select = shape.select.copy()
    table = select.args.get("from") or select.args.get("from_")
    assert isinstance(table, exp.From)
    table.set("this", source)
    if condition is not None:
        select = select.where(condition, dialect=fragments.DIALECT, copy=False)
    return select


def _negated(select: exp.Select, shape: Shape) -> exp.Select:
    """The query with every count and sum negated (what a row's change takes back)."""
    out = select.copy()
    items = []
    for column, item in zip(shape.columns, out.expressions, strict=True):
        value = item.this if isinstance(item, exp.Alias) else item
        items.append(exp.Neg(this=exp.Paren(this=value.copy())) if column in shape.aggregates else item)
    out.set("expressions", items)
    return out


def _upsert(shape: Shape, select: exp.Select) -> str:
    """Add the query's rows to the derived table (counts and sums added up on conflict), in key
    order like the project's counters, so that concurrent writers touch rows in one order."""
    target = qualified(shape.schema, shape.table)
    ordinals = ", ".join(str(shape.columns.index(k) + 1) for k in shape.keys)
    adds = ", ".join(f"{ident(a)} = t.{ident(a)} + EXCLUDED.{ident(a)}" for a in shape.aggregates)
    return (
        f"INSERT INTO {target} AS t ({', '.join(ident(c) for c in shape.columns)})\n"
        f"{select.sql(dialect=fragments.DIALECT)}\nORDER BY {ordinals}\n"
        f"ON CONFLICT ({', '.join(ident(k) for k in shape.keys)}) DO UPDATE SET {adds}"
    )


def _table(schema: str | None, name: str, alias: str) -> exp.Table:
    """``[schema.]name [AS alias]`` (no alias when it is the name itself)."""
    table = exp.Table(this=exp.to_identifier(name), db=exp.to_identifier(schema) if schema else None)
    if alias != name:
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return table


def _not_counted(shape: Shape, low: str) -> str:
    key = f"{ident(shape.alias)}.{ident(shape.source_key)}"
    return f"{low} IS NULL OR {key} > {low}"


@dataclass(frozen=True)
class BackfillSetup(Statement):
    """In the migration's transaction: the progress row and the triggers that keep rows not yet
    counted out of the derived table."""

    shape: Shape


@dataclass(frozen=True)
class BatchedBackfill(Statement):
    """In the online version: the batches, then the helpers dropped."""

    shape: Shape


@dataclass(frozen=True)
class BackfillCleanup(Statement):
    """In a down script: what an interrupted batched backfill left (IF EXISTS)."""

    shape: Shape


def _helper_function(s: Shape) -> str:
    name = qualified(s.schema, s.progress)
    take_back = {
        "new": _upsert(s, _negated(_ranged(s, _table(None, "new_rows", s.alias), _not_counted(s, "p.low")), s)),
        "old": _upsert(s, _ranged(s, _table(None, "old_rows", s.alias), _not_counted(s, "p.low"))),
    }
    indent = "\n            "
    body = f"""
DECLARE
    p record;
BEGIN
    -- The rows whose key is past low are not counted yet: take back what the project's triggers
    -- added for them (a batch counts them later). FOR SHARE, held until this writer commits: no
    -- batch runs meanwhile, and an older snapshot fails rather than read a stale low.
    SELECT low, done INTO p FROM {name} FOR SHARE;
    IF NOT FOUND OR p.done THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
            {indent.join(take_back['new'].splitlines())};
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {indent.join(take_back['old'].splitlines())};
    END IF;
    RETURN NULL;
END;
"""
    return (f"CREATE OR REPLACE FUNCTION {name}()\nRETURNS TRIGGER AS {dollar_quote(body)} LANGUAGE plpgsql\n"
            "SECURITY DEFINER\nSET search_path = 'pg_catalog', 'pg_temp';")


@renders(BackfillSetup)
def backfill_setup_sql(st: BackfillSetup) -> str:
    s = st.shape
    source = qualified(s.schema, s.source)
    progress = qualified(s.schema, s.progress)
    out = [
        comment(f"{s.schema}.{s.table} is filled in batches by the next version; until then its progress is "
                f"{s.schema}.{s.progress}"),
        f"CREATE TABLE IF NOT EXISTS {progress} AS\n    SELECT {ident(s.source_key)} AS low, FALSE AS done "
        f"FROM {source} LIMIT 0;",
        f"INSERT INTO {progress} (low, done) SELECT NULL, FALSE WHERE NOT EXISTS (SELECT FROM {progress});",
        _helper_function(s),
    ]
    referencing = {"INSERT": "NEW TABLE AS new_rows", "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                   "DELETE": "OLD TABLE AS old_rows"}
    for trigger, (event, tables) in zip(s.triggers, referencing.items(), strict=True):
        out += [
            f"DROP TRIGGER IF EXISTS {ident(trigger)} ON {source};",
            f"CREATE TRIGGER {ident(trigger)}\n    AFTER {event} ON {source}\n    REFERENCING {tables}\n"
            f"    FOR EACH STATEMENT EXECUTE FUNCTION {progress}();",
        ]
    return "\n\n".join(out)


def _cleanup(s: Shape) -> list[str]:
    source = qualified(s.schema, s.source)
    return ([f"DROP TRIGGER IF EXISTS {ident(t)} ON {source};" for t in s.triggers]
            + [f"DROP FUNCTION IF EXISTS {qualified(s.schema, s.progress)}();",
               f"DROP TABLE IF EXISTS {qualified(s.schema, s.progress)};"])


@renders(BackfillCleanup)
def backfill_cleanup_sql(st: BackfillCleanup) -> str:
    return "\n".join([comment(f"what a batched backfill of {st.shape.schema}.{st.shape.table} left, if it was cut off"),
                      *_cleanup(st.shape)])


@renders(BatchedBackfill)
def batched_backfill_sql(st: BatchedBackfill) -> str:
    s = st.shape
    source = qualified(s.schema, s.source)
    progress = qualified(s.schema, s.progress)
    key = ident(s.source_key)
    batch = _upsert(s, _ranged(s, _table(s.schema, s.source, s.alias),
                               f"({_not_counted(s, 'p.low')}) AND (high IS NULL OR {ident(s.alias)}.{key} <= high)"))
    gave_up = literal(f"backfill of {s.schema}.{s.table}: gave up after {RETRIES} lock waits of "
                      f"{BATCH_LOCK_TIMEOUT} in a row; apply the version again to resume")
    helpers_stay = literal(f"backfill of {s.schema}.{s.table} is complete, but its helpers could not be dropped "
                           f"after {RETRIES} lock waits on {s.schema}.{s.source}; apply the version again")
    indent = "\n                "
    cleanup = "\n            ".join(_cleanup(s))
    body = f"""
{BATCHED_MARK} {s.schema}.{s.table} from {source}; progress table {progress}
DECLARE
    p record;
    high {source}.{key}%TYPE;
    waits integer := 0;
    rows_per_batch integer := {BATCH_ROWS};
    started timestamptz;
BEGIN
    IF to_regclass({literal(f'{s.schema}.{s.progress}')}) IS NULL THEN
        RETURN;  -- done by an earlier run
    END IF;
    LOOP  -- one batch per transaction: a writer of {s.source} waits for one batch at most
        BEGIN
            PERFORM set_config('lock_timeout', {literal(BATCH_LOCK_TIMEOUT)}, true);
            -- planned with this batch's bounds, so that the key's index serves the range
            PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
            SELECT low, done INTO p FROM {progress} FOR UPDATE;
            EXIT WHEN p.done;
            started := clock_timestamp();
            SELECT {source}.{key} INTO high FROM {source}
            WHERE p.low IS NULL OR {source}.{key} > p.low
            ORDER BY {source}.{key} OFFSET rows_per_batch - 1 LIMIT 1;
            {indent.join(batch.splitlines())};
            UPDATE {progress} SET low = high, done = high IS NULL;
            waits := 0;
            -- as many rows next time as fit in {BATCH_MILLISECONDS} ms at this batch's pace
            rows_per_batch := greatest({MIN_ROWS}, least({MAX_ROWS}, (rows_per_batch * {BATCH_MILLISECONDS}
                / greatest(1, extract(epoch FROM clock_timestamp() - started) * 1000))::integer));
        EXCEPTION WHEN lock_not_available THEN
            waits := waits + 1;
            IF waits >= {RETRIES} THEN
                RAISE EXCEPTION USING MESSAGE = {gave_up};
            END IF;
        END;
        COMMIT;
        PERFORM pg_sleep({PAUSE_SECONDS});
    END LOOP;
    COMMIT;
    LOOP  -- every row is counted: the helpers go
        BEGIN
            PERFORM set_config('lock_timeout', {literal(BATCH_LOCK_TIMEOUT)}, true);
            {cleanup}
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            waits := waits + 1;
            IF waits >= {RETRIES} THEN
                RAISE EXCEPTION USING MESSAGE = {helpers_stay};
            END IF;
        END;
        COMMIT;
        PERFORM pg_sleep({PAUSE_SECONDS});
    END LOOP;
END;
"""
    title = (f"backfill {s.schema}.{s.table} in batches of about {BATCH_MILLISECONDS} ms of {s.source} rows, "
             "outside any table lock")
    return f"{comment(title)}\nDO {dollar_quote(body)};"
