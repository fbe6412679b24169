"""Find a Python >= 3.12 and keep a cached virtualenv with the peer engine installed in it.

`matching-engine` 0.1.1 needs Python >= 3.12 while this project runs on 3.11, so the peer
gets its own virtualenv at `.bench/peer-venv` (created once, then reused while it still
imports the pinned version). Interpreters are tried in this order:
pyenv's `3.12*` versions, `python3.12` on PATH, then any newer pyenv version or `python3.1N`
on PATH. Every failure is reported as a reason string rather than raised, so the benchmark
can skip the peer and still run ours.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

PEER_PACKAGE = "matching-engine"
PEER_VERSION = "0.1.1"
MIN_VERSION = (3, 12)


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _candidates() -> list[str]:
    found: list[str] = []
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += sorted(glob.glob(os.path.join(root, "versions", "3.12*", "bin", "python")))
    on_path = shutil.which("python3.12")
    if on_path:
        found.append(on_path)
    newer = glob.glob(os.path.join(root, "versions", "3.1[3-9]*", "bin", "python"))
    found += sorted(newer)
    for minor in range(13, 20):
        on_path = shutil.which(f"python3.{minor}")
        if on_path:
            found.append(on_path)
    return list(dict.fromkeys(found))


def find_python() -> tuple[str | None, str]:
    """An interpreter >= 3.12 and how it was found, or (None, why not)."""
    for python in _candidates():
        if not os.access(python, os.X_OK):
            continue
        version = _version_of(python)
        if version is not None and version >= MIN_VERSION:
            return python, f"{python} (Python {version[0]}.{version[1]})"
    return None, "no Python >= 3.12 found (tried $PYENV_ROOT/versions, python3.1x on PATH)"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _has_peer(venv: Path) -> bool:
    python = _venv_python(venv)
    if not python.exists():
        return False
    try:
        out = subprocess.run(
            [str(python), "-c", "import matching_engine; print(matching_engine.__version__)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == PEER_VERSION


def ensure_peer_venv(venv: Path) -> tuple[Path | None, str]:
    """Path of the peer venv's python (creating the venv if needed), or (None, why not)."""
    if _has_peer(venv):
        return _venv_python(venv), f"cached {venv}"
    python, how = find_python()
    if python is None:
        return None, how
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [python, "-m", "venv", str(venv)],
        [
            str(_venv_python(venv)),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{PEER_PACKAGE}=={PEER_VERSION}",
        ],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"{' '.join(step[:3])} failed: {exc}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            return None, f"{' '.join(step[:3])} failed: " + " | ".join(tail)
    if not _has_peer(venv):
        return None, f"{PEER_PACKAGE}=={PEER_VERSION} does not import in {venv}"
    return _venv_python(venv), f"created {venv} with {how}"
