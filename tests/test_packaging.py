"""An installed s2l works on its own: the wheel, and README's install line, each into a fresh environment.

The fresh virtual environment gets s2l alone (``--no-deps``); its dependencies come from the project's own
environment through a ``.pth`` line (a plain path line: the project's editable-install hook in there is not
run, so the s2l that answers is the installed one). Every command runs outside the source tree.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("fast", "balanced", "quality")

pytestmark = pytest.mark.slow


def _source_copy(folder: Path) -> Path:
    """The files a build reads (what a fresh clone has), without caches or build leftovers."""
    src = folder / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in ("s2l_model", "s2l_cli"):
        shutil.copytree(ROOT / package, src / package, ignore=ignore)
    return src


def _fresh_env(folder: Path) -> Path:
    """A new virtual environment that sees the project's packages but not its s2l; its python."""
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _pip_install(python: Path, *args: str, cwd: Path) -> None:
    # the project's pip installs into the fresh environment; --ignore-installed: the project's own s2l is
    # visible there through the .pth line and must not count as installed
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps"]
    cmd += ["--ignore-installed", "--no-build-isolation", "--disable-pip-version-check", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr


def _check_installed(python: Path, cwd: Path) -> None:
    env_root = python.parent.parent
    probe = (
        "import s2l_model, s2l_model.engine.config as c; "
        "print(s2l_model.__file__); "
        f"print(*[c.load_preset(n).name for n in {PRESETS!r}])"
    )
    proc = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert proc.returncode == 0, proc.stderr
    where, names = proc.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(env_root.resolve()), where  # the installed copy answered
    assert names.split() == list(PRESETS)
    help_text = subprocess.run(
        [env_root / "bin" / "s2l", "profile", "build", "--preset", "fast", "--help"],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "--preset" in help_text.stdout and "Traceback" not in help_text.stderr


def test_an_installed_wheel_has_its_presets(tmp_path: Path) -> None:
    src = _source_copy(tmp_path)
    wheels = tmp_path / "wheels"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            wheels,
            src,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = wheels.glob("s2l-*.whl")
    python = _fresh_env(tmp_path / "env")
    _pip_install(python, str(wheel), cwd=tmp_path)
    _check_installed(python, tmp_path)


def test_readmes_install_line_gives_a_working_s2l(tmp_path: Path) -> None:
    line = re.search(r'pip install "torch==2\.13\.0" \.(?=`)', (ROOT / "README.md").read_text())
    assert line, 'README.md no longer offers `pip install "torch==2.13.0" .`'
    src = _source_copy(tmp_path)
    python = _fresh_env(tmp_path / "env")
    # README's line in the source tree; torch==2.13.0 is the project environment's own (checked here)
    import torch

    assert torch.__version__.split("+")[0] == "2.13.0"
    _pip_install(python, ".", cwd=src)
    _check_installed(python, tmp_path)
