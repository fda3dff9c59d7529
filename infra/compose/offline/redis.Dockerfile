# Stand-in for Docker Hub's redis image (offline harness only; base-images.sh): Debian's
# Redis 7.0; the compose file gives its command and /data volume. Like the real image's
# entrypoint, a `redis-server` command gets `--protected-mode no` (the container's network is
# the boundary), else Redis refuses every client from outside the container.
FROM shop-offline/bookworm:minbase
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
