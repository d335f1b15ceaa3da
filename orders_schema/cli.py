"""The ``orders-schema`` command line.

Exit codes: 0 success; 1 the thing checked does not hold (a readable report says why);
2 usage or input errors (one line, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import project as p

DEFAULT_PROJECT = "orders_schema.walltrack:PROJECT"


class UsageError(Exception):
    """Bad arguments or input: exit 2 with a one-line message."""


def _project(args: argparse.Namespace) -> p.Project:
    return p.load(args.project, Path(args.schema_dir))


def cmd_render(args: argparse.Namespace) -> int:
    written = p.render(_project(args))
    for name in written:
        print(f"wrote {Path(args.schema_dir) / name}")
    if not written:
        print(f"{args.schema_dir}/ is up to date")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    problems = p.check(_project(args))
    if not problems:
        print(f"ok: {args.schema_dir}/ matches the declarations and no released file was edited")
        return 0
    print(f"{len(problems)} problem(s) in {args.schema_dir}/:")
    for problem in problems:
        print(f"  - {problem}")
    return 1


def cmd_sql(args: argparse.Namespace) -> int:
    proj = _project(args)
    for path in sorted(proj.schema_dir.glob(f"V{args.version}__*.sql")):
        sys.stdout.write(path.read_text(encoding="utf-8"))
        return 0
    files = p.rendered_versions(proj)
    for name, text in files.items():
        if name.startswith(f"V{args.version}__"):
            sys.stdout.write(text)
            return 0
    known = ", ".join(n.split("__")[0] for n in files) or "none"
    raise UsageError(f"no version {args.version} (known: {known})")


def _version_number(text: str) -> int:
    value = text.upper().removeprefix("V")
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a version number (e.g. 9 or V9)")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orders-schema",
        description="PostgreSQL schema as code: render versioned SQL, check it, prove it on a real server.",
    )
    parser.add_argument(
        "--project", default=DEFAULT_PROJECT, help=f"declarations to load, module:ATTR (default {DEFAULT_PROJECT})"
    )
    parser.add_argument("--schema-dir", default="schema", help="folder of versioned SQL files (default schema)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("render", help="write schema/ from the declarations").set_defaults(func=cmd_render)
    sub.add_parser(
        "check", help="exit 0 iff schema/ matches the declarations and no released file was edited (CI gate)"
    ).set_defaults(func=cmd_check)
    sql = sub.add_parser("sql", help="print version N for DBA review")
    sql.add_argument("version", type=_version_number, metavar="N")
    sql.set_defaults(func=cmd_sql)
    _extend(sub)
    return parser


def _extend(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands that live in their own modules register here."""
    for register in _EXTENSIONS:
        register(sub)


_EXTENSIONS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage line
        return int(exc.code or 0) if exc.code in (0, None) else 2
    try:
        result: int = args.func(args)
        return result
    except (UsageError, ValueError, OSError) as exc:
        message = p._one_line(exc) if isinstance(exc, ValueError) else str(exc)
        print(f"orders-schema {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
