"""Splitting a SQL script into its statements, from sqlglot's PostgreSQL tokens.

Dollar-quoted function bodies, comments and strings stay intact, so any version file can be split,
hand-written or generated. ``apply`` runs files statement by statement with it; ``lint``
classifies each statement from its tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot.tokenizer_core import Token, TokenType


@dataclass(frozen=True)
class Stmt:
    sql: str
    tokens: list[Token]

    @property
    def words(self) -> list[str]:
        return [t.text.upper() for t in self.tokens]


def split(text: str) -> list[str]:
    """The statements of a SQL script, without the comments between them."""
    return [s.sql for s in split_tokens(text)]


def split_tokens(text: str) -> list[Stmt]:
    tokens = sqlglot.tokenize(text, read="postgres")
    out: list[Stmt] = []
    current: list[Token] = []
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if current:
                out.append(Stmt(text[current[0].start : token.end + 1], current))
            current = []
        else:
            current.append(token)
    if current:
        out.append(Stmt(text[current[0].start : current[-1].end + 1] + ";", current))
    return out
