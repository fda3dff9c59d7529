# Stand-in for Docker Hub's haproxy image (offline harness only; base-images.sh): Debian's
# HAProxy 2.6, the version the compose file names, run as the real image runs it: in the
# foreground as master and worker, as user haproxy, with the configuration compose mounts at
# /usr/local/etc/haproxy/haproxy.cfg.
FROM shop-offline/bookworm:minbase
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/*
USER haproxy
EXPOSE 8080
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
