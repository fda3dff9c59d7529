#!/bin/sh
# The offline mariadb stand-in's start: initialise an empty data folder once (root's password,
# then every /docker-entrypoint-initdb.d/*.sql), then run the server on all interfaces.
set -eu
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --datadir=/var/lib/mysql --skip-test-db --auth-root-authentication-method=normal >/dev/null
  mariadbd --datadir=/var/lib/mysql --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  i=0; until mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -gt 120 ] && { echo "mariadbd did not start" >&2; exit 1; }; sleep 0.5
  done
  {
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD is required}';"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY '${MARIADB_ROOT_PASSWORD}'; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    for f in /docker-entrypoint-initdb.d/*.sql; do [ -e "$f" ] && cat "$f"; done
  } | mariadb --socket=/run/mysqld/init.sock -uroot
  kill "$pid" && wait "$pid" || true
fi
exec mariadbd --datadir=/var/lib/mysql --bind-address=0.0.0.0 --port=3306
