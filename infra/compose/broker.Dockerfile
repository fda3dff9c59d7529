# The compose platform's broker, shop/broker: tansu, the Kafka-protocol broker `make run` uses
# (the binary `make setup` builds, copied in by images.sh), with its log in SQLite under
# /var/lib/kafka/data and the schema registry generated from contracts/ mounted read-only at
# /var/lib/kafka/data/schema (docker-compose.yml; docs/adr/0022-broker-enforced-schema-registry.md).
# BASE: Debian's slim image, or the offline harness's debootstrapped one (offline/).
ARG BASE=debian:bookworm-slim
FROM ${BASE}
COPY tansu /usr/local/bin/tansu
RUN useradd --uid 10001 --home-dir /var/lib/kafka kafka && mkdir -p /var/lib/kafka/data/schema \
 && chown -R kafka /var/lib/kafka
WORKDIR /var/lib/kafka/data
USER kafka
EXPOSE 9092
ENTRYPOINT ["/usr/local/bin/tansu"]
# No cache expiry: tansu 0.6 then reads a topic's schema on each produce (ADR 0022).
CMD ["broker", "--listener-url", "tcp://0.0.0.0:9092", "--advertised-listener-url", "tcp://kafka:9092", "--storage-engine", "sqlite://tansu.db", "--schema-registry", "file://./schema"]
