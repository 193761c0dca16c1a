#!/usr/bin/env bash
# Run an Apache Kafka CLI tool class from the jars fetched by scripts/services.sh
# (no Kafka tarball needed). --bootstrap-server defaults to the local PLAINTEXT listener.
#
#   scripts/kafka-admin.sh topics --create --topic t --partitions 3
#   scripts/kafka-admin.sh topics --alter  --topic t --partitions 5          # add partitions
#   scripts/kafka-admin.sh topics --describe --topic t
#   scripts/kafka-admin.sh delete-records --offset-json-file f.json
#       f.json: {"partitions":[{"topic":"t","partition":0,"offset":10}],"version":1}
#   scripts/kafka-admin.sh delete-records-to t 0 10                          # helper: writes the JSON for you
#   scripts/kafka-admin.sh get-offsets --topic t                             # log-end offsets (--time -2: earliest)
#   scripts/kafka-admin.sh consumer-groups --describe --group g
#   scripts/kafka-admin.sh configs --alter --entity-type topics --entity-name t --add-config retention.ms=1000
#   scripts/kafka-admin.sh console-consumer --topic t --from-beginning --max-messages 5
#   scripts/kafka-admin.sh --sasl scram topics --list     # over SASL_SSL (plain|scram)
#   scripts/kafka-admin.sh org.apache.kafka.tools.SomeOtherTool ...          # any fully-qualified class
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1090
eval "$(bash "$ROOT/scripts/services.sh" env)"

sasl=""
if [[ "${1:-}" == "--sasl" ]]; then sasl="$2"; shift 2; fi
tool="${1:?usage: kafka-admin.sh [--sasl plain|scram] TOOL ARGS... (see header)}"; shift

[[ -f "$KAFKA_LIBS/.complete" ]] || bash "$ROOT/scripts/services.sh" fetch >&2

if [[ "$tool" == delete-records-to ]]; then   # TOPIC PARTITION OFFSET
  f="$(mktemp)"; trap 'rm -f "$f"' EXIT
  printf '{"partitions":[{"topic":"%s","partition":%d,"offset":%d}],"version":1}\n' "$1" "$2" "$3" > "$f"
  tool=delete-records; set -- --offset-json-file "$f"
fi

# short name -> candidate classes (4.x name first, then 3.x)
case "$tool" in
  topics)            cands="org.apache.kafka.tools.TopicCommand kafka.admin.TopicCommand" ;;
  delete-records)    cands="org.apache.kafka.tools.DeleteRecordsCommand kafka.admin.DeleteRecordsCommand" ;;
  get-offsets)       cands="org.apache.kafka.tools.GetOffsetShell kafka.tools.GetOffsetShell" ;;
  consumer-groups)   cands="org.apache.kafka.tools.consumer.group.ConsumerGroupCommand kafka.admin.ConsumerGroupCommand" ;;
  configs)           cands="org.apache.kafka.tools.ConfigCommand kafka.admin.ConfigCommand" ;;
  acls)              cands="org.apache.kafka.tools.AclCommand kafka.admin.AclCommand" ;;
  console-consumer)  cands="org.apache.kafka.tools.consumer.ConsoleConsumer kafka.tools.ConsoleConsumer" ;;
  console-producer)  cands="org.apache.kafka.tools.ConsoleProducer kafka.tools.ConsoleProducer" ;;
  metadata-quorum)   cands="org.apache.kafka.tools.MetadataQuorumCommand" ;;
  storage)           cands="kafka.tools.StorageTool" ;;
  *.*)               cands="$tool" ;;
  *) echo "kafka-admin.sh: unknown tool '$tool'" >&2; exit 2 ;;
esac
cls=""
for c in $cands; do
  if [[ "$c" == "$tool" ]] || grep -qxF "${c//.//}.class" "$KAFKA_LIBS/.classes"; then cls="$c"; break; fi
done
[[ -n "$cls" ]] || { echo "kafka-admin.sh: none of [$cands] in $KAFKA_LIBS" >&2; exit 2; }

args=("$@")
bootstrap="$KAFKA_BOOTSTRAP"; cfg=()
case "$sasl" in
  "") ;;
  plain) bootstrap="$KAFKA_SASL_SSL_BOOTSTRAP"; cfg=(--command-config "$KAFKA_CLIENT_PLAIN_CONFIG") ;;
  scram) bootstrap="$KAFKA_SASL_SSL_BOOTSTRAP"; cfg=(--command-config "$KAFKA_CLIENT_SCRAM_CONFIG") ;;
  *) echo "kafka-admin.sh: --sasl plain|scram" >&2; exit 2 ;;
esac
if [[ "$cls" == *Console* && ${#cfg[@]} -gt 0 ]]; then
  [[ "$cls" == *Consumer* ]] && cfg=(--consumer.config "${cfg[1]}") || cfg=(--producer.config "${cfg[1]}")
fi
if [[ "$cls" != kafka.tools.StorageTool ]] && [[ " ${args[*]} " != *" --bootstrap-server "* ]]; then
  args=(--bootstrap-server "$bootstrap" "${cfg[@]}" "${args[@]}")
fi

if [[ "$KAFKA_VERSION" == 3.* ]]; then
  logopt="-Dlog4j.configuration=file:$ROOT/.cache/services/run/kafka/tools-log4j.properties"
else
  logopt="-Dlog4j2.configurationFile=$ROOT/.cache/services/run/kafka/tools-log4j2.properties"
fi
exec java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true "$logopt" \
  -cp "$KAFKA_LIBS/*" "$cls" "${args[@]}"
