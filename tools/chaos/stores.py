"""Throwaway PostgreSQL, MariaDB and Redis instances for `make chaos`: the platform runs on these
so that a fault may stop a store without touching the machine's shared ones (DEVELOPERS.md).
Each lives in its own temporary directory on its own loopback port, with the logins and
databases infra/local/provision.sh gives the shared stores, and keeps its data across a
restart (PostgreSQL's WAL, InnoDB's redo log, Redis's append-only file with fsync always)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port} after {timeout} s")


def as_postgres(*command: str) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else list(command)


class Store:
    name = ""

    def __init__(self, root: Path):
        self.dir = root / self.name
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def kill(self) -> None:
        """Dies at once, as in a crash: `kill -9`."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def start(self) -> None:
        raise NotImplementedError


class Postgres(Store):
    name = "postgresql"

    def __init__(self, root: Path):
        super().__init__(root)
        shutil.chown(self.dir, "postgres") if os.getuid() == 0 else None
        subprocess.run(as_postgres(str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                                   "--auth=trust", "--no-sync"), check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run(as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"),
                                   "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200",
                                   "-w", "-t", "60", "start"), check=True, capture_output=True)

    def kill(self) -> None:
        """Stops at once without a checkpoint (`-m immediate`: SIGQUIT to every process), as in
        a crash: the next start replays the WAL."""
        subprocess.run(as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w",
                                   "stop"), capture_output=True)

    def provision(self, logins: list[str]) -> None:
        for login in logins:
            for sql in [f"CREATE ROLE {login} LOGIN PASSWORD '{login}' CREATEDB", f"CREATE DATABASE {login} OWNER {login}"]:
                subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-Xqc", sql],
                               check=True, capture_output=True)

    def url(self, login: str) -> str:
        return f"postgres://{login}:{login}@127.0.0.1:{self.port}/{login}"


class Mariadb(Store):
    name = "mariadb"

    def __init__(self, root: Path):
        super().__init__(root)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.dir / 'data'}", "--user=root",
                        "--auth-root-authentication-method=socket", "--skip-test-db"], check=True, capture_output=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.dir / 'data'}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.dir / 'sock'}", "--user=root",
             f"--pid-file={self.dir / 'mariadb.pid'}", "--innodb-flush-log-at-trx-commit=1",
             "--max-connections=300", "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "server.log", "a"))
        wait_port(self.port, timeout=60)

    def provision(self) -> None:
        sql = ("CREATE DATABASE payment; CREATE USER 'payment'@'127.0.0.1' IDENTIFIED BY 'payment'; "
               "GRANT ALL PRIVILEGES ON payment.* TO 'payment'@'127.0.0.1';")
        subprocess.run(["mariadb", f"--socket={self.dir / 'sock'}", "-uroot", "-e", sql], check=True, capture_output=True)

    def url(self) -> str:
        return f"mysql://payment:payment@127.0.0.1:{self.port}/payment"


class Redis(Store):
    name = "redis"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             # fsync every second, as compose and infra/local run it: `always` stalled writes past
             # cart's 1 s Redis timeout whenever the disk was busy (a replica starting), and a
             # journey call failed with 503 for it; the money promises do not rest on Redis.
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"],
            stdout=open(self.dir / "server.log", "a"), stderr=subprocess.STDOUT)
        wait_port(self.port)
        for _ in range(100):  # loading the append-only file answers LOADING meanwhile
            out = subprocess.run(["redis-cli", "-p", str(self.port), "PING"], capture_output=True, text=True)
            if out.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("the throwaway Redis does not answer")

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"


class Stores:
    """All three, started and provisioned; `close()` kills them and deletes their data."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="shop-chaos-"))
        os.chmod(self.root, 0o755)  # the postgres user must reach its directory
        self.postgres, self.mariadb, self.redis = Postgres(self.root), Mariadb(self.root), Redis(self.root)
        for store in self.all():
            store.start()
        self.postgres.provision(["auth", "product"])
        self.mariadb.provision()

    def all(self) -> list[Store]:
        return [self.postgres, self.mariadb, self.redis]

    def environment(self) -> dict[str, str]:
        """What the services, create-admin, the auditor and psql/mysql need to use these."""
        return {
            "AUTH_DATABASE_URL": self.postgres.url("auth"),
            "PRODUCT_DATABASE_URL": self.postgres.url("product"),
            "PAYMENT_DATABASE_URL": self.mariadb.url(),
            "CART_REDIS_URL": self.redis.url(),
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.postgres.port),
            "AUDIT_MYSQL_HOST": "127.0.0.1",
            "AUDIT_MYSQL_PORT": str(self.mariadb.port),
        }

    def close(self) -> None:
        for store in self.all():
            store.kill()
        shutil.rmtree(self.root, ignore_errors=True)
