"""Regenerate orders_schema/pg_non_immutable_functions.txt from PostgreSQL 15 and 18.

Usage: ``python scripts/pg_volatility.py`` (starts each server on a throwaway data directory).
The file keeps the union of both servers' lists: a name is listed when, on a server that has it,
none of its overloads is IMMUTABLE.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg

from orders_schema.declare import fragments
from orders_schema.tester.server import session_server

HEADER = (
    "# Built-in (pg_catalog) function names none of whose overloads is IMMUTABLE: PostgreSQL refuses\n"
    "# them in index keys and predicates. The union of PostgreSQL 15 and 18, from\n"
    "# orders_schema.declare.fragments.NON_IMMUTABLE_QUERY; regenerate with scripts/pg_volatility.py.\n"
    "# tests/test_fragments_rules.py proves it against the server the suite runs on.\n"
)


def names_on(pg: str) -> set[str]:
    workdir = Path(tempfile.mkdtemp(prefix="pg-volatility-"))
    with session_server(pg, workdir) as info, psycopg.connect(info.dsn("postgres")) as conn:
        return {name for (name,) in conn.execute(fragments.NON_IMMUTABLE_QUERY)}


def main() -> None:
    names = names_on("15") | names_on("18")
    target = Path(fragments.__file__).with_name(fragments.NON_IMMUTABLE_FILE)
    target.write_text(HEADER + "".join(f"{n}\n" for n in sorted(names)), encoding="utf-8")
    print(f"{target}: {len(names)} names")


if __name__ == "__main__":
    main()
