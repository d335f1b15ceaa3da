"""Where the project comes from: ``[tool.orders-schema]`` in pyproject.toml, flags over it, and no
built-in default (outside a configured folder a command that needs a project stops, creating nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orders_schema import config
from orders_schema.cli import main
from orders_schema.walltrack import bench

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_this_repository_names_walltrack() -> None:
    settings = config.read_settings(ROOT / "tests")
    assert settings.project == "orders_schema.walltrack:PROJECT"
    assert settings.schema_dir == ROOT / "schema"


def test_the_nearest_configured_pyproject_wins_and_its_folder_is_relative_to_it(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.orders-schema]\nproject = "outer:PROJECT"\n')
    write(tmp_path / "app" / "pyproject.toml", '[project]\nname = "unconfigured"\n')  # no section: skipped
    write(tmp_path / "app" / "inner" / "pyproject.toml",
          '[tool.orders-schema]\nproject = "inner:PROJECT"\nschema-dir = "db/versions"\n')
    deep = tmp_path / "app" / "inner" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert config.read_settings(deep) == config.Settings(
        "inner:PROJECT", tmp_path / "app" / "inner" / "db" / "versions", tmp_path / "app" / "inner" / "pyproject.toml"
    )
    assert config.read_settings(tmp_path / "app").project == "outer:PROJECT"
    assert config.read_settings(tmp_path / "app").schema_dir == tmp_path / "schema"


def test_flags_win_over_the_section(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.orders-schema]\nproject = "a:P"\nschema-dir = "s"\n')
    assert config.resolve(None, None, tmp_path)[0] == "a:P"
    assert config.resolve("b:Q", "other", tmp_path) == ("b:Q", Path("other"))
    assert config.resolve("b:Q", None, tmp_path)[1].name == "s"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('project = "a:P"\nschema_dir = "x"\n', "unknown key(s) schema_dir; known: project, schema-dir"),
        ("project = 3\n", "project must be a string"),
        ('project = "a:P"\nschema-dir = ""\n', "schema-dir must be a folder name"),
    ],
    ids=["unknown key", "project not a string", "empty folder"],
)
def test_a_bad_section_is_one_line_naming_the_file(tmp_path: Path, section: str, message: str) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.orders-schema]\n" + section)
    with pytest.raises(config.ConfigError) as caught:
        config.read_settings(tmp_path)
    assert str(caught.value).startswith(f"{path}: [tool.orders-schema]") and message in str(caught.value)


def test_outside_any_project_a_command_exits_2_with_one_line_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for argv in (["render", "--init"], ["check"], ["generate", "x"], ["verify"], ["diagram"]):
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert out == ""
        assert err == f"orders-schema {argv[0]}: error: {config.NOT_CONFIGURED}\n"
    assert list(tmp_path.iterdir()) == []
    assert bench.main(["--only", "scale", "--out", str(tmp_path / "b.json")]) == 2
    assert capsys.readouterr().err == f"bench: error: {config.NOT_CONFIGURED}\n"
    assert list(tmp_path.iterdir()) == []


def test_project_flag_still_works_outside_any_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--project", "orders_schema.walltrack:PROJECT", "--schema-dir", str(ROOT / "schema"), "check"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_no_engine_module_imports_walltrack() -> None:
    """Import every module of the engine (everything but the product folder and its public
    re-export) in a fresh interpreter: no WallTrack module may be loaded."""
    script = """
import importlib, pathlib, sys
import orders_schema
skip = ("orders_schema.walltrack", "orders_schema.orders")
root = pathlib.Path(orders_schema.__file__).parent
names = [".".join(("orders_schema", *f.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
         for f in sorted(root.rglob("*.py"))]
names = [n for n in names if not n.startswith(skip)]
for name in names:
    importlib.import_module(name)
loaded = sorted(n for n in sys.modules if n.startswith(skip))
print(" ".join(names)); print(loaded)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd="/").stdout
    imported, loaded = out.splitlines()
    assert {"orders_schema.cli", "orders_schema.testing", "orders_schema.tester.plugin", "orders_schema.config",
            "orders_schema.live.compare", "orders_schema.tester.checks.explain", "orders_schema.benchmarks",
            "orders_schema.tester.data"} <= set(imported.split())
    assert loaded == "[]"
