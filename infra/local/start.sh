#!/usr/bin/env bash
# Starts PostgreSQL, MariaDB, Redis and the tansu broker when they are not already answering
# on their standard loopback ports. Also restarts a shared store a crashed run left stopped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_closed() { ! port_open "$1"; }
have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

step "PostgreSQL on 127.0.0.1:5432"
if port_open 5432; then
  ok "already running"
else
  if have_systemd; then
    as_root systemctl start postgresql
  else
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [ -n "$version" ] || fail "PostgreSQL" "no cluster in /etc/postgresql: run 'pg_createcluster 15 main'"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  wait_for port_open 5432 || fail "PostgreSQL start" "see /var/log/postgresql/ for the server's log"
  ok "started"
fi

step "MariaDB on 127.0.0.1:3306"
if port_open 3306; then
  ok "already running"
else
  if have_systemd; then
    as_root systemctl start mariadb
  else
    as_root install -d -o mysql -g mysql /run/mysqld
    # --user: mariadbd refuses to run as root, and a plain Debian my.cnf does not name a user
    # (machines whose my.cnf sets `user = mysql` hid this).
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  fi
  wait_for port_open 3306 || fail "MariaDB start" "see 'journalctl -u mariadb' or /var/log/mysql/ for the server's log"
  ok "started"
fi

step "Redis on 127.0.0.1:6379"
if port_open 6379; then
  ok "already running"
else
  if have_systemd; then
    as_root systemctl start redis-server
  else
    as_root install -d -o redis -g redis /var/lib/redis /var/log/redis 2>/dev/null || as_root mkdir -p /var/lib/redis /var/log/redis
    # Carts are kept across restarts (append-only file, fsync every second). The checkout's
    # money promises do not depend on it: checkout ids derive from the Idempotency-Key and
    # product and payment dedup on them (docs/RELIABILITY.md).
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly yes \
      --appendfsync everysec --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
  wait_for port_open 6379 || fail "Redis start" "see /var/log/redis/ for the server's log"
  ok "started"
fi

# SHOP_SETUP_STORES_ONLY=1: the stores and nothing else (the bare-Debian set-up check).
[ "${SHOP_SETUP_STORES_ONLY:-0}" = 1 ] && exit 0

step "tansu Kafka-protocol broker on $BROKER_ADDR, with the schema registry"
broker_port=${BROKER_ADDR##*:}
registry_py=("$REPO_ROOT/.venv/bin/python" "$REPO_ROOT/infra/local/registry.py")
pid_file=$STATE_DIR/broker/tansu.pid
# A broker this checkout started before the registry existed is restarted with it; its log
# is kept (SQLite in $STATE_DIR/broker).
if port_open "$broker_port" && ! "${registry_py[@]}" --running "$BROKER_ADDR" >/dev/null 2>&1 \
    && [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  kill -TERM "$(cat "$pid_file")"
  WAIT_SECONDS=30 wait_for port_closed "$broker_port" || fail "stopping tansu" "kill $(cat "$pid_file")"
  ok "stopped the broker started without a schema registry"
fi
if port_open "$broker_port"; then
  # Started by another checkout, maybe: its registry folder is where the files go.
  registry=$("${registry_py[@]}" --running "$BROKER_ADDR") \
    || fail "the broker on $BROKER_ADDR runs without a schema registry" "stop it ('make infra-stop' in the checkout that started it) and run 'make setup' again"
  "${registry_py[@]}" "$registry" >/dev/null || fail "writing the schema registry" "see the error above"
  ok "already running; registry $registry written from contracts/"
else
  # Durable SQLite storage in the repo's ignored state folder: a restart keeps the log. The
  # registry (registry.py) is generated from contracts/ on every start: one <topic>.proto per
  # topic, the Envelope as its Value. No cache expiry: tansu 0.6 reads a topic's file on each
  # produce, so a regenerated file applies at once (ADR 0022).
  mkdir -p "$STATE_DIR/broker"
  "${registry_py[@]}" "$STATE_DIR/broker/schema" >/dev/null || fail "writing the schema registry" "see the error above"
  (
    cd "$STATE_DIR/broker"
    nohup tansu broker \
      --listener-url "tcp://$BROKER_ADDR" \
      --advertised-listener-url "tcp://$BROKER_ADDR" \
      --storage-engine sqlite://tansu.db \
      --schema-registry file://./schema >tansu.log 2>&1 &
    echo $! >tansu.pid
  )
  WAIT_SECONDS=30 wait_for port_open "$broker_port" \
    || fail "tansu start" "read $STATE_DIR/broker/tansu.log; stop a stale broker with 'make infra-stop'"
  ok "started (state, log and schema registry in $STATE_DIR/broker)"
fi

# tansu 0.6's SQLite schema has no index on header (topition, offset_id), and the broker reads a
# record's headers once per record it hands out: every read scanned the whole table, so its CPU
# grew with the log (a core at idle after a few benchmark runs; our events all carry headers).
# The index is invisible to tansu and only ever added. docs/adr/0009-broker-header-index.md.
broker_db=$STATE_DIR/broker/tansu.db
header_table() { [ "$(sqlite3 "$broker_db" "SELECT 1 FROM sqlite_master WHERE name = 'header'")" = 1 ]; }
if [ -f "$broker_db" ]; then
  WAIT_SECONDS=30 wait_for header_table || fail "tansu's schema" "no header table in $broker_db: read $STATE_DIR/broker/tansu.log"
  sqlite3 -cmd ".timeout 10000" "$broker_db" "CREATE INDEX IF NOT EXISTS header_record ON header (topition, offset_id)" \
    || fail "indexing tansu's header table" "run: sqlite3 $broker_db 'CREATE INDEX header_record ON header (topition, offset_id)'"
  ok "broker log indexed for header reads"
fi
