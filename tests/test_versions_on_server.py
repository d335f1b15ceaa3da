"""The rendered version files on a real PostgreSQL: faithful to the story, idempotent, plain SQL."""

from __future__ import annotations

import psycopg
import pytest

from orders_schema.store.files import version_files
from orders_schema.tester.harness import Databases, rolled_back

from .conftest import FIXTURES, pg_dump_schema, psql


def _apply_with_psql(dbs: Databases, db: str, texts: list[str]) -> None:
    for text in texts:
        result = psql(dbs, db, text)
        assert result.returncode == 0, result.stderr


def test_v9_gives_the_same_schema_as_the_storys_own_sql(dbs: Databases) -> None:
    files = version_files(dbs.project.schema_dir)
    below_9 = [f.text for f in files if f.number < 9]
    v9 = next(f for f in files if f.number == 9)
    ours, story = dbs.empty(), dbs.empty()
    try:
        _apply_with_psql(dbs, ours, [*below_9, v9.text])
        _apply_with_psql(dbs, story, [*below_9, (FIXTURES / "story_V9__orders_table.sql").read_text()])
        assert pg_dump_schema(dbs, ours, "walltrack") == pg_dump_schema(dbs, story, "walltrack")
    finally:
        dbs.drop(ours)
        dbs.drop(story)


def test_every_file_applies_in_order_with_psql_and_again_right_after_without_error(dbs: Databases) -> None:
    """What a retried deploy does: each file, run a second time on the database it just built,
    succeeds and changes nothing (replaying an old file on a newer database is not supported:
    V10's backfill names the key V13/V14 widened)."""
    db = dbs.empty()
    try:
        texts = [(f.path.name, f.text) for f in version_files(dbs.project.schema_dir)]
        assert texts, "no version files found"
        for name, text in texts:
            _apply_with_psql(dbs, db, [text])
            first = pg_dump_schema(dbs, db, "walltrack")
            _apply_with_psql(dbs, db, [text])
            assert pg_dump_schema(dbs, db, "walltrack") == first, name
    finally:
        dbs.drop(db)


def test_no_psql_meta_commands_in_version_files(dbs: Databases) -> None:
    for f in version_files(dbs.project.schema_dir):
        meta = [line for line in f.text.splitlines() if line.lstrip().startswith("\\")]
        assert meta == [], f"{f.path.name} has psql meta-commands: {meta}"


LEAK_COUNT = "SELECT count(*) FROM walltrack.signals WHERE id = 'leak-check'"


def test_rollback_isolation_leaves_nothing_behind(
    _orders_session_conn: psycopg.Connection, _orders_session_db: str
) -> None:
    """What ``orders_db`` does around every test, done here twice in one test: the row a test
    writes is visible inside, and gone afterwards, for this connection and for any other (a
    test reading before this one, or alone, could not tell)."""
    with rolled_back(_orders_session_conn) as orders_db:
        orders_db.execute("INSERT INTO walltrack.signals (id) VALUES ('leak-check')")
        row = orders_db.execute(LEAK_COUNT).fetchone()
        assert row == (1,)
        with pytest.raises(psycopg.ProgrammingError):
            orders_db.commit()  # a test cannot commit its way out of the rollback
    assert _orders_session_conn.execute(LEAK_COUNT).fetchone() == (0,)
    with psycopg.connect(_orders_session_db) as other:
        assert other.execute(LEAK_COUNT).fetchone() == (0,)
    with rolled_back(_orders_session_conn) as orders_db:  # the next test starts clean
        assert orders_db.execute(LEAK_COUNT).fetchone() == (0,)


def test_rollback_isolation_really_rolled_back(orders_db: psycopg.Connection) -> None:
    row = orders_db.execute("SELECT count(*) FROM walltrack.signals WHERE id = 'leak-check'").fetchone()
    assert row == (0,)
