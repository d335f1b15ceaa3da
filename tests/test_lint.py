"""Hazards `lint` reports for single statements, in bulk (golden): the lock and on what, scans,
rewrites, data loss, and what must run outside a transaction."""

from __future__ import annotations

import pytest

from orders_schema.migrate.lint import lint_text

GOLDEN: list[tuple[str, list[str]]] = [
    # partitions: ATTACH takes SHARE UPDATE EXCLUSIVE on the table, PARTITION OF takes ACCESS EXCLUSIVE
    ("ALTER TABLE s.p ATTACH PARTITION s.p1 FOR VALUES IN (1);",
     ["lock: SHARE UPDATE EXCLUSIVE on s.p (reads and writes continue)",
      "lock: ACCESS EXCLUSIVE on s.p1 and any DEFAULT partition of s.p (held during the scan)",
      "scan: s.p1 (unless a CHECK proves its bound) and the DEFAULT partition are scanned"]),
    ("CREATE TABLE s.p2 PARTITION OF s.p FOR VALUES IN (2);",
     ["lock: ACCESS EXCLUSIVE on s.p (brief; ATTACH PARTITION takes only SHARE UPDATE EXCLUSIVE)"]),
    ("ALTER TABLE s.p DETACH PARTITION s.p1 CONCURRENTLY;",
     ["lock: SHARE UPDATE EXCLUSIVE on s.p (reads and writes continue)",
      "no-transaction: DETACH PARTITION CONCURRENTLY cannot run inside a transaction; an interrupted one leaves it "
      "pending: apply, run again, finishes it (FINALIZE)"]),
    ("ALTER TABLE s.p DETACH PARTITION s.p1;", ["lock: ACCESS EXCLUSIVE on s.p (brief)"]),
    ("CREATE INDEX IF NOT EXISTS i ON ONLY s.p (x);",
     ["lock: SHARE on s.p (brief: nothing is built; the index stays INVALID until each partition's is attached)"]),
    ("ALTER TABLE s.a SET UNLOGGED;",
     ["lock: ACCESS EXCLUSIVE on s.a (held during the rewrite)",
      "rewrite: SET LOGGED / UNLOGGED rewrites s.a and its indexes (and writes it all to the WAL when it becomes "
      "logged)"]),
    ("CREATE INDEX idx_a ON s.a (x);",
     ["lock: SHARE on s.a (blocks every write for the whole build)", "scan: full scan of s.a under that lock"]),
    ("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON s.a (x);",
     ["lock: SHARE UPDATE EXCLUSIVE on s.a (reads and writes continue)",
      "scan: two full scans of s.a while writes continue",
      "no-transaction: CONCURRENTLY cannot run inside a transaction; a failure leaves an INVALID index to drop "
      "before retrying"]),
    ("ALTER TABLE s.a ADD CONSTRAINT c CHECK (x > 0) NOT VALID;", ["lock: ACCESS EXCLUSIVE on s.a (brief)"]),
    ("ALTER TABLE s.a ADD CONSTRAINT c CHECK (x > 0);",
     ["lock: ACCESS EXCLUSIVE on s.a (held during the scan)", "scan: full scan of s.a while holding the lock"]),
    ("ALTER TABLE s.a VALIDATE CONSTRAINT c;",
     ["lock: SHARE UPDATE EXCLUSIVE on s.a (reads and writes continue)",
      "scan: full scan of s.a to check existing rows"]),
    # sqlglot reads FOREIGN KEY and PRIMARY KEY as single tokens: both used to be missed
    ("ALTER TABLE s.a ADD CONSTRAINT f FOREIGN KEY (x) REFERENCES s.b (id) NOT VALID;",
     ["lock: SHARE ROW EXCLUSIVE on s.a and s.b (brief)"]),
    ("ALTER TABLE s.a ADD CONSTRAINT f FOREIGN KEY (x) REFERENCES s.b (id);",
     ["lock: SHARE ROW EXCLUSIVE on s.a and s.b (held during the scan)",
      "scan: full scan of s.a while holding the lock"]),
    ("ALTER TABLE s.a ADD CONSTRAINT a_pkey PRIMARY KEY (x, y);",
     ["lock: ACCESS EXCLUSIVE on s.a (held during the scan)",
      "scan: builds a unique index on s.a while holding the lock"]),
    ("ALTER TABLE s.a DROP CONSTRAINT IF EXISTS a_pkey, ADD CONSTRAINT a_pkey PRIMARY KEY USING INDEX a_pkey_new;",
     ["lock: ACCESS EXCLUSIVE on s.a (brief)"]),
    ("ALTER TABLE s.a ADD CONSTRAINT u UNIQUE (x);",
     ["lock: ACCESS EXCLUSIVE on s.a (held during the scan)",
      "scan: builds a unique index on s.a while holding the lock"]),
    ("ALTER TABLE s.a DROP COLUMN x;", ["data-loss: drops column x of s.a", "lock: ACCESS EXCLUSIVE on s.a (brief)"]),
    # a rename guarded so that it runs again: the hazards of the statement inside the DO block
    ("DO $$\nBEGIN\n    IF EXISTS (SELECT 1)\n       OR NOT EXISTS (SELECT 2) THEN\n"
     "        ALTER TABLE s.a RENAME COLUMN x TO y;\n    END IF;\nEND\n$$;",
     ["lock: ACCESS EXCLUSIVE on s.a (brief)", "data-loss: clients still using the old name break"]),
    # DROP NOT NULL drops no column (it used to be reported as data loss)
    ("ALTER TABLE s.a ALTER COLUMN x DROP NOT NULL;", ["lock: ACCESS EXCLUSIVE on s.a (brief)"]),
    ("ALTER TABLE s.a ALTER COLUMN x SET NOT NULL;",
     ["lock: ACCESS EXCLUSIVE on s.a (brief)", "scan: full scan of s.a while holding the lock"]),
    ("ALTER TABLE s.a ADD COLUMN y timestamptz DEFAULT clock_timestamp();",
     ["lock: ACCESS EXCLUSIVE on s.a (brief)", "rewrite: a volatile default rewrites every row of s.a"]),
    ("ALTER TABLE s.a ADD COLUMN y int DEFAULT 0;", ["lock: ACCESS EXCLUSIVE on s.a (brief)"]),
    ("DROP TABLE s.a;", ["data-loss: drops s.a and every row in it"]),
    # a table created by the same file has no readers or writers yet
    ("CREATE TABLE s.n (x int); ALTER TABLE s.n ADD CONSTRAINT n_pkey PRIMARY KEY (x);", []),
]


