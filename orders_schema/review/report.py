"""A rehearsal's figures as text (a terminal), markdown (a PR comment) or GitHub workflow annotations."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from orders_schema.review.probe import MODES, blocks_readers, blocks_writers
from orders_schema.review.rehearse import Stall, StatementReview, VersionReview


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def _short(sql: str, width: int = 60) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def held_before(review: VersionReview, s: StatementReview) -> list[tuple[str, str, int]]:
    """In a transactional file: the strongest lock per relation taken by an earlier statement and
    still held while ``s`` ran (until COMMIT), with the statement that took it."""
    if not review.transactional:
        return []
    strongest: dict[str, tuple[str, int]] = {}
    for earlier in review.statements[: s.number - 1]:
        for rel, mode in earlier.took:
            if rel not in strongest or MODES.index(mode) > MODES.index(strongest[rel][0]):
                strongest[rel] = (mode, earlier.number)
    return [(rel, mode, since) for rel, (mode, since) in sorted(strongest.items())]


def _locks(review: VersionReview, s: StatementReview) -> str:
    text = ", ".join(f"{mode} on {rel}" for rel, mode in s.took) or "none new"
    held = held_before(review, s)
    if held:
        text += "; still held: " + ", ".join(f"{mode} on {rel} (since {since})" for rel, mode, since in held)
    return text


def _rows(s: StatementReview) -> str:
    parts = []
    if s.rows is not None:
        parts.append(f"{s.rows:,} rows")
    parts += [f"rewrote {r}" for r in s.rewrote]
    return "; ".join(parts) or "-"


def _static(s: StatementReview) -> str:
    return "; ".join(str(h) for h in s.hazards) or "none"


def _blocking(review: VersionReview, s: StatementReview) -> str:
    """Who the locks in force while it ran make wait: writers, readers, or nobody."""
    modes = [mode for _, mode in s.took] + [mode for _, mode, _ in held_before(review, s)]
    if any(blocks_readers(m) for m in modes):
        return "readers and writers"
    if any(blocks_writers(m) for m in modes):
        return "writers"
    return ""


def _worst_line(stall: Stall | None, review: VersionReview) -> str:
    if stall is None:
        return "not measured (no probe ran)"
    text = f"{_ms(stall.seconds)} ({stall.query})"
    if stall.waited_for:
        text += f", waiting for {stall.waited_for}"
        if stall.taken_by is not None:
            text += f" taken by statement {stall.taken_by} ({_short(review.statements[stall.taken_by - 1].sql, 50)})"
    else:
        text += ", not seen waiting on a lock by the monitor"
    if stall.during is not None:
        text += f"; mostly during statement {stall.during} ({_short(review.statements[stall.during - 1].sql, 50)})"
    return text


def _header(review: VersionReview) -> list[str]:
    how = "one transaction" if review.transactional else "no transaction (statement by statement)"
    probes = "; ".join(f"{name}: {', '.join(qs) or 'none'}" for name, qs in review.probes.items())
    lines = [
        f"rehearsed on {review.server} at {review.rows:,} rows ({review.sized_by}; loaded and analyzed in "
        f"{review.load_seconds:.1f} s); applied in {how} in {_ms(review.apply_seconds)}, of which "
        f"{_ms(review.observe_seconds)} the applier's own pg_locks reads between statements",
        f"probes (the project's declared statements, each rolled back): {probes}",
        f"pg_locks sampled every {review.interval * 1000:.0f} ms ({review.samples} samples); stalls are the "
        "probes' own timings of every execution",
    ]
    if review.on_live_rows:
        lines.append("probed on a live row (their example parameters match no row of the data): "
                     + ", ".join(review.on_live_rows))
    if review.rowless:
        lines.append("probed but matching no row (they take their tables' locks, never a row lock): "
                     + ", ".join(review.rowless))
    if review.not_probed:
        lines.append("not probed (they fail before the version): " + "; ".join(
            f"{name} ({why})" for name, why in review.not_probed.items()))
    base = "; ".join(f"{name} median {_ms(b[0])}, max {_ms(b[1])} over {b[2]} runs"
                     for name, b in review.baseline.items())
    if base:
        lines.append(f"baseline before the version: {base}")
    return lines


def _summary(review: VersionReview) -> list[str]:
    lines = [f"worst {name} stall: {_worst_line(review.worst.get(name), review)}" for name in review.probes]
    if review.commit_seconds is not None:
        stalls = ", ".join(f"{n} {_ms(v)}" for n, v in review.commit_stall.items())
        lines.append(f"COMMIT: {_ms(review.commit_seconds)} (stall during it: {stalls})")
    errors = {n: c for n, c in review.probe_errors.items() if c}
    if errors:
        lines.append("probe statements that failed after the version started: " + ", ".join(
            f"{n} {c}" for n, c in errors.items()))
    if review.error:
        lines.append(f"FAILED: {review.error}")
    return lines


def text(reviews: list[VersionReview], max_stall_ms: float | None = None) -> str:
    out: list[str] = []
    for review in reviews:
        out.append(f"== review {review.file.path.name}")
        out += _header(review)
        out.append("")
        for s in review.statements:
            out.append(f"{s.number:>3}  line {s.line}: {_short(s.sql, 90)}")
            out.append(f"     {_ms(s.seconds)}; locks: {_locks(review, s)}"
                       + (f" (blocks {_blocking(review, s)})" if _blocking(review, s) else ""))
            out.append(f"     rows: {_rows(s)}; stall: writer {_ms(s.stall.get('writer'))}, "
                       f"reader {_ms(s.stall.get('reader'))}")
            out.append(f"     static: {_static(s)}")
            if s.error:
                out.append(f"     FAILED: {s.error}")
        out.append("")
        out += _summary(review)
        out.append("sizes (before -> after):")
        for size in review.sizes:
            out.append(f"  {size.kind:<5} {size.relation}: {_size(size.before)} -> {_size(size.after)}")
        out.append(_verdict(review, max_stall_ms))
        out.append("")
    return "\n".join(out)


def _verdict(review: VersionReview, max_stall_ms: float | None) -> str:
    if max_stall_ms is None:
        return ""
    worst = review.worst_stall()
    if review.exceeds(max_stall_ms):
        assert worst is not None
        return f"over --max-stall {max_stall_ms:g} ms: the {worst.probe} stalled {_ms(worst.seconds)}"
    return f"within --max-stall {max_stall_ms:g} ms"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(reviews: list[VersionReview], max_stall_ms: float | None = None) -> str:
    out: list[str] = []
    for review in reviews:
        out.append(f"### `orders-schema review {review.file.number}`: {review.file.path.name}")
        out.append("")
        out += [f"- {_cell(line)}" for line in _header(review)]
        out.append("")
        out.append("| # | line | statement | time | locks taken (pg_locks) | rows | writer stall | reader stall "
                   "| static hazards |")
        out.append("|--:|--:|---|--:|---|---|--:|--:|---|")
        for s in review.statements:
            out.append("| " + " | ".join(_cell(c) for c in (
                str(s.number), str(s.line), f"`{_short(s.sql, 60)}`", _ms(s.seconds), _locks(review, s), _rows(s),
                _ms(s.stall.get("writer")), _ms(s.stall.get("reader")), _static(s))) + " |")
        out.append("")
        out += [f"- **{_cell(line)}**" if line.startswith("worst") else f"- {_cell(line)}"
                for line in _summary(review)]
        verdict = _verdict(review, max_stall_ms)
        if verdict:
            out.append(f"- **{verdict}**")
        out.append("")
        out.append("| relation | kind | before | after |")
        out.append("|---|---|--:|--:|")
        for size in review.sizes:
            out.append(f"| {size.relation} | {size.kind} | {_size(size.before)} | {_size(size.after)} |")
        out.append("")
    return "\n".join(out)


def _escape(value: str, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def _path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def github(reviews: list[VersionReview], max_stall_ms: float | None = None) -> str:
    """One workflow annotation per statement that takes a lock making others wait or under which
    a probe stalled past ``--max-stall`` (an error then), and one notice per version."""
    out: list[str] = []
    for review in reviews:
        where = _path(review.file.path)
        for s in review.statements:
            stalls = [v for v in s.stall.values() if v is not None]
            over = max_stall_ms is not None and any(v * 1000 > max_stall_ms for v in stalls)
            if not (over or _blocking(review, s) or s.error):
                continue
            level = "error" if over or s.error else "warning"
            what = (f"stall over {max_stall_ms:g} ms" if over
                    else "failed" if s.error else f"blocks {_blocking(review, s)}")
            title = f"V{review.file.number} statement {s.number}: {what}"
            message = (f"{_ms(s.seconds)} at {review.rows:,} rows; locks: {_locks(review, s)}; stall: writer "
                       f"{_ms(s.stall.get('writer'))}, reader {_ms(s.stall.get('reader'))}; static: {_static(s)}"
                       + (f"; {s.error}" if s.error else ""))
            out.append(f"::{level} file={_escape(where, True)},line={s.line},title={_escape(title, True)}::"
                       f"{_escape(message)}")
        summary = "; ".join(_summary(review))
        verdict = _verdict(review, max_stall_ms)
        level = "error" if (max_stall_ms is not None and review.exceeds(max_stall_ms)) or review.error else "notice"
        first = review.statements[0].line if review.statements else 1
        out.append(f"::{level} file={_escape(where, True)},line={first},"
                   f"title={_escape(f'review V{review.file.number}', True)}::"
                   f"{_escape(summary + ('; ' + verdict if verdict else ''))}")
    return "\n".join(out) + "\n"


FORMATS: dict[str, Callable[[list[VersionReview], float | None], str]] = {
    "text": text, "markdown": markdown, "github": github,
}
