"""`make setup`'s store half on a plain Debian bookworm, as a new machine has it: no systemd,
nothing installed, nothing preconfigured. The repository's own scripts install and start
PostgreSQL, MariaDB and Redis in a throwaway container and provision the logins, and each login
works the way the services and `make bench` use it. Machines whose MariaDB came preconfigured
(`user = mysql` in my.cnf) and whose PostgreSQL trusted every local login hid two defects here:
mariadbd refusing to start as root, and pgbench connecting without a password."""
import subprocess

from conftest import ROOT

# The offline stand-in (debootstrap --variant=minbase) where Docker Hub cannot be reached.
OFFLINE_IMAGE = "shop-offline/bookworm:minbase"
HUB_IMAGE = "debian:bookworm-slim"

CHECKS = r"""
set -euo pipefail
cd /repo
SHOP_SETUP_STORES_ONLY=1 bash infra/local/setup.sh
echo "postgres: $(PGPASSWORD=product psql -h 127.0.0.1 -U product -d product -tAc 'SELECT 1')"
# pgbench as loadgen runs it (ceilings.rs): the password by environment.
PGPASSWORD=product pgbench -h 127.0.0.1 -U product -i -q -s 1 product >/dev/null 2>&1 && echo "pgbench: initialised"
# Debian's PostgreSQL asks for a password on TCP: a client that sends none is refused.
if pgbench -h 127.0.0.1 -U product -n -S -t 1 product </dev/null >/dev/null 2>&1; then echo "no password: accepted"; fi
echo "mariadb: $(MYSQL_PWD=payment mysql -h 127.0.0.1 -u payment -N -e 'SELECT 1' payment)"
# minbase has no ps: the server process's owner from /proc.
for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = mariadbd ] && echo "mariadbd user: $(stat -c %U "$p")"; done
echo "redis: $(redis-cli -h 127.0.0.1 ping)"
"""


def bare_image() -> str:
    have = subprocess.run(["docker", "image", "inspect", OFFLINE_IMAGE], capture_output=True)
    return OFFLINE_IMAGE if have.returncode == 0 else HUB_IMAGE


def test_the_store_setup_runs_on_a_bare_debian_and_every_login_works(compose):
    # `compose` first: its `make up` starts the engine and builds the offline base image.
    run = subprocess.run(["docker", "run", "--rm", "-v", f"{ROOT}:/repo:ro", bare_image(), "bash", "-c", CHECKS],
                         capture_output=True, text=True, timeout=900)
    out = run.stdout + run.stderr
    assert run.returncode == 0, f"the store set-up failed on a bare Debian:\n{out[-4000:]}"
    assert "postgres: 1" in out
    assert "pgbench: initialised" in out
    assert "no password: accepted" not in out, "PostgreSQL took a login without its password"
    assert "mariadb: 1" in out
    assert "mariadbd user: mysql" in out, out[-2000:]
    assert "redis: PONG" in out
