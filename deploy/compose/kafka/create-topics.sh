#!/bin/sh
# One-shot of docker-compose.yml (service kafka-topics): creates the referralops
# topics on the compose broker, where auto-creation is off so that a misspelt
# topic fails instead of appearing. Idempotent (--if-not-exists).
# TOPICS, PARTITIONS and BOOTSTRAP come from the service's environment.
set -eu
for topic in $TOPICS; do
	/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
		--topic "$topic" --partitions "$PARTITIONS" --replication-factor 1
done
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --list
