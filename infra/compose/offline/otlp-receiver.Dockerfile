# Stand-in for the OpenTelemetry Collector (offline harness only; base-images.sh): an OTLP/HTTP
# trace receiver on :4318 that prints each span it gets as one JSON line on stdout, as the real
# collector's debug exporter prints them (infra/compose/otel-collector.yaml).
FROM shop-offline/bookworm:minbase
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY otlp-receiver.py /usr/local/bin/otlp-receiver.py
USER 10001:10001
EXPOSE 4318
ENTRYPOINT ["python3", "-u", "/usr/local/bin/otlp-receiver.py"]
