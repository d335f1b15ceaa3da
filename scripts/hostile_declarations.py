"""Hostile declarations, rendered and applied next to a canary table: what each one does.

Usage: ``python scripts/hostile_declarations.py`` (starts a throwaway PostgreSQL). Each line says
whether the declaration was refused (and the message), or rendered and applied (and whether the
canary table ``public.canary`` survived, which names the server stored, what it noticed).
Run it from another checkout's root with that checkout's interpreter to compare versions.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg

from orders_schema.declare import model as m
from orders_schema.migrate import plan
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.server import session_server

DROP = "DROP TABLE public.canary;"
ID = m.Column(name="id", type=m.INTEGER)
TS = m.Column(name="ts", type=m.TIMESTAMPTZ)
TRG_F = m.Function(name="f", body="BEGIN RETURN NULL; END;")


def schema(**kw: object) -> m.Schema:
    return m.Schema(name="hx", **kw)  # type: ignore[arg-type]


def table(**kw: object) -> m.Table:
    kw.setdefault("columns", (ID, TS))
    return m.Table(name="t", **kw)  # type: ignore[arg-type]


def trigger(**kw: object) -> m.Trigger:
    return m.Trigger(name="trg", timing="AFTER", function="f", **kw)  # type: ignore[arg-type]


def index(**kw: object) -> m.Index:
    kw.setdefault("columns", ("id",))
    return m.Index(name="i", **kw)  # type: ignore[arg-type]


def version(header: str = "h", title: str = "p") -> str:
    t = m.Table(name="t", columns=(ID,))
    v = m.Version(number=1, name="v", create_schema=True, state=schema(tables=(t,)), header=(header,),
                  phases=(m.Phase(title=title, items=(t,)),))
    return RENDERER.script(plan.baseline_statements(v, None), v.header)


def created(make: Callable[[], m.Schema]) -> Callable[[], str]:
    return lambda: RENDERER.script(plan.create_statements(make()))


CASES: dict[str, Callable[[], str]] = {
    "Column.section": created(lambda: schema(tables=(m.Table(name="t", columns=(m.Column(
        name="ids", type=m.INTEGER, section=f"ids\nz int); {DROP} CREATE TABLE hx.t2 ("),)),))),
    "Function.arguments": created(lambda: schema(functions=(m.Function(
        name="f", returns="int", language="sql", body="select 1",
        arguments=(f") RETURNS int LANGUAGE sql AS 'select 1'; {DROP} CREATE FUNCTION hx.zz(",)),))),
    "Function.returns": created(lambda: schema(functions=(m.Function(
        name="f", language="sql", body="select 1",
        returns=f"int AS 'select 1' LANGUAGE sql; {DROP} CREATE FUNCTION hx.zz() RETURNS int"),))),
    "Version.header": lambda: version(header=f"h\n{DROP}"),
    "Phase.title": lambda: version(title=f"p\n{DROP}"),
    "Unique.name of 64 bytes": created(lambda: schema(tables=(table(uniques=(
        m.Unique(name="u" * 64, columns=("id",)),)),))),
    "Trigger.referencing_new of 70 bytes": created(lambda: schema(functions=(TRG_F,), tables=(table(triggers=(trigger(
        events=("INSERT",), for_each="STATEMENT", referencing_new="n" * 70),)),))),
    "empty Unique.name": created(lambda: schema(tables=(table(uniques=(m.Unique(name="", columns=("id",)),)),))),
    "NUL in Unique.name": created(lambda: schema(tables=(table(uniques=(m.Unique(name="u\x00", columns=("id",)),)),))),
    "subquery in a CHECK": created(lambda: schema(tables=(table(checks=(
        m.Check(name="c", expression="id IN (SELECT 1)"),)),))),
    "subquery in an index WHERE": created(lambda: schema(tables=(table(indexes=(index(where="EXISTS (SELECT 1)"),)),))),
    "subquery in a trigger WHEN": created(lambda: schema(functions=(TRG_F,), tables=(table(triggers=(trigger(
        events=("UPDATE",), when="NEW.id = ANY (ARRAY(SELECT 1))"),)),))),
    "-- comment in an index WHERE": created(lambda: schema(tables=(table(indexes=(
        index(where="id > 0 --"), m.Index(name="i2", columns=("ts",)))),))),
    "random() in an index WHERE": created(lambda: schema(tables=(table(indexes=(index(where="id > random()"),)),))),
    "now() in an index key": created(lambda: schema(tables=(table(indexes=(index(columns=("(now() - ts)",)),)),))),
    "a STABLE function of the schema in an index key": created(lambda: schema(
        functions=(m.Function(name="g", arguments=("integer",), returns="integer", volatility="STABLE",
                              body="BEGIN RETURN 1; END;"),),
        tables=(table(indexes=(index(columns=("(hx.g(id))",)),)),))),
}

STORED_NAMES = """SELECT conname::text FROM pg_catalog.pg_constraint
WHERE connamespace = 'hx'::pg_catalog.regnamespace
UNION ALL SELECT tgnewtable::text FROM pg_catalog.pg_trigger WHERE tgnewtable IS NOT NULL"""


def main() -> None:
    with session_server(None, Path(tempfile.mkdtemp(prefix="hostile-"))) as info, psycopg.connect(
        info.dsn("postgres"), autocommit=True
    ) as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        for label, render in CASES.items():
            conn.execute("DROP SCHEMA IF EXISTS hx CASCADE")
            conn.execute("DROP TABLE IF EXISTS public.canary")
            conn.execute("CREATE TABLE public.canary (x int)")
            notices.clear()
            try:
                text = render()
            except Exception as exc:
                print(f"{label}: REFUSED {type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            try:
                with conn.transaction():
                    conn.execute(text)  # type: ignore[arg-type]
                outcome = "applied"
                stored = [f"{n[:6]}...({len(n.encode())} bytes)" for (n,) in conn.execute(STORED_NAMES)]
                outcome += f", names stored {stored}" if stored else ""
            except psycopg.Error as exc:
                outcome = f"server error: {str(exc).splitlines()[0]}"
            row = conn.execute("SELECT pg_catalog.to_regclass('public.canary') IS NOT NULL").fetchone()
            canary = "alive" if row and row[0] else "DROPPED"
            said = "; server notice: " + re.sub(r'"[^"]{20,}"', '"..."', notices[0]) if notices else ""
            print(f"{label}: ACCEPTED; {outcome}; canary {canary}{said}")


if __name__ == "__main__":
    main()
