"""The base of every statement object, and where a kind registers how its statements render.

Statement objects say *how* something is created or changed; :mod:`orders_schema.migrate.render`
turns them into PostgreSQL text. The renderer has one method per layout statement (phase
headers, comment lines, raw statements, CREATE SCHEMA); each kind of :mod:`orders_schema.kinds`
(tables and columns included) renders its own statements with functions registered here by
:func:`renders`, beside its declaration but apart from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from orders_schema.declare import fragments

LINE_LIMIT = 110


class Statement:
    """Base of every statement object; ``transactional`` is False for CONCURRENTLY statements."""

    transactional = True


S = TypeVar("S", bound=Statement)

RENDERERS: dict[type[Statement], Callable[[Any], str]] = {}
"""Statement class -> its rendering function, for the statements the kinds define."""


def renders(statement: type[S]) -> Callable[[Callable[[S], str]], Callable[[S], str]]:
    """Register ``function`` as the PostgreSQL rendering of ``statement``."""

    def register(function: Callable[[S], str]) -> Callable[[S], str]:
        RENDERERS[statement] = function
        return function

    return register


def terminated(statement: str) -> str:
    """A declared statement-sized fragment (a view body, a backfill) ended by ``;``, on a line of its
    own when the fragment ends in a ``--`` comment that would swallow it."""
    body = statement.strip().rstrip(";")
    return f"{body}\n;" if fragments.ends_in_line_comment(body) else f"{body};"
