"""The pytest plugin's configuration, proved in throwaway pytest runs (pytester): the ini options
over pyproject's [tool.orders-schema], a refused fixture override, and no built-in default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "library"
USES_CASES = "def test_case(orders_schema_case):\n    assert orders_schema_case.id\n"


def copy_example(pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    pytester.makepyfile(test_cases=USES_CASES)


def collect(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", "-q", *args)


def test_the_pyproject_section_names_the_project(pytester: pytest.Pytester) -> None:
    copy_example(pytester)
    result = collect(pytester)
    result.stdout.fnmatch_lines(["test_cases.py::test_case[check:books.books_copies_check]", "* collected *"])
    assert result.ret == 0


def test_the_ini_option_wins_over_the_pyproject_section(pytester: pytest.Pytester) -> None:
    copy_example(pytester)
    pytester.makepyfile(other="from library_catalog import V1\nfrom orders_schema.declare.project import Project\n"
                              "PROJECT = Project(schema=V1.state, versions=(V1,))\n")
    result = collect(pytester, "-o", "orders_schema_project=other:PROJECT")
    assert result.ret == 0
    ids = [line for line in result.stdout.lines if line.startswith("test_cases.py::")]
    assert "test_cases.py::test_case[check:books.books_copies_check]" in ids
    # V1 has no loans table (its schema folder still has V2's file): the ini's project was used
    assert not [i for i in ids if "[row:loans]" in i or ":loans." in i]
    result = collect(pytester, "-o", "orders_schema_project=library_catalog:NOPE")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*orders-schema: project 'library_catalog:NOPE': module 'library_catalog' has no "
                                 "attribute 'NOPE'"])


def test_overriding_the_project_fixture_is_refused_with_what_to_do_instead(pytester: pytest.Pytester) -> None:
    copy_example(pytester)
    pytester.makeconftest("import pytest\n\n@pytest.fixture(scope='session')\ndef orders_schema_project():\n"
                          "    raise AssertionError('never called')\n")
    result = collect(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*the orders_schema_project fixture is overridden*set the ini option "
                                 "orders_schema_project*"])


def test_without_configuration_the_harness_says_how_to_configure_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_unrelated():\n    assert 1 + 1 == 2\n\n"
                                   "def test_needs_project(orders_schema_project):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)  # a test that does not use the harness is unaffected
    result.stdout.fnmatch_lines(["orders-schema: PostgreSQL *; project none configured",
                                 "*orders-schema: no project configured: add [[]tool.orders-schema[]]*"
                                 "or set the ini option orders_schema_project"])
    pytester.makepyfile(test_plain=USES_CASES)
    result = collect(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*orders-schema: no project configured*"])
