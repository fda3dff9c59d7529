# Stand-in for Docker Hub's apache/kafka image (offline harness only; base-images.sh): tansu,
# the Kafka-protocol broker `make run` uses (docs/adr), built on this machine by `make setup`,
# with its log in SQLite under /var/lib/kafka/data.
FROM shop-offline/bookworm:minbase
COPY tansu /usr/local/bin/tansu
RUN useradd --uid 10001 --home-dir /var/lib/kafka kafka && mkdir -p /var/lib/kafka/data \
 && chown -R kafka /var/lib/kafka
WORKDIR /var/lib/kafka/data
USER kafka
EXPOSE 9092
ENTRYPOINT ["/usr/local/bin/tansu"]
CMD ["broker", "--listener-url", "tcp://0.0.0.0:9092", "--advertised-listener-url", "tcp://kafka:9092", "--storage-engine", "sqlite://tansu.db"]
