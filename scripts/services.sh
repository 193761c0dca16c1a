#!/usr/bin/env bash
# Local test services without Docker: Apache Kafka (KRaft, single combined node),
# Apicurio Registry (Confluent-compatible API under /apis/ccompat/v7, in-memory H2),
# nginx in front of the registry (TLS + basic auth), Azurite (the Azure Blob Storage emulator, from npm), and an
# S3-compatible server (moto, from the Python venv) that enforces conditional writes (If-None-Match: * answers 412
# when the key exists).
#
#   bash scripts/services.sh up [kafka|registry|nginx|azurite|s3 ...]    # start (idempotent)
#   bash scripts/services.sh down [kafka|registry|nginx|azurite|s3 ...]  # stop (default: all)
#   bash scripts/services.sh status                           # what runs; exit 1 if anything is down
#   bash scripts/services.sh env                              # KEY=value lines for clients
#   bash scripts/services.sh fetch                            # only download jars (no start)
#   bash scripts/services.sh packages [--dry-run]             # install the Debian packages below if missing
#
# `up` and `fetch` first install the Debian packages the services need when their commands are missing
# (apt-get, as root), so `npm test` on a machine with only Node and npm sets everything up itself. Not root, or
# SERVICES_INSTALL=0: one line naming the packages and the command to install them, exit 1.
#
# Everything lives in .cache/ : downloads in .cache/services/dl, state/logs in .cache/services/run.
# A fresh Kafka start wipes its data dir (the registry is in-memory, so schema ids and
# topic contents stay consistent with each other). Set KAFKA_KEEP_DATA=1 to keep it.
# See scripts/README-services.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SERVICES_CACHE:-$ROOT/.cache/services}"
# the physical path: pid checks match it in the services' command lines, which a symlinked .cache would hide
if [[ -d "$CACHE" ]]; then CACHE="$(cd "$CACHE" && pwd -P)"; fi
DL="$CACHE/dl"
RUN="$CACHE/run"

# ---- versions (overridable) ----
KAFKA_VERSION_EXPLICIT="${KAFKA_VERSION:+1}"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"          # 3.9.x also works (e.g. KAFKA_VERSION=3.9.1)
LOG4J2_VERSION="${LOG4J2_VERSION:-2.25.5}"       # logging backend for Kafka 4.x (not in its POM)
SLF4J_RELOAD4J_VERSION="${SLF4J_RELOAD4J_VERSION:-1.7.36}"  # logging backend for Kafka 3.x
APICURIO_VERSION_EXPLICIT="${APICURIO_VERSION:+1}"
APICURIO_VERSION="${APICURIO_VERSION:-3.3.3}"    # 3.1+ needs Java 21+; 3.0.x runs on Java 17

# ---- ports (overridable) ----
HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-9094}"
REGISTRY_PORT="${REGISTRY_PORT:-8081}"              # Apicurio, plain HTTP, no auth
REGISTRY_MGMT_PORT="${REGISTRY_MGMT_PORT:-9001}"    # Quarkus management interface (health)
REGISTRY_TLS_PORT="${REGISTRY_TLS_PORT:-8443}"      # nginx: HTTPS + basic auth -> Apicurio
AZURITE_BLOB_PORT="${AZURITE_BLOB_PORT:-10000}"     # Azurite blob endpoint, plain HTTP, shared-key auth
S3_PORT="${S3_PORT:-9000}"                          # moto: S3 API, plain HTTP, any credentials accepted

# ---- credentials (test-only, overridable) ----
KAFKA_PLAIN_USER="${KAFKA_PLAIN_USER:-kd-plain}"
KAFKA_PLAIN_PASSWORD="${KAFKA_PLAIN_PASSWORD:-kd-plain-secret}"
KAFKA_SCRAM_USER="${KAFKA_SCRAM_USER:-kd-scram}"
KAFKA_SCRAM_PASSWORD="${KAFKA_SCRAM_PASSWORD:-kd-scram-secret}"
SCHEMA_REGISTRY_USER="${SCHEMA_REGISTRY_USER:-kd-registry}"
SCHEMA_REGISTRY_PASSWORD="${SCHEMA_REGISTRY_PASSWORD:-kd-registry-secret}"

KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
REGISTRY_HEAP_OPTS="${REGISTRY_HEAP_OPTS:--Xms128m -Xmx512m}"
START_TIMEOUT="${SERVICES_START_TIMEOUT:-120}"
# In-memory by default. For registry restart/outage tests that must keep schemas, use e.g.
# REGISTRY_DATASOURCE_URL=jdbc:h2:file:$PWD/.cache/services/run/registry/h2db
REGISTRY_DATASOURCE_URL="${REGISTRY_DATASOURCE_URL:-jdbc:h2:mem:registry}"
# Maven local repository (default ~/.m2/repository); e.g. SERVICES_MAVEN_REPO=$PWD/.cache/m2
MVN_OPTS=(-B -q -ntp ${SERVICES_MAVEN_REPO:+-Dmaven.repo.local=$SERVICES_MAVEN_REPO})

KDIR="$RUN/kafka"
# env/status/kafka-admin.sh follow the version of the running broker unless KAFKA_VERSION is given
if [[ -z "$KAFKA_VERSION_EXPLICIT" && "${1:-}" != up && -f "$KDIR/version" ]]; then KAFKA_VERSION="$(cat "$KDIR/version")"; fi
KAFKA_LIBS="$DL/kafka-$KAFKA_VERSION/libs"
RDIR="$RUN/registry"
NDIR="$RUN/nginx"
ADIR="$RUN/azurite"
SDIR="$RUN/s3"
TLS="$RUN/tls"

log() { echo "[services] $*" >&2; }
die() { echo "[services] ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# fail SERVICE LOGFILE... : report, show log tails, stop that service, exit non-zero
fail() {
  local svc="$1"; shift
  echo "[services] ERROR: $svc failed to start" >&2
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    echo "----- tail -n 40 $f -----" >&2
    tail -n 40 "$f" >&2 || true
  done
  stop_pid "$svc" "$(piddir "$svc")/$svc.pid" force || true
  exit 1
}

piddir() { case "$1" in kafka) echo "$KDIR";; registry) echo "$RDIR";; nginx) echo "$NDIR";; azurite) echo "$ADIR";; s3) echo "$SDIR";; esac; }

# alive = process exists AND was started from our run dir (guards against pid reuse)
pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null && tr '\0' ' ' <"/proc/$(cat "$1")/cmdline" 2>/dev/null | grep -qF "$RUN"; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

stop_pid() { # NAME PIDFILE [force: skip the cmdline check, for a process we just launched]
  local name="$1" pf="$2" force="${3:-}" pid i
  [[ -f "$pf" ]] || return 0
  pid="$(cat "$pf")"
  if pid_alive "$pf" || { [[ -n "$force" ]] && kill -0 "$pid" 2>/dev/null; }; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not exit after 20s; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.5
    fi
  fi
  rm -f "$pf"
}

java_major() { "$1" -version 2>&1 | awk -F'"' '/version/ {split($2,v,"."); print (v[1]=="1")?v[2]:v[1]; exit}'; }

# the parts of this script, by service (they use the settings and helpers above)
source "$ROOT/scripts/services/packages.sh"
source "$ROOT/scripts/services/kafka.sh"
source "$ROOT/scripts/services/object-stores.sh"