@pytest.mark.parametrize(("sql", "expected"), GOLDEN, ids=[sql.split("(")[0][:60] for sql, _ in GOLDEN])
def test_hazards(sql: str, expected: list[str]) -> None:
    assert [str(h) for linted in lint_text(sql) for h in linted.hazards] == expected


SECURITY: list[tuple[str, list[str]]] = [
    # a SECURITY DEFINER function without a pinned search_path: the caller's path reaches it
    ("CREATE OR REPLACE FUNCTION s.f() RETURNS integer AS $$ SELECT 1 $$ LANGUAGE sql SECURITY DEFINER;",
     ["security: s.f runs SECURITY DEFINER without a pinned search_path: a caller can shadow the objects it "
      "uses (SET search_path = pg_catalog, pg_temp)"]),
    ("CREATE FUNCTION s.f() RETURNS integer AS $$ SELECT 1 $$ LANGUAGE sql SECURITY DEFINER\n"
     "SET search_path = 'pg_catalog', 'pg_temp';", []),
    ("CREATE FUNCTION s.f() RETURNS integer AS $$ SELECT 1 $$ LANGUAGE sql;", []),
    ("GRANT SELECT ON TABLE s.a TO PUBLIC;", ["security: grants to PUBLIC: every role, present and future, gets it"]),
    ("GRANT SELECT ON TABLE s.a TO walltrack_reader;", []),
    ("REVOKE EXECUTE ON FUNCTION s.f FROM PUBLIC;", []),
    # a table in the exposed schema: row security in the same file, or a hazard
    ("CREATE TABLE public.notes (id integer);",
     ["security: public.notes is in the exposed schema public and this file does not enable row-level security "
      "on it: ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY"]),
    ("CREATE TABLE public.notes (id integer);\nALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;", []),
    ("CREATE TABLE s.notes (id integer);", []),
]


@pytest.mark.parametrize(("sql", "expected"), SECURITY, ids=[s.split("(")[0][:60] for s, _ in SECURITY])
def test_security_hazards(sql: str, expected: list[str]) -> None:
    assert [str(h) for h in lint_text(sql)[0].hazards if h.kind == "security"] == expected


def test_exposed_schemas_are_the_callers_choice() -> None:
    sql = "CREATE TABLE api.notes (id integer);"
    assert [h.kind for h in lint_text(sql)[0].hazards] == []
    assert [h.kind for h in lint_text(sql, exposed=("api",))[0].hazards] == ["security"]
