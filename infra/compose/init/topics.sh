#!/bin/sh
# The compose platform's one-shot topic job: creates every topic of the catalogue
# (contracts/events/topics.yaml, mounted at $CATALOGUE) and, for a topic with consumers, its
# dead-letter topic `<name>.dlq` with 1 partition (the same list as infra/local/topics.py).
# Runs in the broker's image: tansu's CLI (shop/broker), or Apache Kafka's kafka-topics.sh where
# an image has it. A topic that exists is kept: `make up` twice is harmless.
#   topics.sh list      print `<topic> <partitions>` lines and exit
set -eu
CATALOGUE=${CATALOGUE:-/etc/shop/topics.yaml}
BROKER=${BROKER:-kafka:9092}

# The catalogue's shape is fixed by tests/repo: `- name:` opens a topic, `partitions:` and
# `consumers: [..]` follow inside it.
list() {
  awk '
    function flush() { if (name != "") { print name, partitions; if (consumers) print name ".dlq", 1 } }
    /^  - name:/      { flush(); name = $3; partitions = 1; consumers = 0 }
    /^    partitions:/ { partitions = $2 }
    /^    consumers:/  { consumers = ($0 !~ /\[ *\]/) }
    END { flush() }
  ' "$CATALOGUE"
}

if [ "${1:-}" = list ]; then list; exit 0; fi

if [ -x /opt/kafka/bin/kafka-topics.sh ]; then
  list | while read -r topic partitions; do
    /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BROKER" --create --if-not-exists \
      --topic "$topic" --partitions "$partitions" --replication-factor 1
  done
else
  existing=$(tansu topic list --broker "tcp://$BROKER")
  list | while read -r topic partitions; do
    if printf '%s' "$existing" | grep -qF "\"name\":\"$topic\""; then
      echo "$topic exists"
    else
      tansu topic create "$topic" --broker "tcp://$BROKER" --partitions "$partitions" >/dev/null
      echo "created $topic ($partitions partitions)"
    fi
  done
fi
