#!/bin/sh
# One-shot of docker-compose.yml (service kafka-topics): creates the referralops
# topics on the compose broker, where auto-creation is off so that a misspelt
# topic fails instead of appearing. Idempotent (--if-not-exists).
# TOPICS, PARTITIONS, BOOTSTRAP, DLQ_TOPIC and DLQ_RETENTION_MS come from the
# service's environment. The dead-letter topic expires its records after
# DLQ_RETENTION_MS: they are raw messages, PHI included.
set -eu
case "$DLQ_RETENTION_MS" in
'' | *[!0-9]*) echo "DLQ_RETENTION_MS=$DLQ_RETENTION_MS is not a number of milliseconds" >&2; exit 2 ;;
esac
for topic in $TOPICS; do
	config=""
	[ "$topic" = "$DLQ_TOPIC" ] && config="--config retention.ms=$DLQ_RETENTION_MS"
	# shellcheck disable=SC2086 # config is empty or two words
	/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
		--topic "$topic" --partitions "$PARTITIONS" --replication-factor 1 $config
done
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --list
