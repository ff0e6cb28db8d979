"""The quixstreams reference's environment: locked, of its own, built on first use.

quixstreams pins confluent-kafka<2.13, older than perflab's client, so it gets
references/quixstreams/ (pyproject.toml + uv.lock) and a .venv there, made by
the project's pinned uv (`.uv/bin/uv`, as `make env` installs it) the first
time the reference runs. Where that cannot be built (no uv, no network for a
cold cache, an installed perflab without the source tree), the reference is
"not available" with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from perflab.errors import ToolUnavailable

__all__ = ["REFERENCE", "python"]

REPO = Path(__file__).resolve().parents[3]
REFERENCE = REPO / "references" / "quixstreams"
BUILD_TIMEOUT_S = 600


def _uv() -> str:
    pinned = REPO / ".uv" / "bin" / "uv"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("uv")
    if found is None:
        raise ToolUnavailable("quixstreams reference: no uv to build its environment",
                              hint="run `make env` once (it installs the project's pinned uv)")
    return found


def python() -> Path:
    """The reference environment's interpreter, building the environment if needed."""
    if not (REFERENCE / "uv.lock").exists():
        raise ToolUnavailable(f"quixstreams reference: {REFERENCE}/uv.lock not found")
    venv = REFERENCE / ".venv"
    interpreter = venv / "bin" / "python"
    stamp = venv / ".synced"
    lock = REFERENCE / "uv.lock"
    if interpreter.exists() and stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return interpreter
    import sys

    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    try:
        done = subprocess.run([_uv(), "sync", "--frozen", "--python", sys.executable],
                              cwd=REFERENCE, env=env, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ToolUnavailable("quixstreams reference: building its environment timed out") \
            from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["uv sync failed"])[-1]
        raise ToolUnavailable(f"quixstreams reference: cannot build its environment: {last}")
    stamp.touch()
    return interpreter
