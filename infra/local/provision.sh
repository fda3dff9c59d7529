#!/usr/bin/env bash
# Creates one database and one login per service (auth and product on PostgreSQL, payment on
# MariaDB) and every topic of contracts/events/topics.yaml. Idempotent.
#
# Local logins use the service name as password. They may create databases whose names start
# with the service name (the integration tests make one per test).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

step "PostgreSQL logins and databases"
for service in auth product; do
  as_postgres psql -q -v ON_ERROR_STOP=1 -d postgres <<SQL || fail "PostgreSQL provisioning of $service" "connect with 'sudo -u postgres psql' and read the error"
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$service', '$service')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$service') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$service', '$service')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$service') \gexec
SQL
  ok "$service"
done

step "MariaDB login and database"
as_mariadb_root() { if [ "$(id -u)" -eq 0 ]; then mysql -uroot "$@"; else sudo mysql -uroot "$@"; fi; }
as_mariadb_root <<'SQL' || fail "MariaDB provisioning of payment" "connect with 'sudo mysql' and read the error"
CREATE DATABASE IF NOT EXISTS payment;
CREATE USER IF NOT EXISTS 'payment'@'127.0.0.1' IDENTIFIED BY 'payment';
CREATE USER IF NOT EXISTS 'payment'@'localhost' IDENTIFIED BY 'payment';
GRANT ALL PRIVILEGES ON payment.* TO 'payment'@'127.0.0.1', 'payment'@'localhost';
GRANT ALL PRIVILEGES ON `payment\_test\_%`.* TO 'payment'@'127.0.0.1', 'payment'@'localhost';
SQL
ok "payment"

[ "${SHOP_SETUP_STORES_ONLY:-0}" = 1 ] && exit 0

step "Kafka topics from contracts/events/topics.yaml"
existing=$(tansu topic list --broker "tcp://$BROKER_ADDR" 2>/dev/null || true)
while read -r topic partitions; do
  # `tansu topic list` prints the topics as JSON objects with a "name" field.
  if grep -qF "\"name\":\"$topic\"" <<<"$existing"; then
    ok "$topic (exists)"
  else
    tansu topic create "$topic" --broker "tcp://$BROKER_ADDR" --partitions "$partitions" >/dev/null \
      || fail "creating topic $topic" "is the broker up? see $STATE_DIR/broker/tansu.log"
    ok "$topic ($partitions partitions, created)"
  fi
done < <("$REPO_ROOT/.venv/bin/python" "$REPO_ROOT/infra/local/topics.py")
