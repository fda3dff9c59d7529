"""`make bench`'s container figures: each service image's size and its cold start (container
start → `/readyz` 200 on the published port, the stores and broker already up), measured on the
compose platform (infra/compose/up.sh, project shop-bench, ports 2908x and 2905x: below the
ephemeral port range, where a client socket can hold a port). Writes
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
SERVICES = {"auth-service": ("AUTH", 29081), "product-service": ("PRODUCT", 29082),
            "cart-service": ("CART", 29083), "payment-service": ("PAYMENT", 29084)}
ENV = {**os.environ, "COMPOSE_PROJECT": "shop-bench",
       **{f"SHOP_{prefix}_HTTP_PORT": str(port) for prefix, port in SERVICES.values()},
       **{f"SHOP_{prefix}_GRPC_PORT": str(port - 30) for prefix, port in SERVICES.values()}}


def compose(*args: str) -> str:
    script = f'source "{ROOT}/infra/compose/compose.sh"; SHOP_COMPOSE_OFFLINE=$(offline && echo 1 || echo 0) compose "$@"'
    return subprocess.run(["bash", "-c", script, "compose", *args], env=ENV, check=True, capture_output=True,
                          text=True).stdout


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def cold_start(service: str, port: int) -> float:
    compose("stop", service)
    started = time.monotonic()
    compose("start", service)
    while not ready(port):
        if time.monotonic() - started > 120:
            raise SystemExit(f"{service}: /readyz not 200 within 120 s")
        time.sleep(0.01)
    return time.monotonic() - started


def main() -> None:
    subprocess.run(["bash", str(ROOT / "infra" / "compose" / "up.sh")], env=ENV, check=True)
    try:
        figures = {}
        for service, (_, port) in SERVICES.items():
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
        f"stopped container → its `/readyz` answers 200 on the published port (stores and broker up), median and "
        f"maximum of {RUNS} starts. Target: under 40 MiB per image.\n\n"
        f"| service | image | cold start (median) | cold start (max) |\n|---|---|---|---|\n{rows}\n")


if __name__ == "__main__":
    sys.exit(main())
