#!/usr/bin/env bash
# Create / refresh the project-local Python venv used by test tooling
# (deltalake + pyarrow Delta reader, confluent-kafka Avro producer, pyspark + delta-spark).
#
#   bash scripts/python-env.sh            # prints the venv interpreter path on stdout
#   PYTHON_BIN=/usr/bin/python3 bash scripts/python-env.sh
#
# Idempotent: skipped when .cache/venv/.requirements.sha256 matches
# sha256(scripts/requirements.txt + interpreter version). Progress goes to stderr,
# so `PY=$(bash scripts/python-env.sh)` works.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV_DIR:-$ROOT/.cache/venv}"
REQ="$ROOT/scripts/requirements.txt"
BASE_PY="${PYTHON_BIN:-python3}"
STAMP="$VENV/.requirements.sha256"

log() { echo "[python-env] $*" >&2; }

command -v "$BASE_PY" >/dev/null || { log "no $BASE_PY on PATH (set PYTHON_BIN)"; exit 1; }
want="$( { cat "$REQ"; "$BASE_PY" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$VENV/bin/python" ]] && [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$want" ]] \
   && "$VENV/bin/python" -c 'import os, deltalake, pyarrow, confluent_kafka; os._exit(0)' 2>/dev/null; then
  log "venv up to date ($VENV)"
else
  if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    log "venv interpreter broken; recreating"; rm -rf "$VENV"
  fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv at $VENV with $("$BASE_PY" --version 2>&1)"
    mkdir -p "$(dirname "$VENV")"
    "$BASE_PY" -m venv "$VENV"
  fi
  log "installing $REQ (pyspark is ~450 MB the first time)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ" >&2
  "$VENV/bin/python" - <<'EOF' >&2
import deltalake, pyarrow, confluent_kafka, fastavro
from confluent_kafka.schema_registry.avro import AvroSerializer  # needs the [avro] extra
print("deltalake", deltalake.__version__, "pyarrow", pyarrow.__version__,
      "confluent-kafka", confluent_kafka.__version__, "librdkafka", confluent_kafka.libversion()[0],
      "fastavro", fastavro.__version__, flush=True)
import os
os._exit(0)  # delta-rs's runtime threads can abort a normal interpreter shutdown (SIGABRT)
EOF
  echo "$want" > "$STAMP"
fi
echo "$VENV/bin/python"
