"""Options and helpers shared by the measuring commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["add_scale_option", "cache_dir"]


def cache_dir() -> Path:
    """Where workloads are generated and kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("PERFLAB_CACHE", Path(base) / "perflab"))


def add_scale_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", choices=("quick", "full"), default="quick",
                        help="quick: minutes on 2 cores; full: the guide's sizes")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where workloads are generated (default: the user's cache dir)")
