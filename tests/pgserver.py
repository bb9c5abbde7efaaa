"""A throwaway PostgreSQL cluster for the tests (and the bench): a temp folder, a free port, gone after.

Uses Debian's `postgresql` binaries (initdb, pg_ctl; `.ci/run` installs the package). initdb refuses
to run as root, so as root the cluster belongs to the `postgres` user (or `nobody`). Superuser
`admin`, and `app`, a login with only the grants docs/shared-register.md gives the application, both
with passwords over TCP (scram-sha-256), so a refused login is a real one.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"
APP, APP_PASSWORD = "app", "app-secret"
DATABASE = "trust"


def find_bin(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, else in Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Start with `Cluster.start()`; `why_not` says why none could be started (then it is None)."""

    why_not = ""

    def __init__(self, folder: Path, port: int, bindir: str, owner: pwd.struct_passwd | None, durable: bool):
        self.folder, self.port, self.bindir, self.owner, self.durable = folder, port, bindir, owner, durable

    @classmethod
    def start(cls, durable: bool = False) -> "Cluster | None":
        """A running cluster; `durable` keeps fsync on (the bench), the tests trade it for speed."""
        initdb = find_bin("initdb")
        if initdb is None:
            cls.why_not = "no PostgreSQL server programs (initdb) on this machine: install Debian's postgresql package"
            return None
        owner = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    owner = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            if owner is None:
                cls.why_not = "running as root and there is no postgres or nobody user to run PostgreSQL as"
                return None
        folder = Path(tempfile.mkdtemp(prefix="accountctl-pg-"))
        if owner is not None:
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        cluster = cls(folder, free_port(), os.path.dirname(initdb), owner, durable)
        try:
            cluster._init_and_start()
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            cls.why_not = f"could not start a PostgreSQL cluster: {exc} {detail.decode(errors='replace')[-300:]}"
            cluster.stop()
            return None
        return cluster

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        def demote():
            if self.owner is not None:
                os.setgid(self.owner.pw_gid)
                os.setuid(self.owner.pw_uid)

        return subprocess.run(
            argv,
            preexec_fn=demote,
            cwd=self.folder,
            capture_output=True,
            check=True,
            timeout=timeout,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"},
        )

    def _init_and_start(self) -> None:
        data = self.folder / "data"
        pwfile = self.folder / "pw"
        pwfile.write_text(ADMIN_PASSWORD)
        if self.owner is not None:
            os.chown(pwfile, self.owner.pw_uid, self.owner.pw_gid)
        self._run(
            f"{self.bindir}/initdb",
            "-D",
            str(data),
            "-U",
            ADMIN,
            f"--pwfile={pwfile}",
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            *([] if self.durable else ["--no-sync"]),
        )
        settings = (
            f"listen_addresses='127.0.0.1'\nport={self.port}\nunix_socket_directories='{self.folder}'\n"
            "max_connections=60\nshared_buffers=32MB\n"
        )
        if not self.durable:
            settings += "fsync=off\nsynchronous_commit=off\nfull_page_writes=off\n"
        with open(data / "postgresql.conf", "a") as handle:
            handle.write(settings)
        self._run(f"{self.bindir}/pg_ctl", "-D", str(data), "-l", str(self.folder / "log"), "-w", "-t", "60", "start")
        self.admin_sql(f"CREATE DATABASE {DATABASE}", db="postgres")
        self.admin_sql(f"CREATE ROLE {APP} LOGIN PASSWORD '{APP_PASSWORD}'")

    def url(self, user: str = APP, password: str | None = None, db: str = DATABASE) -> str:
        password = password if password is not None else (APP_PASSWORD if user == APP else ADMIN_PASSWORD)
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{db}"

    def admin_sql(self, sql: str, db: str = DATABASE, fetch: bool = False, schema: str | None = None):
        """Run SQL as the superuser (in `schema` when given); with `fetch`, return the rows."""
        import psycopg

        with psycopg.connect(self.url(ADMIN, db=db), autocommit=True) as conn:
            if schema:
                conn.execute(f"SET search_path = {schema}")
            cur = conn.execute(sql)
            return cur.fetchall() if fetch else None

    def tool(self, name: str, *args: str, stdin: bytes | None = None) -> bytes:
        """Run pg_dump, pg_restore or psql against the test database as the superuser."""
        env = dict(os.environ, PGPASSWORD=ADMIN_PASSWORD)
        argv = [find_bin(name) or name, "-h", "127.0.0.1", "-p", str(self.port), "-U", ADMIN, *args]
        return subprocess.run(argv, input=stdin, env=env, capture_output=True, check=True, timeout=120).stdout

    def stop(self) -> None:
        data = self.folder / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run(f"{self.bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", timeout=60)
            except (OSError, subprocess.SubprocessError):
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False
