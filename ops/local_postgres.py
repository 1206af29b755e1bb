"""A private PostgreSQL cluster that Tocsin starts and stops itself: for tests, chaos runs and the fleet test.

    pg = LocalPostgres(Path("/tmp/tocsin-pg"))
    url = pg.start()          # postgresql+psycopg://postgres@127.0.0.1:<port>/postgres
    ...
    pg.restart()              # same data, same port
    pg.stop()

The binaries are Debian's (`make install` adds the `postgresql` package when it can), found in this
order: `TOCSIN_POSTGRES_BIN` (a directory), the directory of `pg_ctl` on PATH, or the newest
/usr/lib/postgresql/<version>/bin. initdb refuses to run as root, so as root the cluster runs as the
`postgres` user and `directory` is handed to it; every directory above it must be open to that user
(a fresh `tempfile.mkdtemp()` under /tmp is; pytest's own temporary directories are not).

The cluster is for throwaway data: trust authentication on the address it listens on and fsync,
synchronous_commit and full_page_writes off. Never point it at data you want to keep.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from ops.embedded_redis import free_port

START_TIMEOUT_S = 60
#: Unix socket paths are limited to ~107 bytes; beyond this the socket goes to a short private directory.
MAX_SOCKET_DIR_LEN = 80
#: Server settings for throwaway data: durability off, enough connections for a test's engines and workers.
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
    "log_min_duration_statement": "-1",
}


class LocalPostgresError(RuntimeError):
    pass


def find_postgres_bin() -> Path:
    explicit = os.environ.get("TOCSIN_POSTGRES_BIN")
    if explicit:
        return Path(explicit)
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    raise LocalPostgresError("no PostgreSQL server binaries found: run `make install` as root (it installs "
                             "Debian's postgresql), or set TOCSIN_POSTGRES_BIN to the directory holding pg_ctl")


class LocalPostgres:
    """One private PostgreSQL cluster in `directory`, listening on `host`:`port` (a free port by default)."""

    def __init__(self, directory: Path, *, port: int | None = None, host: str = "127.0.0.1"):
        self.directory = Path(directory).resolve()
        self.host = host
        self.port = port or free_port()
        self.data_dir = self.directory / "data"
        self.socket_dir = self.directory / "sockets"
        self.log_file = self.directory / "postgres.log"
        self._user = "postgres" if os.geteuid() == 0 else None
        self._bin: Path | None = None

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of one database in this cluster (`postgres` unless told)."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while the cluster runs (for chaos tests), else None."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def start(self) -> str:
        """Create the cluster if needed, start it, wait until it accepts connections; returns `url()`."""
        self._bin = self._bin or find_postgres_bin()
        self._prepare_directories()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                      "--locale=C.UTF-8", "--no-sync", "--no-instructions")
            if self.host not in ("127.0.0.1", "localhost", "::1"):
                with open(self.data_dir / "pg_hba.conf", "a") as hba:
                    hba.write("host all all samenet trust\n")
        options = {"port": str(self.port), "listen_addresses": self.host,
                   "unix_socket_directories": str(self.socket_dir), **SERVER_SETTINGS}
        self._run("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
                  "-t", str(START_TIMEOUT_S), "-o", " ".join(f"-c {k}={v}" for k, v in options.items()))
        return self.url()

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster if it runs (`mode`: smart, fast or immediate, as pg_ctl's -m)."""
        if self._bin is None or not (self.data_dir / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(START_TIMEOUT_S),
                  check=False)

    def restart(self) -> str:
        self.stop()
        return self.start()

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _prepare_directories(self) -> None:
        if len(str(self.socket_dir)) > MAX_SOCKET_DIR_LEN:
            import tempfile
            self.socket_dir = Path(tempfile.mkdtemp(prefix="tocsin-pg-sock-"))
        for d in (self.directory, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
            if self._user:
                entry = pwd.getpwnam(self._user)
                os.chown(d, entry.pw_uid, entry.pw_gid)
                d.chmod(0o700)
        if self._user:
            probe = subprocess.run(["test", "-w", str(self.directory)], user=self._user, group=self._user,
                                   extra_groups=[], capture_output=True, check=False)
            if probe.returncode != 0:
                raise LocalPostgresError(f"the {self._user} user cannot write to {self.directory}: "
                                         "use a directory it can reach, e.g. one from tempfile.mkdtemp()")

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        as_user = {"user": self._user, "group": self._user, "extra_groups": []} if self._user else {}
        result = subprocess.run([str(self._bin / program), *args], capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, cwd=self.directory, timeout=START_TIMEOUT_S + 30,
                                check=False, **as_user)  # type: ignore[call-overload]
        if check and result.returncode != 0:
            log = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise LocalPostgresError(f"{program} {args[0]} failed ({result.returncode}): "
                                     f"{result.stderr.strip()[-2000:]}\n{log}")
        return result
