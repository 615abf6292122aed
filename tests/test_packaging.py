"""Packaging: every package folder is installed, the CLI entry works, `import depthkit` is light."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from depthkit.apps.cli import main


@pytest.fixture(scope="module")
def pyproject(repo_root) -> dict:
    with open(repo_root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _package_folders(repo_root: Path) -> set[str]:
    found = set()
    for top, installed_as in (("depthkit", "depthkit"), ("apps", "depthkit.apps")):
        for init in (repo_root / top).rglob("__init__.py"):
            rel = init.parent.relative_to(repo_root / top)
            if "__pycache__" in rel.parts:
                continue
            found.add(".".join((installed_as, *rel.parts)))
    return found


def test_every_package_folder_is_listed(pyproject, repo_root):
    st = pyproject["tool"]["setuptools"]
    listed = set(st["packages"])
    on_disk = _package_folders(repo_root)
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - on_disk == set(), "pyproject lists packages that have no __init__.py"
    assert st["package-dir"]["depthkit.apps"] == "apps"  # never a top-level `apps` package
    assert "apps" not in listed


def test_metadata_and_entry_points(pyproject, repo_root):
    proj = pyproject["project"]
    assert proj["name"] == "depthkit"
    assert proj["requires-python"] == ">=3.10"
    deps = " ".join(proj["dependencies"])
    for dep in ("numpy", "numba", "opencv-python", "open3d", "pyrealsense2"):
        assert dep in deps
    assert "opencv-python-headless" not in deps  # never both OpenCV builds
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["depthkit"]
    assert (repo_root / "depthkit" / "py.typed").is_file()
    for name, target in proj["scripts"].items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
    assert proj["scripts"]["depthkit"] == "depthkit.apps.cli:main"


def test_cli_version_and_help(capsys):
    import depthkit

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"depthkit {depthkit.__version__}"
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: depthkit") and "eval" in out and "--debug" in out
    assert main([]) == 2  # no subcommand: usage on stderr
    assert "usage: depthkit" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2  # argparse's usage error


def test_cli_debug_shows_traceback(tmp_path):
    from depthkit.errors import FileFormatError

    argv = ["eval", "--dataset", str(tmp_path / "none"), "--pred", str(tmp_path)]
    assert main(argv) == 1
    with pytest.raises(FileFormatError, match="dataset folder not found"):
        main(["--debug", *argv])


def test_import_depthkit_is_light(repo_root):
    code = (
        "import sys, depthkit, depthkit.io, depthkit.eval, depthkit.types, depthkit.errors\n"
        "heavy = {'open3d', 'pyrealsense2', 'numba'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_readme_python_example_runs(repo_root, tmp_path):
    """The README's Python block runs from a plain checkout and scores sensibly.

    It runs in a fresh interpreter, as a user would run it (and away from the modules other
    tests imported).
    """
    pytest.importorskip("depthkit.stereo.sgm", reason="the SGM stage is not built yet")
    text = (repo_root / "README.md").read_text()
    block = text.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "data").symlink_to(repo_root / "data")
    check = (
        "\nassert disp.shape == (288, 384) and disp.dtype.name == 'float32'"
        "\nassert scores['bad2'] < 0.3 and scores['epe'] < 1.5, scores"
    )
    r = subprocess.run([sys.executable, "-W", "error", "-c", block + check], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "bad-2px" in r.stdout
    assert (tmp_path / "out" / "tsukuba_disparity.png").is_file()
