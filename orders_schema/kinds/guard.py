"""Re-runnable DDL for statements PostgreSQL has no ``IF [NOT] EXISTS`` for (``CREATE TYPE``,
``CREATE DOMAIN``, ``ALTER TYPE ... RENAME VALUE``, ``ADD ATTRIBUTE``): a ``DO`` block that runs the
statement only while a catalogue condition holds. Shared by the type kinds (enum, domain, composite).

The condition and the statement are built by the kinds from quoted names and literals
(:mod:`orders_schema.declare.quoting`); the block is dollar-quoted with a tag neither can end.
"""

from __future__ import annotations

from orders_schema.declare.quoting import dollar_quote, literal, qualified


def guarded(condition: str, statement: str) -> str:
    """``DO $$BEGIN IF <condition> THEN <statement> END IF; END$$;``"""
    body = f"\nBEGIN\n    IF {condition} THEN\n        {statement}\n    END IF;\nEND\n"
    return f"DO {dollar_quote(body, 'do')};"


def type_missing(schema: str, name: str) -> str:
    """True while the type ``schema.name`` does not exist (``to_regtype`` of its quoted name)."""
    return f"to_regtype({literal(qualified(schema, name))}) IS NULL"
