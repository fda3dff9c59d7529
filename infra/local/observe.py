"""A local Prometheus (Debian's /usr/bin/prometheus) over the platform: one scrape job per service,
named as the charts' alert rules select it (`job="cart-service"`), on each replica's REST port
(`/metrics`), with every chart's rules (`<service>/chart/alerts/rules.yaml`) evaluated locally.
`make observe` and `make run OBSERVE=1` start it against `make run`'s platform; the e2e suite
against its own (tests/e2e/test_x_prometheus.py).

  python3 infra/local/observe.py start --dir DIR [--offset N] [--port 9090] [--interval 5s]
                                       [--replicas-file FILE]
  python3 infra/local/observe.py stop --dir DIR

DIR holds everything it writes: prometheus.yml, data/ (the TSDB, kept 1 day), prometheus.log and
prometheus.pid; nothing under /etc or /var/lib is read or written. `start` on a DIR whose
Prometheus runs rewrites its configuration and reloads it (SIGHUP). --replicas-file is
services.sh's count file (`cart-service=3` a line): replica i of a service is scraped on its
REST port + the replica step x (i - 1), as services.sh starts it."""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

import wiring

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
READY_SECONDS = 30
STOP_SECONDS = 30
# Prometheus's own duration syntax, in the units worth giving here.
INTERVAL = re.compile(r"^[1-9][0-9]*(ms|s|m)$")

# The Prometheus processes this Python process started: reaped by `stop`, so none is left a zombie.
_children: dict[int, subprocess.Popen] = {}


class ObserveError(RuntimeError):
    """Prometheus could not be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class Prometheus:
    pid: int
    port: int
    dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def rule_files(root: Path = ROOT) -> list[Path]:
    """Every chart's alert rules, absolute paths, in the platform's order."""
    return [root / service / "chart" / "alerts" / "rules.yaml" for service in wiring.services()]


def read_replicas(path: Path | None) -> dict[str, int]:
    """services.sh's count file (`<service>=<n>` a line); every service 1 without one."""
    counts = {name: 1 for name in wiring.services()}
    if path is not None and path.exists():
        for line in path.read_text().splitlines():
            name, _, n = line.partition("=")
            if name in counts and n.strip().isdigit():
                counts[name] = max(1, int(n))
    return counts


def config(offset: int = 0, interval: str = "5s", replicas: dict[str, int] | None = None) -> dict:
    """prometheus.yml: one job per service, named as the service, on its replicas' REST ports."""
    if not INTERVAL.match(interval):
        raise ObserveError(f"interval {interval!r}: give a duration such as 1s, 5s or 1m")
    step, _ = wiring.replicas()
    replicas = replicas or {}
    jobs = []
    for name, service in wiring.services(offset).items():
        targets = [f"127.0.0.1:{service.http + step * i}" for i in range(replicas.get(name, 1))]
        jobs.append({"job_name": name, "metrics_path": "/metrics", "scheme": "http",
                     "static_configs": [{"targets": targets}]})
    return {
        # A scrape may take the whole interval, no longer (Prometheus refuses a longer timeout).
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files()],
        "scrape_configs": jobs,
    }


