"""A Mermaid ER diagram of a declared schema: tables, their columns and keys, and relations."""

from __future__ import annotations

import re

from orders_schema.declare import model as m
from orders_schema.migrate.render import type_sql


def _safe(name: str) -> str:
    """Mermaid entity and attribute names allow letters, digits, _ and -; anything else becomes _."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def mermaid(schema: m.Schema) -> str:
    lines = ["erDiagram"]
    for table in schema.tables:
        pk = set(table.primary_key.columns) if table.primary_key else set()
        fks = {c for f in table.foreign_keys for c in f.columns}
        uk = {c for u in table.uniques for c in u.columns}
        lines.append(f"    {_safe(table.name)} {{")
        for col in table.columns:
            keys = [k for k, cols in (("PK", pk), ("FK", fks), ("UK", uk)) if col.name in cols]
            kind = _safe(type_sql(col.type).replace(", ", "_").replace("(", "_").replace(")", ""))
            note = "" if col.nullable else ' "not null"'
            lines.append(f"        {kind} {_safe(col.name)}{' ' + ','.join(keys) if keys else ''}{note}")
        lines.append("    }")
    for table in schema.tables:
        for fk in table.foreign_keys:
            target = fk.ref_table.rpartition(".")[2]
            optional = any(table.column(c).nullable for c in fk.columns)
            left = "|o" if optional else "||"
            lines.append(f'    {_safe(target)} {left}--o{{ {_safe(table.name)} : "{_safe(fk.name)}"')
    return "\n".join(lines) + "\n"
