"""The advisor's data: rules, findings, the context a rule reads, and the report.

A :class:`Rule` is metadata plus a check; a check reads the catalogue through the
:class:`Context` (bound parameters only) and yields :class:`Finding` objects, each naming one
object, saying what is wrong with it, and carrying the fix as executable SQL statements whose
names are quoted by :mod:`orders_schema.declare.quoting`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from orders_schema.declare.project import Project

Level = Literal["error", "warning", "info"]
Category = Literal["security", "performance"]

LEVELS: tuple[Level, ...] = ("error", "warning", "info")
FAILING_LEVELS: frozenset[str] = frozenset({"error", "warning"})
"""Levels that make ``orders-schema advise`` exit 1; ``info`` findings never do."""


@dataclass(frozen=True)
class Context:
    """What every rule reads: one read-only connection, the schemas examined, the API roles."""

    conn: psycopg.Connection[Any]
    schemas: tuple[str, ...]
    api_roles: tuple[str, ...]
    server_version: int
    """``server_version_num``, e.g. 150018."""
    project: Project | None = None
    """Declarations whose queries are EXPLAINed (``--queries``); ``None``: rules that need them find nothing."""

    def rows(self, query: str, **params: object) -> list[dict[str, Any]]:
        """Run one catalogue query with bound parameters; ``schemas`` and ``roles`` are always bound."""
        bound: dict[str, object] = {"schemas": list(self.schemas), "roles": list(self.api_roles), **params}
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query.encode(), bound)
            return cur.fetchall()


@dataclass(frozen=True)
class Finding:
    """One object breaking one rule."""

    rule: Rule
    object: str
    """The object, fully qualified and quoted as SQL spells it: ``public.items``, ``public.f(integer)``."""
    kind: str
    """table, view, materialized view, function, policy, index, foreign key, extension, role."""
    message: str
    """What is wrong with this object, in one sentence naming it."""
    fix: tuple[str, ...]
    """The fix: SQL statements, each runnable on its own (autocommit: some are CONCURRENTLY)."""
    note: str = ""
    """What to weigh before running the fix, if anything."""

    @property
    def level(self) -> Level:
        return self.rule.level

    def fix_sql(self) -> str:
        return "\n".join(f"{statement};" for statement in self.fix)


Check = Callable[[Context], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    """A rule: its identity, level, why it matters, and its check."""

    id: str
    level: Level
    category: Category
    title: str
    why: str
    check: Check = field(repr=False, compare=False)
    needs_api_roles: bool = False
    """Skipped (and said so) when no API role exists."""
    splinter: str = ""
    """The Supabase database linter's name for the same concern, if it has one."""


@dataclass(frozen=True)
class Report:
    """What ``advise`` found on one database."""

    database: str
    user: str
    server_version: str
    schemas: tuple[str, ...]
    api_roles: tuple[str, ...]
    rules: tuple[Rule, ...]
    findings: tuple[Finding, ...]
    skipped: tuple[str, ...]
    """Ids of rules not run (they need an API role and none exists)."""

    def count(self, level: Level) -> int:
        return sum(1 for f in self.findings if f.level == level)

    @property
    def failing(self) -> bool:
        return any(f.level in FAILING_LEVELS for f in self.findings)

    def summary(self) -> str:
        if not self.findings:
            return "no findings"
        parts = ", ".join(f"{self.count(level)} {level}" for level in LEVELS)
        return f"{len(self.findings)} finding(s): {parts}"


def sort_findings(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """Most severe first, then by rule and object, so output is stable run after run."""
    return tuple(sorted(findings, key=lambda f: (LEVELS.index(f.level), f.rule.id, f.object)))
