"""`make bench`'s container figures: each service image's size and its cold start (container
start → `/readyz` 200 at the container's address, the stores and broker already up), measured on the
compose platform (infra/compose/up.sh, project shop-bench; its proxy on ports 29080 and 29404,
below the ephemeral port range, where a client socket can hold a port). Writes
bench/results/containers-<date>.{json,md}; the median of RUNS starts per service."""
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_CONTAINER_RUNS", "5"))
# Each service's HTTP port inside its container, where /readyz answers.
SERVICES = {"auth-service": 8081, "product-service": 8082, "cart-service": 8083, "payment-service": 8084}
# The entry proxy's published ports, off compose's defaults: `make bench` runs this beside the
# local platform, whose proxy holds 8080 and 8404, and compose could not start its own.
ENV = {**os.environ, "COMPOSE_PROJECT": "shop-bench", "SHOP_ENTRY_PORT": "29080", "SHOP_PROXY_STATS_PORT": "29404"}


def compose(*args: str) -> str:
    script = f'source "{ROOT}/infra/compose/compose.sh"; SHOP_COMPOSE_OFFLINE=$(offline && echo 1 || echo 0) compose "$@"'
    return subprocess.run(["bash", "-c", script, "compose", *args], env=ENV, check=True, capture_output=True,
                          text=True).stdout


def address(service: str) -> str | None:
    """The service's container's address on the project's network, once it has one: compose
    publishes no service port (the entry proxy is the way in), and the host reaches the bridge
    network directly. Asked after every start: a restarted container may get another."""
    container = compose("ps", "-q", service).strip()
    if not container:
        return None
    found = subprocess.run(["docker", "inspect", "--format",
                            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container],
                           capture_output=True, text=True).stdout.split()
    return found[0] if found else None


def ready(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def cold_start(service: str, port: int) -> float:
    compose("stop", service)
    started = time.monotonic()
    compose("start", service)
    host = None
    while host is None or not ready(host, port):
        if time.monotonic() - started > 120:
            raise SystemExit(f"{service}: /readyz not 200 within 120 s")
        host = host or address(service)
        time.sleep(0.01)
    return time.monotonic() - started


def main() -> None:
    subprocess.run(["bash", str(ROOT / "infra" / "compose" / "up.sh")], env=ENV, check=True)
    try:
        figures = {}
        for service, port in SERVICES.items():
            size = int(subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", f"shop/{service}:local"],
                                      check=True, capture_output=True, text=True).stdout)
            starts = [cold_start(service, port) for _ in range(RUNS)]
            figures[service] = {"image_bytes": size, "image_mib": round(size / 1048576, 1),
                                "cold_start_ms_median": round(statistics.median(starts) * 1000),
                                "cold_start_ms_max": round(max(starts) * 1000), "runs": RUNS}
            print(f"{service}: {figures[service]['image_mib']} MiB, cold start {figures[service]['cold_start_ms_median']} ms")
    finally:
        subprocess.run(["bash", str(ROOT / "infra" / "compose" / "down.sh")], env=ENV, check=False)
    today = datetime.date.today().isoformat()
    out = ROOT / "bench" / "results"
    (out / f"containers-{today}.json").write_text(json.dumps(figures, indent=2) + "\n")
    rows = "\n".join(f"| {s} | {f['image_mib']} MiB | {f['cold_start_ms_median']} ms | {f['cold_start_ms_max']} ms |"
                     for s, f in figures.items())
    (out / f"containers-{today}.md").write_text(
        f"# Container images, {today}\n\nSize as `docker images` reports it; cold start = `docker start` of the "
        f"stopped container → its `/readyz` answers 200 at the container's address (stores and broker up), median and "
        f"maximum of {RUNS} starts. Target: under 40 MiB per image.\n\n"
        f"| service | image | cold start (median) | cold start (max) |\n|---|---|---|---|\n{rows}\n")


if __name__ == "__main__":
    sys.exit(main())
