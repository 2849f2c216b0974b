"""A throwaway PostgreSQL server for the production-profile tests.

PostgreSQL comes from Debian's packages (``apt-get install postgresql`` when its binaries are not
under /usr/lib/postgresql/*/bin yet; skipped with the reason where that is impossible). Each test
module gets its own cluster: ``initdb`` in a fresh temp folder, password (SCRAM) auth over TCP,
listening on 127.0.0.1 on a free port only, run as the ``postgres`` OS user when we are root
(the server refuses to run as root), stopped and deleted by the fixture's finalizer.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
ADMIN = "assoc_admin"
_install_failure: list[str] = []  # apt-get is tried once per session


def _find_bindir() -> Path | None:
    def version(initdb: Path) -> float:
        name = initdb.parent.parent.name
        try:
            return float(name)
        except ValueError:
            return 0.0

    found = sorted(PG_ROOT.glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def postgres_bindir() -> Path:
    """PostgreSQL's server binaries, installed from Debian's packages first when missing."""
    bindir = _find_bindir()
    if bindir is not None:
        return bindir
    if _install_failure:
        pytest.skip(_install_failure[0])
    reason = None
    if shutil.which("apt-get") is None:
        reason = "PostgreSQL is not installed (/usr/lib/postgresql/*/bin) and there is no apt-get"
    elif os.geteuid() != 0:
        reason = "PostgreSQL is not installed and apt-get needs root: apt-get install -y postgresql"
    else:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = "apt-get update -q && apt-get install -y -q --no-install-recommends postgresql"
        try:
            out = subprocess.run(
                ["sh", "-c", cmd], env=env, capture_output=True, text=True, timeout=900, check=False
            )
            if out.returncode != 0:
                reason = f"`{cmd}` failed ({out.returncode}): {(out.stderr or out.stdout)[-600:]}"
        except subprocess.TimeoutExpired:
            reason = f"`{cmd}` took more than 15 minutes"
        if reason is None and (bindir := _find_bindir()) is not None:
            return bindir
        reason = reason or f"`{cmd}` ran but no initdb under {PG_ROOT}/*/bin"
    _install_failure.append(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class PostgresServer:
    """A running throwaway server; ``user``/``password`` own the databases the tests create."""

    bindir: Path
    base: Path
    port: int
    admin_password: str
    host: str = "127.0.0.1"
    user: str = "assoc"
    password: str = ""
    run_as: str | None = None

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "postgres.log"

    def command(self, *args: str) -> list[str]:
        """A server binary, as the ``postgres`` OS user when we are root."""
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as is None:
            return cmd
        if shutil.which("runuser"):
            return ["runuser", "-u", self.run_as, "--", *cmd]
        return ["su", "-s", "/bin/sh", self.run_as, "-c", " ".join(map(_shell_quote, cmd))]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        out = subprocess.run(self.command(*args), capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            log = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed: {out.stdout}{out.stderr}\n{log}")
        return out

    def connect(self, db_name: str, admin: bool = False):
        import psycopg2

        user, password = (ADMIN, self.admin_password) if admin else (self.user, self.password)
        return psycopg2.connect(
            host=self.host, port=self.port, user=user, password=password, dbname=db_name, connect_timeout=10
        )

    def query(self, db_name: str, sql: str, params: tuple = ()) -> list[tuple]:
        conn = self.connect(db_name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def create_database(self, name: str) -> None:
        from psycopg2 import sql

        conn = self.connect("postgres", admin=True)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(self.user)
                    )
                )
        finally:
            conn.close()


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _start(server: PostgresServer) -> None:
    pwfile = server.base / "admin.pw"
    pwfile.write_text(server.admin_password + "\n")
    if server.run_as is not None:
        entry = pwd.getpwnam(server.run_as)
        for path in (server.base, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server.run(
        "initdb", "-D", str(server.datadir), "-U", ADMIN, f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C",
        "--no-sync",
    )  # fmt: skip
    pwfile.unlink()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={server.port} -c unix_socket_directories={server.base} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    server.run(
        "pg_ctl",
        "-D",
        str(server.datadir),
        "-l",
        str(server.logfile),
        "-o",
        options,
        "-w",
        "-t",
        "60",
        "start",
    )


def _stop(server: PostgresServer) -> None:
    if (server.datadir / "postmaster.pid").exists():
        try:
            server.run("pg_ctl", "-D", str(server.datadir), "-m", "fast", "-w", "-t", "30", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            subprocess.run(
                server.command("pg_ctl", "-D", str(server.datadir), "-m", "immediate", "stop"),
                capture_output=True,
                timeout=30,
                check=False,
            )
    shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh cluster on 127.0.0.1:<free port>, with login role ``assoc`` (password auth)."""
    pytest.importorskip(
        "psycopg2", reason='psycopg2 missing: pip install -c constraints.txt -e ".[postgres]"'
    )
    bindir = postgres_bindir()
    run_as = None
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            run_as = pwd.getpwnam("postgres").pw_name
        except KeyError:
            run_as = "nobody"
    # not under pytest's tmp dir: that one is private to root, the server user could not enter it
    base = Path(tempfile.mkdtemp(prefix="assoc-pg-"))
    server = PostgresServer(
        bindir=bindir,
        base=base,
        port=_free_port(),
        admin_password=secrets.token_urlsafe(16),
        # characters a URL or a YAML file would have to quote
        password=f"pw:@# {secrets.token_urlsafe(12)}",
        run_as=run_as,
    )
    try:
        _start(server)
        from psycopg2 import sql

        conn = server.connect("postgres", admin=True)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(server.user)),
                (server.password,),
            )
        conn.close()
        yield server
    finally:
        _stop(server)