# ---------------------------------------------------------------- TLS
ensure_tls() {
  mkdir -p "$TLS"
  if [[ -f "$TLS/server.pem" ]] && openssl x509 -checkend 86400 -noout -in "$TLS/server.crt" >/dev/null 2>&1 \
     && openssl x509 -checkend 86400 -noout -in "$TLS/ca.pem" >/dev/null 2>&1; then
    return 0
  fi
  log "tls: creating local CA and server certificate (CN=localhost, SAN localhost/127.0.0.1)"
  (
    cd "$TLS"
    rm -f ./*.pem ./*.crt ./*.key ./*.csr ./*.srl
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
      -subj "/CN=kafka-delta local test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt \
      -days 30 -extfile server.ext 2>/dev/null
    # Kafka PEM keystore: PKCS#8 key ("BEGIN PRIVATE KEY") followed by the chain
    cat server.key server.crt ca.pem > server.pem
    cat server.crt ca.pem > server-chain.crt
    chmod 600 ca.key server.key server.pem
  ) || die "tls: openssl failed"
}

# ---------------------------------------------------------------- registry
start_registry() {
  local pf="$RDIR/registry.pid"
  mkdir -p "$RDIR"
  if pid_alive "$pf"; then log "registry: already running (pid $(cat "$pf"))"; return 0; fi
  for p in "$REGISTRY_PORT" "$REGISTRY_MGMT_PORT"; do
    port_open "$p" && die "registry: port $p is already in use by another process (override REGISTRY_*PORT)"
  done
  fetch_apicurio
  local t0 jar; t0="$(now)"
  if [[ -f "$APICURIO_DIR/quarkus-run.jar" ]]; then jar="$APICURIO_DIR/quarkus-run.jar"
  else jar="$(ls "$APICURIO_DIR"/*-runner.jar 2>/dev/null | head -1)"; fi
  [[ -n "$jar" && -f "$jar" ]] || die "registry: no runnable jar in $APICURIO_DIR"
  log "registry: starting Apicurio $APICURIO_VERSION with $APICURIO_JAVA ($HOST:$REGISTRY_PORT)"
  echo "$APICURIO_VERSION" > "$RDIR/version"
  # ccompat ids = contentId (legacy-id-mode=false, the default): identical schema -> identical id,
  # and /schemas/ids/{id} resolves the id written into the Confluent frame.
  # shellcheck disable=SC2086
  cd "$RDIR"   # Quarkus writes relative files (e.g. tmp) into the working dir
  setsid nohup "$APICURIO_JAVA" $REGISTRY_HEAP_OPTS -XX:+ExitOnOutOfMemoryError \
    -Dquarkus.http.host=$HOST -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dquarkus.management.host=$HOST -Dquarkus.management.port="$REGISTRY_MGMT_PORT" \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -Dapicurio.datasource.url="$REGISTRY_DATASOURCE_URL" \
    -Dapicurio.ccompat.legacy-id-mode.enabled=false \
    -Dapicurio.rest.deletion.group.enabled=true \
    -Dapicurio.rest.deletion.artifact.enabled=true \
    -Dapicurio.rest.deletion.artifact-version.enabled=true \
    -Dapicurio.storage.snapshot.location="$RDIR" \
    -jar "$jar" >"$RDIR/registry.log" 2>&1 </dev/null &
  echo $! > "$pf"
  cd "$ROOT"
  local deadline=$(( $(date +%s) + START_TIMEOUT ))
  until curl -sf -o /dev/null "http://$HOST:$REGISTRY_PORT/apis/ccompat/v7/subjects"; do
    kill -0 "$(cat "$pf")" 2>/dev/null || fail registry "$RDIR/registry.log"
    (( $(date +%s) < deadline )) || fail registry "$RDIR/registry.log"
    sleep 0.25
  done
  log "registry: ready in $(elapsed "$t0")s (pid $(cat "$pf"), log $RDIR/registry.log)"
}

# ---------------------------------------------------------------- nginx
start_nginx() {
  local pf="$NDIR/nginx.pid"
  mkdir -p "$NDIR/tmp"
  if pid_alive "$pf"; then log "nginx: already running (pid $(cat "$pf"))"; return 0; fi
  local ngx; ngx="$(command -v nginx || echo /usr/sbin/nginx)"
  [[ -x "$ngx" ]] || die "nginx: not installed (apt-get install -y nginx)"
  port_open "$REGISTRY_TLS_PORT" && die "nginx: port $REGISTRY_TLS_PORT is already in use (override REGISTRY_TLS_PORT)"
  ensure_tls
  local t0; t0="$(now)"
  printf '%s:%s\n' "$SCHEMA_REGISTRY_USER" "$(openssl passwd -apr1 "$SCHEMA_REGISTRY_PASSWORD")" > "$NDIR/htpasswd"
  cat > "$NDIR/nginx.conf" <<EOF
# generated by scripts/services.sh
worker_processes 1;
pid $pf;
error_log $NDIR/error.log warn;
events { worker_connections 256; }
http {
  access_log $NDIR/access.log;
  client_body_temp_path $NDIR/tmp/body;
  proxy_temp_path $NDIR/tmp/proxy;
  fastcgi_temp_path $NDIR/tmp/fastcgi;
  uwsgi_temp_path $NDIR/tmp/uwsgi;
  scgi_temp_path $NDIR/tmp/scgi;
  server {
    listen $HOST:$REGISTRY_TLS_PORT ssl;
    server_name localhost;
    ssl_certificate $TLS/server-chain.crt;
    ssl_certificate_key $TLS/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    auth_basic "schema-registry";
    auth_basic_user_file $NDIR/htpasswd;
    client_max_body_size 16m;
    location / {
      proxy_pass http://$HOST:$REGISTRY_PORT;
      proxy_http_version 1.1;
      proxy_set_header Host \$host:\$server_port;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header Authorization "";
    }
  }
}
EOF
  : > "$NDIR/error.log"
  "$ngx" -t -q -e "$NDIR/error.log" -p "$NDIR" -c "$NDIR/nginx.conf" >"$NDIR/nginx.out" 2>&1 \
    || fail nginx "$NDIR/nginx.out" "$NDIR/error.log"
  log "nginx: starting (https://$HOST:$REGISTRY_TLS_PORT -> registry, basic auth)"
  setsid nohup "$ngx" -e "$NDIR/error.log" -p "$NDIR" -c "$NDIR/nginx.conf" -g 'daemon off;' \
    >>"$NDIR/nginx.out" 2>&1 </dev/null &
  local launcher=$!
  local deadline=$(( $(date +%s) + 30 ))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TLS/ca.pem" -u "$SCHEMA_REGISTRY_USER:$SCHEMA_REGISTRY_PASSWORD" \
          "https://$HOST:$REGISTRY_TLS_PORT/apis/ccompat/v7/subjects")" == 200 ]]; do
    kill -0 "$launcher" 2>/dev/null || fail nginx "$NDIR/nginx.out" "$NDIR/error.log"
    (( $(date +%s) < deadline )) || fail nginx "$NDIR/nginx.out" "$NDIR/error.log"
    sleep 0.2
  done
  echo "$launcher" > "$pf"   # daemon off: the launched process is the master
  log "nginx: ready in $(elapsed "$t0")s (pid $launcher)"
}

# ---------------------------------------------------------------- env / status
print_env() {
  local py="$ROOT/.cache/venv/bin/python"
  local kv=(
    "KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT"
    "KAFKA_SASL_SSL_BOOTSTRAP=$HOST:$KAFKA_SASL_SSL_PORT"
    "KAFKA_CA_FILE=$TLS/ca.pem"
    "KAFKA_PLAIN_USER=$KAFKA_PLAIN_USER"
    "KAFKA_PLAIN_PASSWORD=$KAFKA_PLAIN_PASSWORD"
    "KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER"
    "KAFKA_SCRAM_PASSWORD=$KAFKA_SCRAM_PASSWORD"
    "KAFKA_VERSION=$KAFKA_VERSION"
    "KAFKA_LIBS=$KAFKA_LIBS"
    "KAFKA_CLIENT_PLAIN_CONFIG=$KDIR/client-sasl-ssl-plain.properties"
    "KAFKA_CLIENT_SCRAM_CONFIG=$KDIR/client-sasl-ssl-scram-sha-512.properties"
    "SCHEMA_REGISTRY_URL=http://$HOST:$REGISTRY_PORT/apis/ccompat/v7"
    "SCHEMA_REGISTRY_SECURE_URL=https://$HOST:$REGISTRY_TLS_PORT/apis/ccompat/v7"
    "SCHEMA_REGISTRY_USER=$SCHEMA_REGISTRY_USER"
    "SCHEMA_REGISTRY_PASSWORD=$SCHEMA_REGISTRY_PASSWORD"
    "SCHEMA_REGISTRY_CA_FILE=$TLS/ca.pem"
    "KAFKA_DELTA_TEST_AZURE_ENDPOINT=http://$HOST:$AZURITE_BLOB_PORT/$AZURITE_ACCOUNT"
    "KAFKA_DELTA_TEST_AZURE_ACCOUNT=$AZURITE_ACCOUNT"
    "KAFKA_DELTA_TEST_AZURE_KEY=$AZURITE_KEY"
    "KAFKA_DELTA_TEST_S3_ENDPOINT=http://$HOST:$S3_PORT"
    "KAFKA_DELTA_TEST_S3_REGION=us-east-1"
    "KAFKA_DELTA_TEST_S3_ACCESS_KEY_ID=kd-test"
    "KAFKA_DELTA_TEST_S3_SECRET_ACCESS_KEY=kd-test-secret"
    "PYTHON=$py"
  )
  local l
  for l in "${kv[@]}"; do printf '%s=%q\n' "${l%%=*}" "${l#*=}"; done
}

status() {
  local rc=0 name pf detail
  for name in kafka registry nginx azurite s3; do
    pf="$(piddir "$name")/$name.pid"
    case $name in
      kafka) detail="$KAFKA_VERSION PLAINTEXT $HOST:$KAFKA_PORT SASL_SSL $HOST:$KAFKA_SASL_SSL_PORT";;
      registry) detail="Apicurio $(cat "$RDIR/version" 2>/dev/null || echo "$APICURIO_VERSION") http://$HOST:$REGISTRY_PORT/apis/ccompat/v7";;
      nginx) detail="https://$HOST:$REGISTRY_TLS_PORT (basic auth) -> registry";;
      azurite) detail="blob http://$HOST:$AZURITE_BLOB_PORT/$AZURITE_ACCOUNT";;
      s3) detail="moto http://$HOST:$S3_PORT (S3 API, conditional writes)";;
    esac
    if pid_alive "$pf"; then echo "$name: running (pid $(cat "$pf")) $detail"
    else echo "$name: stopped"; rc=1; fi
  done
  return $rc
}

# ---------------------------------------------------------------- main
cmd="${1:-}"; shift || true
services=("$@"); [[ ${#services[@]} -gt 0 ]] || services=(kafka registry nginx azurite s3)
case "$cmd" in
  up)
    t_all="$(now)"
    ensure_packages
    for s in "${services[@]}"; do
      case $s in kafka) fetch_kafka;; registry) fetch_apicurio;; nginx|azurite|s3) ;; *) die "unknown service $s";; esac
    done
    # Kafka and the registry are independent: start them in parallel, nginx after the registry.
    pids=()
    for s in "${services[@]}"; do
      case $s in kafka) start_kafka & pids+=($!);; registry) start_registry & pids+=($!);; azurite) start_azurite & pids+=($!);; esac
    done
    rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
    [[ $rc == 0 ]] || die "start-up failed (see above); other services were left as they are"
    for s in "${services[@]}"; do [[ $s == nginx ]] && start_nginx; done
    for s in "${services[@]}"; do [[ $s == s3 ]] && start_s3; done
    mkdir -p "$RUN"; print_env > "$RUN/services.env"
    log "up in $(elapsed "$t_all")s; env: bash scripts/services.sh env  (also $RUN/services.env)"
    ;;
  down)
    for (( i=${#services[@]}-1; i>=0; i-- )); do
      s="${services[$i]}"
      case $s in kafka|registry|nginx|azurite|s3) stop_pid "$s" "$(piddir "$s")/$s.pid";; *) die "unknown service $s";; esac
      if [[ $s == kafka ]]; then rm -f "$KDIR/version"; fi
    done
    ;;
  status) status ;;
  env) print_env ;;
  fetch) ensure_packages; fetch_kafka; fetch_apicurio ;;
  packages) ensure_packages "${1:-}" ;;
  *) sed -n '2,20p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
