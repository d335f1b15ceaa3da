"""PostgreSQL's own renderings (``pg_get_constraintdef``, ``pg_get_indexdef``, ``pg_get_triggerdef``)
taken apart, for turning a stored form back into a declaration (the kinds' ``declare``).

These texts are the server's, not a user's: identifiers are double-quoted exactly when they need
it, keywords are upper case, lists are ``, ``-separated. So a small scanner that respects quotes
and parentheses reads them; anything it does not recognise is left to the caller, which then
reports the object as not declarable rather than guess.
"""

from __future__ import annotations

import re

__all__ = ["ident_list", "split_top", "unquote"]


def split_top(text: str, sep: str = ",") -> list[str]:
    """``text`` split on ``sep`` outside parentheses, brackets, quotes and dollar quotes; parts stripped."""
    parts: list[str] = []
    depth, start, i = 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            end = i + 1
            while end < len(text):
                if text[end] == ch:
                    if end + 1 < len(text) and text[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            i = end + 1
            continue
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i].strip())
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


_IDENT = re.compile(r'^(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)$')


def unquote(text: str) -> str | None:
    """An identifier as the server renders it (``orders``, ``"Order Lines"``) -> its name; None when
    ``text`` is not one identifier."""
    text = text.strip()
    if not _IDENT.match(text):
        return None
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text


def ident_list(text: str) -> tuple[str, ...] | None:
    """``a, "B c"`` -> ``("a", "B c")``; None when a part is not a plain identifier."""
    names = [unquote(part) for part in split_top(text)]
    if any(n is None for n in names):
        return None
    return tuple(n for n in names if n is not None)


def qualified_name(text: str) -> tuple[str | None, str] | None:
    """``s.t`` / ``"S"."T"`` / ``t`` -> ``(schema, name)``; None when it is not a (qualified) name."""
    parts = split_top(text, ".")
    names = [unquote(p) for p in parts]
    if len(names) == 1 and names[0] is not None:
        return None, names[0]
    if len(names) == 2 and names[0] is not None and names[1] is not None:
        return names[0], names[1]
    return None


def matching_paren(text: str, start: int) -> int:
    """The index of the parenthesis closing the one at ``start`` (quotes respected); -1 if none."""
    depth, i = 0, start
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            end = i + 1
            while end < len(text):
                if text[end] == ch:
                    if end + 1 < len(text) and text[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            i = end + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def strip_parens(text: str) -> str:
    """``(x)`` -> ``x`` when the outer parentheses enclose the whole text (once)."""
    text = text.strip()
    if text.startswith("(") and matching_paren(text, 0) == len(text) - 1:
        return text[1:-1].strip()
    return text


_LITERAL = r"'(?:[^']|'')*'::character varying"
_VARCHAR_IN = re.compile(
    r"\(?(?P<col>(?:(?:[a-z_][a-z0-9_]*|\"(?:[^\"]|\"\")+\")\.)?(?:[a-z_][a-z0-9_]*|\"(?:[^\"]|\"\")+\"))\)?::text "
    r"(?P<op>= ANY|<> ALL) \(\(?ARRAY\[(?P<items>" + _LITERAL + r"(?:, " + _LITERAL + r")*)\]\)?::text\[\]\)"
)


def varchar_in_lists(text: str) -> str:
    """PostgreSQL stores ``status IN ('a', 'b')`` on a varchar column as ``(status)::text = ANY
    ((ARRAY['a'::character varying, 'b'::character varying])::text[])``, and that text, read again,
    is stored differently (each element cast on its own). Written back as the IN list it came from,
    it is stored exactly as before; ``<> ALL`` is ``NOT IN``."""

    def back(match: re.Match[str]) -> str:
        items = ", ".join(item.removesuffix("::character varying")
                          for item in re.findall(_LITERAL, match["items"]))
        return f"{match['col']} {'IN' if match['op'] == '= ANY' else 'NOT IN'} ({items})"

    return _VARCHAR_IN.sub(back, text)