def write_config(directory: Path, offset: int = 0, interval: str = "5s",
                 replicas: dict[str, int] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "prometheus.yml"
    header = ("# Written by infra/local/observe.py (make observe): every run rewrites it.\n"
              f"# The platform's services at port offset {offset}; the charts' alert rules.\n")
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(header + yaml.safe_dump(config(offset, interval, replicas), sort_keys=False))
    partial.replace(path)
    return path


def _pid_file(directory: Path) -> Path:
    return directory / "prometheus.pid"


def _log_file(directory: Path) -> Path:
    return directory / "prometheus.log"


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped yet does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def running(directory: Path) -> Prometheus | None:
    """The Prometheus started on `directory`, when its pid file names one that still runs it
    (a pid the kernel gave to another process since does not count)."""
    directory = Path(directory).resolve()
    try:
        pid = int(_pid_file(directory).read_text().strip())
    except (OSError, ValueError):
        return None
    argv = _argv(pid)
    if not _alive(pid) or f"--config.file={directory / 'prometheus.yml'}" not in argv:
        return None
    listen = next((a.split("=", 1)[1] for a in argv if a.startswith("--web.listen-address=")), ":0")
    return Prometheus(pid, int(listen.rsplit(":", 1)[1]), directory)


def _port_free(port: int) -> bool:
    """Whether 127.0.0.1:`port` can be bound as Prometheus binds it (SO_REUSEADDR, as Go does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _log_tail(directory: Path, lines: int = 15) -> str:
    try:
        return "\n".join(_log_file(directory).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(directory, port: int = 9090, offset: int = 0, interval: str = "5s",
          replicas: dict[str, int] | None = None, ready_seconds: float = READY_SECONDS) -> Prometheus:
    """Starts Prometheus in the background on 127.0.0.1:`port` with its state in `directory`
    and returns once it answers `/-/ready`. One already running on `directory` (and `port`)
    gets the new configuration (SIGHUP) instead. Raises ObserveError, saying why, otherwise."""
    directory = Path(directory).resolve()
    if not (os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)):
        raise ObserveError(f"no {PROMETHEUS}: `make setup` installs Debian's prometheus package")
    current = running(directory)
    if current is not None and current.port != port:
        raise ObserveError(f"the Prometheus of {directory} already runs on port {current.port} "
                           f"(pid {current.pid}): stop it first (observe.py stop --dir {directory})")
    if current is None and not _port_free(port):
        raise ObserveError(f"127.0.0.1:{port} is taken by another process (`ss -ltnp 'sport = :{port}'` "
                           "names it): stop it, or choose another port (--port, make observe OBSERVE_PORT=…)")
    config_file = write_config(directory, offset, interval, replicas)
    # promtool (same package) reads the rule files too: a broken one is named here, not in the log.
    check = subprocess.run([PROMTOOL, "check", "config", str(config_file)], capture_output=True, text=True)
    if check.returncode != 0:
        raise ObserveError(f"promtool refuses {config_file}:\n{check.stdout}{check.stderr}")
    if current is not None:
        os.kill(current.pid, signal.SIGHUP)
        return current

    data = directory / "data"
    argv = [PROMETHEUS,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address=127.0.0.1:{port}",
            # Debian's defaults point at /etc/prometheus: none of it is read here.
            f"--web.console.templates={directory / 'consoles'}",
            f"--web.console.libraries={directory / 'console_libraries'}"]
    with open(_log_file(directory), "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        # A session of its own: the terminal's Ctrl-C, or make's end, does not stop it.
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=directory, start_new_session=True)
    _children[process.pid] = process
    _pid_file(directory).write_text(f"{process.pid}\n")
    handle = Prometheus(process.pid, port, directory)

    deadline = time.monotonic() + ready_seconds
    while not _ready(port):
        if process.poll() is not None:
            _forget(directory, process.pid)
            raise ObserveError(f"prometheus exited ({process.returncode}) before it was ready; "
                               f"{_log_file(directory)} ends:\n{_log_tail(directory)}")
        if time.monotonic() > deadline:
            stop(directory)
            raise ObserveError(f"prometheus was not ready on {handle.url} within {ready_seconds:g} s; "
                               f"{_log_file(directory)} ends:\n{_log_tail(directory)}")
        time.sleep(0.2)
    return handle


def _forget(directory: Path, pid: int):
    _pid_file(directory).unlink(missing_ok=True)
    if (child := _children.pop(pid, None)) is not None:
        child.wait()


def stop(directory) -> bool:
    """Stops the Prometheus started on `directory` (SIGTERM, SIGKILL after 30 s); whether one ran."""
    directory = Path(directory).resolve()
    current = running(directory)
    if current is None:
        # One of ours that died on its own is reaped too.
        for pid, child in list(_children.items()):
            if child.poll() is not None and child.args[1] == f"--config.file={directory / 'prometheus.yml'}":
                _children.pop(pid)
        _pid_file(directory).unlink(missing_ok=True)
        return False
    os.kill(current.pid, signal.SIGTERM)
    child = _children.get(current.pid)
    deadline = time.monotonic() + STOP_SECONDS
    while (child.poll() is None) if child else _alive(current.pid):
        if time.monotonic() > deadline:
            os.kill(current.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    _forget(directory, current.pid)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="observe.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start", help="start (or reload) Prometheus over the platform")
    begin.add_argument("--dir", type=Path, required=True, help="its state folder (e.g. .local/observe)")
    begin.add_argument("--offset", type=int, default=0, help="the platform's port offset (SHOP_PORT_OFFSET)")
    begin.add_argument("--port", type=int, default=9090, help="its port on 127.0.0.1 (default 9090)")
    begin.add_argument("--interval", default="5s", help="scrape and rule evaluation interval (default 5s)")
    begin.add_argument("--replicas-file", type=Path, help="services.sh's replica counts (.local/run/replicas)")
    end = commands.add_parser("stop", help="stop the Prometheus started on --dir")
    end.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "stop":
            had_pid_file = _pid_file(args.dir.resolve()).exists()
            if stop(args.dir):
                print("    ok: prometheus stopped")
            elif had_pid_file:
                print("    ok: prometheus not running")
            return 0
        already = running(args.dir)
        handle = start(args.dir, args.port, args.offset, args.interval, read_replicas(args.replicas_file))
    except ObserveError as error:
        print(f"infra/local: prometheus failed.\n  fix: {error}", file=sys.stderr)
        return 1
    verb = "already running: configuration reloaded" if already else "started"
    print(f"    ok: prometheus {verb} (pid {handle.pid}), log {_log_file(handle.dir)}")
    print(f"Prometheus: {handle.url} (targets {handle.url}/targets, alerts {handle.url}/alerts).")
    print(f"Every {args.interval} it scrapes /metrics of")
    for job in yaml.safe_load((handle.dir / "prometheus.yml").read_text())["scrape_configs"]:
        print(f"  {job['job_name']:<18} {' '.join(job['static_configs'][0]['targets'])}")
    print("and evaluates the rules of each chart's alerts/rules.yaml. Stop it with 'make stop'.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
