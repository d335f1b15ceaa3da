"""A summary table of counts (and sums) per key, kept exact by statement-level triggers.

``kept_summary`` declares the three parts such a summary needs: the table (with ``populate``, so a
version that adds it backfills it), the trigger function that adds and subtracts what each
statement changed (one ``INSERT ... ON CONFLICT DO UPDATE`` per transition table, keys in order so
concurrent writers cannot deadlock), and the source table's INSERT, UPDATE and DELETE triggers. It
is the shape ``kinds/backfill.py`` backfills in batches outside the migration's lock.
"""

from __future__ import annotations

from collections.abc import Sequence

from orders_schema.declare import model as m
from orders_schema.declare.quoting import ident, qualified


def kept_summary(schema: str, source: m.Table, name: str, keys: Sequence[str], *, function: str,
                 count: str = "n", sums: Sequence[tuple[str, str]] = (), where: str | None = None,
                 count_default: str | None = None, old_rows: str = "old_rows",
                 new_rows: str = "new_rows") -> tuple[m.Table, m.Table, m.Function]:
    """``(source with its triggers, summary table, trigger function)``.

    The summary holds ``keys`` (the source's columns, its primary key), ``count`` (``count(*)``) and
    one ``(column, source column)`` per ``sums`` entry (``sum(source column)``), over the source rows
    that ``where`` keeps (a condition on the source's columns, each qualified with the source's
    first letter, e.g. ``i.status <> 'void'``)."""
    alias = source.name[0]
    by_name = {c.name: c for c in source.columns}
    aggregates = [count, *(column for column, _ in sums)]
    columns = ", ".join(ident(c) for c in (*keys, *aggregates))
    grouped = ", ".join(f"{alias}.{ident(k)}" for k in keys)
    filtered = f" WHERE {where}" if where else ""
    numbered = ", ".join(str(i + 1) for i in range(len(keys)))

    def selected(sign: str) -> str:
        return ", ".join([f"{sign}count(*)", *(f"{sign}sum({alias}.{ident(of)})" for _, of in sums)])

    def upsert(sign: str, rows: str) -> str:
        added = ", ".join(f"{ident(a)} = c.{ident(a)} + EXCLUDED.{ident(a)}" for a in aggregates)
        return (f"\n        INSERT INTO {qualified(schema, name)} AS c ({columns})"
                f"\n        SELECT {grouped}, {selected(sign)} FROM {rows} {alias}"
                f"\n       {filtered} GROUP BY {numbered} ORDER BY {numbered}"
                f"\n        ON CONFLICT ({', '.join(ident(k) for k in keys)}) DO UPDATE SET {added};")

    body = (f"\nBEGIN\n    IF TG_OP IN ('UPDATE', 'DELETE') THEN{upsert('-', old_rows)}\n    END IF;"
            f"\n    IF TG_OP IN ('INSERT', 'UPDATE') THEN{upsert('', new_rows)}\n    END IF;"
            "\n    RETURN NULL;\nEND;\n")
    table = m.Table(
        name=name,
        columns=(*(by_name[k].model_copy(update={"default": None, "nullable": False}) for k in keys),
                 m.Column(name=count, type=m.BIGINT, nullable=False, default=count_default),
                 *(m.Column(name=column, type=by_name[of].type, nullable=False) for column, of in sums)),
        primary_key=m.PrimaryKey(columns=tuple(keys)),
        populate=f"INSERT INTO {qualified(schema, name)} ({columns}) SELECT {grouped}, {selected('')} "
                 f"FROM {qualified(schema, source.name)} {alias}{filtered} GROUP BY {grouped}",
    )
    triggers = tuple(
        m.Trigger(name=f"trg_{source.name}_count_{event.lower()}", timing="AFTER", events=(event,),
                  function=function, for_each="STATEMENT",
                  referencing_old=old_rows if event != "INSERT" else None,
                  referencing_new=new_rows if event != "DELETE" else None)
        for event in ("INSERT", "UPDATE", "DELETE"))
    return (source.model_copy(update={"triggers": (*source.triggers, *triggers)}), table,
            m.Function(name=function, body=body))
