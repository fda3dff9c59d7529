# Stand-in for Docker Hub's mariadb image (offline harness only; base-images.sh): Debian's
# MariaDB 10.11 with the part of that image's entrypoint the compose file uses:
# MARIADB_ROOT_PASSWORD, /docker-entrypoint-initdb.d/*.sql on an empty data folder, and its
# healthcheck.sh (--connect --innodb_initialized) answered by mariadb-admin ping.
FROM shop-offline/bookworm:minbase
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mariadb-server mariadb-client \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql/* \
 && mkdir -p /docker-entrypoint-initdb.d /run/mysqld && chown mysql:mysql /run/mysqld /var/lib/mysql
COPY mariadb-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY mariadb-healthcheck.sh /usr/local/bin/healthcheck.sh
USER mysql
EXPOSE 3306
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
