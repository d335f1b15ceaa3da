"""Lint: what each statement of a version file does to a live database.

Statements are split and classified from sqlglot's PostgreSQL tokens (dollar-quoted function
bodies, comments and strings stay intact), so any version file can be linted, hand-written or
generated. Each statement gets its hazards: the lock it takes and on what, whether it rewrites
the table, scans it in full, loses data, or must run outside a transaction. Statements on a table
created earlier in the same file are harmless: nobody else can see that table yet.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

from sqlglot.tokenizer_core import Token, TokenType

from orders_schema.kinds.backfill import BATCH_MILLISECONDS, BATCHED_MARK
from orders_schema.store.files import NO_TRANSACTION_MARK
from orders_schema.store.statements import Stmt, split_tokens

HazardKind = Literal[
    "lock", "rewrite", "scan", "data-loss", "no-transaction", "backfill", "cluster-wide", "security"]
EXPOSED_SCHEMAS = ("public",)
"""The schemas an API exposes by default (Supabase's PostgREST: ``public``): a table created there
without row-level security in the same file is a security hazard."""
VOLATILE_DEFAULTS = ("GEN_RANDOM_UUID", "RANDOM", "CLOCK_TIMESTAMP", "UUID_GENERATE_V4", "NEXTVAL")


@dataclass(frozen=True)
class Hazard:
    kind: HazardKind
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


    @property
    def serious(self) -> bool:
        """Whether it can hurt a live database beyond a brief lock: data lost, a table rewritten,
        every write blocked for a scan or a build, data written at length, a role given too much.
        ``--format github`` shows these as warnings, the others as notices."""
        held = self.kind in ("lock", "scan") and any(words in self.detail for words in (
            "blocks every write", "held during", "holding the lock", "under that lock", "wait for this whole"))
        return held or self.kind in ("data-loss", "rewrite", "backfill", "security")


@dataclass(frozen=True)
class Linted:
    sql: str
    hazards: tuple[Hazard, ...] = field(default=())
    line: int = 1
    """The line of the script where the statement starts (1-based)."""

    @property
    def summary(self) -> str:
        return "; ".join(str(h) for h in self.hazards) if self.hazards else "none"


def _name_after(words: list[str], tokens: list[Token], keyword: str, skip: tuple[str, ...] = ()) -> str:
    """The (possibly qualified) name following ``keyword``, skipping words such as IF NOT EXISTS."""
    if keyword not in words:
        return "?"
    i = words.index(keyword) + 1
    while i < len(words) and words[i] in skip:
        i += 1
    parts = []
    while i < len(tokens):
        parts.append(tokens[i].text)
        if i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.DOT:
            i += 2
            continue
        break
    return ".".join(parts)


def _lock(mode: str, target: str, note: str = "") -> Hazard:
    return Hazard("lock", f"{mode} on {target}" + (f" ({note})" if note else ""))


def lint_text(text: str, exposed: tuple[str, ...] = EXPOSED_SCHEMAS) -> list[Linted]:
    """Every statement of a script with its hazards; ``exposed``: the schemas an API exposes."""
    created: set[str] = set()
    statements = split_tokens(text)
    linted = [_classify(s, created) for s in statements]
    if not text.lstrip().startswith(NO_TRANSACTION_MARK):
        linted = _under_held_locks(text, statements, linted, created)
    return [Linted(x.sql, x.hazards + tuple(_security(s, statements, exposed)),
                   text.count("\n", 0, s.tokens[0].start) + 1)
            for s, x in zip(statements, linted, strict=True)]


_WRITE_BLOCKING = ("SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE")


def _read_tables(stmt: Stmt) -> list[str]:
    """The (possibly qualified) names after FROM and JOIN."""
    names = []
    for i, word in enumerate(stmt.words):
        if word in ("FROM", "JOIN") and i + 1 < len(stmt.tokens):
            names.append(_name_after(stmt.words[i:], stmt.tokens[i:], word))
    return names


def _under_held_locks(text: str, statements: list[Stmt], linted: list[Linted], created: set[str]) -> list[Linted]:
    """In one transaction a lock is held until it commits: a backfill that reads a table an earlier
    statement locked against writes keeps every writer of it waiting for the whole backfill. A
    backfill that only reads and writes tables the script creates is harmless (nobody sees them)."""
    held: dict[str, tuple[str, int]] = {}
    out: list[Linted] = []
    for stmt, item in zip(statements, linted, strict=True):
        hazards = list(item.hazards)
        if any(h.kind == "backfill" for h in hazards):
            reads = [t for t in _read_tables(stmt) if t != "?"]
            target = _name_after(stmt.words, stmt.tokens, "INTO") if stmt.words[0] == "INSERT" else "?"
            if target.lower() in created and all(t.lower() in created for t in reads):
                hazards = [h for h in hazards if h.kind != "backfill"]
            for table in reads:
                if table.lower() in held:
                    mode, line = held[table.lower()]
                    hazards.append(Hazard("lock", f"writes to {table} wait for this whole backfill: this transaction "
                                          f"holds {mode} on {table} since line {line}; the stall grows with the rows"))
        for h in hazards:
            if h.kind == "lock":
                mode, _, rest = h.detail.partition(" on ")
                table = rest.split(" (")[0]
                if mode in _WRITE_BLOCKING and " " not in table and table.lower() not in held:
                    held[table.lower()] = (mode, text.count("\n", 0, stmt.tokens[0].start) + 1)
        out.append(Linted(item.sql, tuple(hazards)))
    return out


def _security(stmt: Stmt, script: list[Stmt], exposed: tuple[str, ...]) -> list[Hazard]:
    """What a statement opens to other roles: a SECURITY DEFINER function without a pinned
    ``search_path`` (its caller's path can put their own functions and operators first), a
    privilege granted to ``PUBLIC`` (every role, present and future), a table created in an exposed
    schema without row-level security enabled in the same file."""
    w, t = stmt.words, stmt.tokens
    out: list[Hazard] = []
    if w[0] == "CREATE" and {"FUNCTION", "PROCEDURE"} & set(w[:4]) and _has(w, "SECURITY", "DEFINER"):
        if not _has(w, "SET", "SEARCH_PATH"):
            name = _name_after(w, t, "FUNCTION" if "FUNCTION" in w[:4] else "PROCEDURE")
            out.append(Hazard("security", f"{name} runs SECURITY DEFINER without a pinned search_path: a caller "
                              "can shadow the objects it uses (SET search_path = pg_catalog, pg_temp)"))
    elif w[0] == "GRANT" and "TO" in w and "PUBLIC" in w[w.index("TO") + 1:]:
        out.append(Hazard("security", "grants to PUBLIC: every role, present and future, gets it"))
    elif w[:2] == ["CREATE", "TABLE"]:
        table = _name_after(w, t, "TABLE", ("IF", "NOT", "EXISTS"))
        schema = table.rpartition(".")[0] or "public"
        if schema.strip('"') in exposed and not any(
            s.words[:2] == ["ALTER", "TABLE"] and _has(s.words, "ENABLE", "ROW")
            and _name_after(s.words, s.tokens, "TABLE", ("IF", "EXISTS", "ONLY")).lower() == table.lower()
            for s in script
        ):
            out.append(Hazard("security", f"{table} is in the exposed schema {schema} and this file does not "
                              f"enable row-level security on it: ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
    return out


def _has(words: list[str], first: str, second: str) -> bool:
    """Whether ``first`` is directly followed by ``second`` (sqlglot may read two words as one
    token, ``SQL SECURITY``)."""
    return f" {first} {second} " in f" {' '.join(words)} "


def _in_do_block(stmt: Stmt, created: set[str]) -> Linted:
    """A ``DO`` block (a guarded rename): the hazards of the statements inside its body."""
    body = stmt.tokens[1].text if len(stmt.tokens) > 1 else ""
    tag = body[: body.find("$", 1) + 1] if body.startswith("$") else ""
    inner = body[len(tag): len(body) - len(tag)] if tag and body.endswith(tag) else ""
    hazards: list[Hazard] = []
    batched = inner.lstrip().startswith(BATCHED_MARK)
    for part in split_tokens(inner):
        words = part.words
        start = next((i for i, word in enumerate(words) if word in ("ALTER", "CREATE", "DROP")), None)
        if start is not None:
            found = _classify(Stmt(part.sql, part.tokens[start:]), created).hazards
            if batched and words[start:start + 2] == ["DROP", "TABLE"]:
                # the backfill's own progress table (kinds/backfill.py), not data: say what the block does
                table = _name_after(words[start:], part.tokens[start:], "TABLE", ("IF", "EXISTS"))
                found = (Hazard("backfill", "counts its source table in batches of about "
                                f"{BATCH_MILLISECONDS} ms, one commit each, then drops its helpers and "
                                f"progress table {table} (no data of yours); runtime grows with the rows"),)
            hazards += found
    return Linted(stmt.sql, tuple(hazards))


def _classify(stmt: Stmt, created: set[str]) -> Linted:
    w, t = stmt.words, stmt.tokens
    if w[0] == "DO":
        return _in_do_block(stmt, created)
    hazards: list[Hazard] = []
    head = " ".join(w[:4])

    def on_new(table: str) -> bool:
        return table.lower() in created

    if w[:2] == ["CREATE", "TABLE"]:
        created.add(_name_after(w, t, "TABLE", ("IF", "NOT", "EXISTS")).lower())
        if "PARTITION" in w and "OF" in w and not on_new(parent := _name_after(w, t, "OF")):
            hazards.append(_lock("ACCESS EXCLUSIVE", parent, "brief; ATTACH PARTITION takes only SHARE UPDATE "
                                 "EXCLUSIVE"))
    elif w[0] == "CREATE" and "INDEX" in w[:4]:
        table = _name_after(w, t, "ON", ("ONLY",))
        if not on_new(table):
            if "ONLY" in w:  # a partitioned table's own index: no build, INVALID until its partitions' are attached
                hazards.append(_lock("SHARE", table, "brief: nothing is built; the index stays INVALID until each "
                                     "partition's is attached"))
            elif "CONCURRENTLY" in w:
                hazards += [
                    _lock("SHARE UPDATE EXCLUSIVE", table, "reads and writes continue"),
                    Hazard("scan", f"two full scans of {table} while writes continue"),
                    Hazard("no-transaction", "CONCURRENTLY cannot run inside a transaction; a failure "
                           "leaves an INVALID index to drop before retrying"),
                ]
            else:
                hazards += [
                    _lock("SHARE", table, "blocks every write for the whole build"),
                    Hazard("scan", f"full scan of {table} under that lock"),
                ]
    elif w[:2] == ["DROP", "INDEX"]:
        name = _name_after(w, t, "INDEX", ("CONCURRENTLY", "IF", "EXISTS"))
        if "CONCURRENTLY" in w:
            hazards += [_lock("SHARE UPDATE EXCLUSIVE", f"the table of {name}", "waits for running queries"),
                        Hazard("no-transaction", "DROP INDEX CONCURRENTLY cannot run inside a transaction")]
        else:
            hazards.append(_lock("ACCESS EXCLUSIVE", f"the table of {name}", "brief"))
    elif w[:2] == ["ALTER", "TABLE"]:
        hazards += _alter_table(stmt, created)
    elif w[:2] == ["DROP", "TABLE"]:
        table = _name_after(w, t, "TABLE", ("IF", "EXISTS"))
        hazards.append(Hazard("data-loss", f"drops {table} and every row in it"))
    elif w[0] == "CREATE" and "TRIGGER" in w[:4]:
        table = _name_after(w, t, "ON")
        if not on_new(table):
            hazards.append(_lock("SHARE ROW EXCLUSIVE", table, "brief; blocks writes while held"))
    elif w[:2] == ["DROP", "TRIGGER"]:
        table = _name_after(w, t, "ON")
        if not on_new(table):
            hazards.append(_lock("ACCESS EXCLUSIVE", table, "brief"))
    elif head.startswith(("CREATE MATERIALIZED VIEW", "REFRESH MATERIALIZED VIEW")):
        name = _name_after(w, t, "VIEW", ("IF", "NOT", "EXISTS", "CONCURRENTLY"))
        if w[0] == "REFRESH" and "CONCURRENTLY" not in w:
            hazards.append(_lock("ACCESS EXCLUSIVE", name, "readers wait for the whole refresh"))
        elif w[0] == "REFRESH":
            hazards.append(_lock("EXCLUSIVE", name, "reads continue; needs a unique index"))
        hazards.append(Hazard("scan", f"runs the query of {name} in full to fill it (a refresh); its rows are "
                              "as of then, until the next REFRESH MATERIALIZED VIEW"))
    elif head.startswith(("CREATE VIEW", "CREATE OR REPLACE VIEW", "DROP VIEW", "DROP MATERIALIZED VIEW")):
        hazards.append(_lock("ACCESS EXCLUSIVE", _name_after(w, t, "VIEW", ("IF", "EXISTS")), "the view only"))
    elif (w[0] == "DO" and "CREATE ROLE" in " ".join(stmt.sql.upper().split())) or w[:2] == ["CREATE", "ROLE"]:
        hazards.append(Hazard("cluster-wide", "creates a role when missing: roles are shared by every database "
                              "of the server (never altered when present, never dropped by a down script)"))
    elif w[:2] in (["CREATE", "POLICY"], ["DROP", "POLICY"], ["ALTER", "POLICY"]):
        table = _name_after(w, t, "ON")
        if not on_new(table):
            hazards.append(_lock("ACCESS EXCLUSIVE", table, "brief"))
    elif w[0] in ("INSERT", "UPDATE", "DELETE", "WITH"):
        hazards.append(Hazard("backfill", "writes data; runtime grows with the rows it reads"))
    return Linted(stmt.sql, tuple(hazards))


def _alter_table(stmt: Stmt, created: set[str]) -> list[Hazard]:
    w, t = stmt.words, stmt.tokens
    table = _name_after(w, t, "TABLE", ("IF", "EXISTS", "ONLY"))
    new = table.lower() in created
    hazards: list[Hazard] = []
    if any(a == "DROP" and b == "COLUMN" for a, b in itertools.pairwise(w)):  # not ALTER COLUMN x DROP NOT NULL
        hazards.append(Hazard("data-loss", f"drops column {_name_after(w, t, 'COLUMN', ('IF', 'EXISTS'))} of {table}"))
    if new:
        return hazards
    if "VALIDATE" in w:
        return [_lock("SHARE UPDATE EXCLUSIVE", table, "reads and writes continue"),
                Hazard("scan", f"full scan of {table} to check existing rows")]
    if "ATTACH" in w and "PARTITION" in w:
        part = _name_after(w, t, "PARTITION")
        return [_lock("SHARE UPDATE EXCLUSIVE", table, "reads and writes continue"),
                _lock("ACCESS EXCLUSIVE", f"{part} and any DEFAULT partition of {table}", "held during the scan"),
                Hazard("scan", f"{part} (unless a CHECK proves its bound) and the DEFAULT partition are scanned")]
    if "DETACH" in w and "PARTITION" in w:
        if "CONCURRENTLY" in w:
            return [_lock("SHARE UPDATE EXCLUSIVE", table, "reads and writes continue"),
                    Hazard("no-transaction", "DETACH PARTITION CONCURRENTLY cannot run inside a transaction; an "
                           "interrupted one leaves it pending: apply, run again, finishes it (FINALIZE)")]
        return [_lock("ACCESS EXCLUSIVE", table, "brief")]
    if "SET" in w and ("LOGGED" in w or "UNLOGGED" in w):
        return [_lock("ACCESS EXCLUSIVE", table, "held during the rewrite"),
                Hazard("rewrite", f"SET LOGGED / UNLOGGED rewrites {table} and its indexes (and writes it all to the "
                       "WAL when it becomes logged)")]
    if "RENAME" in w:
        return [_lock("ACCESS EXCLUSIVE", table, "brief"),
                Hazard("data-loss", "clients still using the old name break")]
    # sqlglot reads FOREIGN KEY and PRIMARY KEY as one token each
    foreign = "FOREIGN KEY" in w or "FOREIGN" in w
    unique = "UNIQUE" in w or "PRIMARY KEY" in w or "PRIMARY" in w or "EXCLUDE" in w
    if "ADD" in w and unique and "USING" in w and "INDEX" in w:  # PRIMARY KEY / UNIQUE USING INDEX: it exists
        return [_lock("ACCESS EXCLUSIVE", table, "brief")]
    if "ADD" in w and ("CHECK" in w or foreign or unique):
        if foreign:
            ref = _name_after(w, t, "REFERENCES")
            hazards.append(_lock("SHARE ROW EXCLUSIVE", f"{table} and {ref}", "brief" if "VALID" in w
                                 else "held during the scan"))
        else:
            hazards.append(_lock("ACCESS EXCLUSIVE", table, "brief" if "VALID" in w else "held during the scan"))
        if unique:
            what = "an exclusion constraint's index" if "EXCLUDE" in w else "a unique index"
            hazards.append(Hazard("scan", f"builds {what} on {table} while holding the lock"))
        elif "VALID" not in w:
            hazards.append(Hazard("scan", f"full scan of {table} while holding the lock"))
        return hazards
    hazards.append(_lock("ACCESS EXCLUSIVE", table, "brief"))
    if "TYPE" in w:
        hazards.append(Hazard("rewrite", f"may rewrite {table} and its indexes unless binary-coercible"))
    if "ADD" in w and "COLUMN" in w and "DEFAULT" in w and any(f in w for f in VOLATILE_DEFAULTS):
        hazards.append(Hazard("rewrite", f"a volatile default rewrites every row of {table}"))
    if "ADD" in w and "COLUMN" in w and any(k in w for k in ("STORED", "IDENTITY", "SERIAL", "BIGSERIAL",
                                                              "SMALLSERIAL")):
        hazards.append(Hazard("rewrite", f"a generated, identity or serial column is computed for every row "
                                         f"of {table}, which is rewritten"))
    if "SET" in w and "NOT" in w and "NULL" in w:
        hazards.append(Hazard("scan", f"full scan of {table} while holding the lock"))
    return hazards
