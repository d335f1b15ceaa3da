"""`orders-schema advise` on WallTrack at head, with Supabase's API roles on the server: clean
(exit 0); once row security is turned off on orders and anon may read it, exit 1 naming
walltrack.orders; the access the hardened version declares is what advise reads."""

from __future__ import annotations

import json

import psycopg
import pytest

from orders_schema.advise import advise
from orders_schema.cli import main

WEAKEN = (
    "ALTER TABLE walltrack.orders DISABLE ROW LEVEL SECURITY",
    "GRANT USAGE ON SCHEMA walltrack TO anon",
    "GRANT SELECT ON walltrack.orders TO anon",
)


def test_head_is_clean_and_a_weakened_orders_table_fails_naming_it(
    supabase_api_roles: tuple[str, ...], orders_clone_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = advise(orders_clone_dsn, schemas=["walltrack"])
    assert report.api_roles == supabase_api_roles
    assert [f for f in report.findings if f.level != "info"] == [], [str(f.object) for f in report.findings]
    assert main(["advise", "--dsn", orders_clone_dsn, "--schema", "walltrack"]) == 0
    capsys.readouterr()

    with psycopg.connect(orders_clone_dsn, autocommit=True) as conn:
        for statement in WEAKEN:
            conn.execute(statement.encode())
    assert main(["advise", "--dsn", orders_clone_dsn, "--schema", "walltrack", "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    rules = {(f["rule"], f["object"]) for f in found}
    assert ("rls_disabled_api_table", "walltrack.orders") in rules, rules
    # the policies stay, but apply to nothing now
    assert ("policy_exists_rls_disabled", "walltrack.orders") in rules, rules
