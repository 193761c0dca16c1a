# Part of scripts/services.sh, sourced by it (its settings and helpers are in scope): the Debian packages the services need, and the Kafka and Apicurio downloads from Maven Central.
# shellcheck shell=bash

# ---------------------------------------------------------------- Debian packages
# command:package for what the services run (java comes with maven on Debian, named here for a machine with mvn
# from elsewhere); looked up on PATH and the sbin directories, where nginx lives
SYSTEM_PACKAGES=(nginx:nginx openssl:openssl curl:curl unzip:unzip mvn:maven java:default-jre-headless)

missing_packages() {
  local entry search="${SERVICES_PACKAGE_PATH:-$PATH:/usr/sbin:/sbin}"
  for entry in "${SYSTEM_PACKAGES[@]}"; do
    PATH="$search" command -v "${entry%%:*}" >/dev/null 2>&1 || printf '%s\n' "${entry#*:}"
  done
}

# ensure_packages [--dry-run]: installs what is missing (root with apt-get), else names the command in one line
ensure_packages() {
  local dry="${1:-}" need
  mapfile -t need < <(missing_packages)
  if [[ ${#need[@]} -eq 0 ]]; then [[ -z "$dry" ]] || echo "nothing to install"; return 0; fi
  local install="apt-get install -y ${need[*]}"
  if [[ "${SERVICES_INSTALL:-1}" == 0 || $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
    die "missing Debian package(s) ${need[*]}: install them with \`sudo apt-get update && sudo $install\` (as root the test set-up does it itself)"
  fi
  if [[ -n "$dry" ]]; then echo "would run: apt-get update && $install"; return 0; fi
  log "installing Debian package(s) ${need[*]} (apt-get)"
  apt-get update -qq >&2 || die "apt-get update failed; install them with \`$install\`"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2 || die "apt-get could not install ${need[*]}: \`$install\`"
}

# ---------------------------------------------------------------- downloads
mvn_pom() { # DIR DEPENDENCIES_XML
  mkdir -p "$1"
  cat > "$1/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kafka-delta</groupId><artifactId>services-fetch</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
$2
  </dependencies>
</project>
EOF
}

fetch_kafka() {
  [[ -f "$KAFKA_LIBS/.complete" ]] && return 0
  command -v mvn >/dev/null || die "kafka: mvn not found (apt-get install maven)"
  local t0; t0="$(now)"
  log "kafka: fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION (+kafka-tools) from Maven Central"
  local logging
  if [[ "$KAFKA_VERSION" == 3.* ]]; then
    logging="<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$SLF4J_RELOAD4J_VERSION</version></dependency>"
  else
    # Kafka 4.x resolves slf4j-api 1.7.x, so the 1.x binding (log4j-slf4j-impl), not log4j-slf4j2-impl.
    logging="<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J2_VERSION</version></dependency>
<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J2_VERSION</version></dependency>
<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$LOG4J2_VERSION</version></dependency>"
  fi
  local work="$DL/kafka-$KAFKA_VERSION/pom"
  # kafka-tools -> connect-runtime -> a jetty artifact missing from Central: exclude it (not needed).
  mvn_pom "$work" "<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
  <exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions></dependency>
$logging"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  if ! mvn "${MVN_OPTS[@]}" -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$KAFKA_LIBS" >"$work/mvn.log" 2>&1; then
    cat "$work/mvn.log" >&2; die "kafka: mvn dependency:copy-dependencies failed"
  fi
  # class index for scripts/kafka-admin.sh
  for j in "$KAFKA_LIBS"/kafka*.jar; do unzip -Z1 "$j" 2>/dev/null; done | grep '\.class$' > "$KAFKA_LIBS/.classes" || true
  touch "$KAFKA_LIBS/.complete"
  log "kafka: $(ls "$KAFKA_LIBS" | wc -l) jars in $(elapsed "$t0")s"
}

apicurio_java() { # prints a java binary able to run APICURIO_VERSION
  local need=17 j cand
  [[ "$APICURIO_VERSION" == 3.0.* || "$APICURIO_VERSION" == 2.* ]] || need=21
  for cand in "${APICURIO_JAVA_HOME:-}" "${JAVA_HOME:-}" "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /usr/lib/jvm/*; do
    [[ -n "$cand" && -x "$cand/bin/java" ]] || continue
    j="$(java_major "$cand/bin/java")"
    if [[ -n "$j" && "$j" -ge "$need" ]]; then echo "$cand/bin/java"; return 0; fi
  done
  return 1
}

resolve_apicurio() {
  # Apicurio 3.1+ is compiled for Java 21. Without a Java 21+ (e.g. /usr/lib/jvm/temurin-25-jdk-amd64)
  # fall back to 3.0.9, the newest 3.x that runs on Java 17.
  if ! APICURIO_JAVA="$(apicurio_java)"; then
    if [[ -z "${APICURIO_VERSION_EXPLICIT:-}" ]]; then
      log "registry: no Java 21+ found for Apicurio $APICURIO_VERSION; falling back to 3.0.9 on Java 17"
      APICURIO_VERSION=3.0.9
      APICURIO_JAVA="$(apicurio_java)" || die "registry: no usable java"
    else
      die "registry: Apicurio $APICURIO_VERSION needs Java 21+; set APICURIO_JAVA_HOME"
    fi
  fi
  APICURIO_DIR="$DL/apicurio-$APICURIO_VERSION"
}

fetch_apicurio() {
  resolve_apicurio
  [[ -f "$APICURIO_DIR/.complete" ]] && return 0
  command -v mvn >/dev/null || die "registry: mvn not found"
  local t0; t0="$(now)"
  log "registry: fetching io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all from Maven Central"
  rm -rf "$APICURIO_DIR"; mkdir -p "$APICURIO_DIR/tmp"
  mvn_pom "$APICURIO_DIR" ""
  if ! mvn "${MVN_OPTS[@]}" -f "$APICURIO_DIR/pom.xml" dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
        -DoutputDirectory="$APICURIO_DIR/tmp" >"$APICURIO_DIR/mvn.log" 2>&1; then
    cat "$APICURIO_DIR/mvn.log" >&2; die "registry: mvn dependency:copy failed"
  fi
  tar xzf "$APICURIO_DIR"/tmp/*.tar.gz -C "$APICURIO_DIR"
  rm -rf "$APICURIO_DIR/tmp"
  touch "$APICURIO_DIR/.complete"
  log "registry: unpacked in $(elapsed "$t0")s"
}

