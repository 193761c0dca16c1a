#!/usr/bin/env bash
# End-to-end smoke check of the local services (run after `scripts/services.sh up`):
# produce Confluent-framed Avro with confluent-kafka over PLAINTEXT, SASL_SSL/PLAIN and
# SASL_SSL/SCRAM-SHA-512 (registry via nginx TLS + basic auth for the SASL runs), then check
# the schema id written into the frames through nginx: /schemas/ids/{id}, subjects/.../latest.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
set -a; eval "$(bash "$ROOT/scripts/services.sh" env)"; set +a
[[ -x "$PYTHON" ]] || PYTHON="$(bash "$ROOT/scripts/python-env.sh")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; pass=$((pass+1)); else echo "FAIL $name"; fail=$((fail+1)); fi; }

cat > "$tmp/s.avsc" <<'EOF'
{"type":"record","name":"Smoke","namespace":"kd.smoke","fields":[
 {"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"note","type":["null","string"],"default":null},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}
EOF
sfx="$(date +%s)"
produce() { # NAME extra-env...
  local name="$1"; shift
  env "$@" "$PYTHON" "$ROOT/scripts/produce_avro.py" --topic "smoke-$name-$sfx" --schema "$tmp/s.avsc" \
    --count 6 --partitions 3 --summary "$tmp/$name.json" 2>"$tmp/$name.err" \
    && "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["count"]==6 and len(d["partitions"])==3 else 1)' "$tmp/$name.json" \
    || { cat "$tmp/$name.err" >&2; return 1; }
}
check "produce PLAINTEXT + plain registry URL" produce plaintext
check "produce SASL_SSL PLAIN + registry via nginx" produce sasl-plain \
  KAFKA_BOOTSTRAP="$KAFKA_SASL_SSL_BOOTSTRAP" SCHEMA_REGISTRY_URL="$SCHEMA_REGISTRY_SECURE_URL" \
  KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_MECHANISM=PLAIN KAFKA_SASL_USERNAME="$KAFKA_PLAIN_USER" \
  KAFKA_SASL_PASSWORD="$KAFKA_PLAIN_PASSWORD" KAFKA_SSL_CA_LOCATION="$KAFKA_CA_FILE"
check "produce SASL_SSL SCRAM-SHA-512 + registry via nginx" produce sasl-scram \
  KAFKA_BOOTSTRAP="$KAFKA_SASL_SSL_BOOTSTRAP" SCHEMA_REGISTRY_URL="$SCHEMA_REGISTRY_SECURE_URL" \
  KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_MECHANISM=SCRAM-SHA-512 KAFKA_SASL_USERNAME="$KAFKA_SCRAM_USER" \
  KAFKA_SASL_PASSWORD="$KAFKA_SCRAM_PASSWORD" KAFKA_SSL_CA_LOCATION="$KAFKA_CA_FILE"

id="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["schema_id"])' "$tmp/sasl-scram.json" 2>/dev/null)"
sec=(-s --cacert "$SCHEMA_REGISTRY_CA_FILE" -u "$SCHEMA_REGISTRY_USER:$SCHEMA_REGISTRY_PASSWORD")
check "frame schema id $id resolves via nginx /schemas/ids/{id}" \
  bash -c '[[ "$(curl "$@" | '"$PYTHON"' -c "import json,sys; print(json.load(sys.stdin)[\"schema\"][:1])")" == "{" ]]' _ "${sec[@]}" "$SCHEMA_REGISTRY_SECURE_URL/schemas/ids/$id"
check "subjects/.../versions/latest id == frame id" \
  bash -c '[[ "$(curl "$@" | '"$PYTHON"' -c "import json,sys; print(json.load(sys.stdin)[\"id\"])")" == "'"$id"'" ]]' _ "${sec[@]}" "$SCHEMA_REGISTRY_SECURE_URL/subjects/smoke-sasl-scram-$sfx-value/versions/latest"
check "nginx rejects wrong password (401)" \
  bash -c '[[ "$(curl -s -o /dev/null -w "%{http_code}" --cacert "$1" -u "$2:wrong" "$3/subjects")" == 401 ]]' _ "$SCHEMA_REGISTRY_CA_FILE" "$SCHEMA_REGISTRY_USER" "$SCHEMA_REGISTRY_SECURE_URL"
check "kafka-admin.sh over SASL_SSL SCRAM lists the topics" \
  bash -c 'bash "$1/scripts/kafka-admin.sh" --sasl scram topics --list 2>/dev/null | grep -q "smoke-plaintext-$2"' _ "$ROOT" "$sfx"

echo "services smoke: $pass passed, $fail failed"
[[ $fail == 0 ]]
