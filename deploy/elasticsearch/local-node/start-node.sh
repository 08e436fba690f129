#!/usr/bin/env bash
# Start a real single-node Elasticsearch (official integ-test-zip distribution from Maven Central)
# on 127.0.0.1, in the background, as an unprivileged user. Writes the URL to var/es.url.
#
# Env knobs: ES_VERSION (default 9.4.6; Central serves the integ-test-zip for 9.4.3, 9.4.5, 9.4.6 but not 9.4.4, 9.4.7-9.4.9), ES_PORT (default 9250), ES_HEAP (default 512m),
#            ES_JAVA_HOME (default Temurin 25), ES_USER (default esnode).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
# Downloads, the unpacked distribution and the node's data live under var/ (never committed).
STATE="${ES_STATE_DIR:-$REPO/var/es}"
ES_VERSION="${ES_VERSION:-9.4.6}"
ES_PORT="${ES_PORT:-9250}"
ES_HEAP="${ES_HEAP:-512m}"
ES_USER="${ES_USER:-esnode}"
JAVA_HOME_ES="${ES_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
ARTIFACT="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip"

CACHE="$STATE/cache"
DIST="$STATE/dist/elasticsearch-${ES_VERSION}"
RUN="$STATE/run"
URL="http://127.0.0.1:${ES_PORT}"

if curl -fsS "$URL/" >/dev/null 2>&1; then
  echo "something already answers on $URL; run stop-node.sh first (or set ES_PORT)" >&2
  exit 1
fi

# 1. Fetch the zip via Maven (Maven Central only), unless already cached.
ZIP="$CACHE/elasticsearch-${ES_VERSION}.zip"
if [ ! -f "$ZIP" ]; then
  mkdir -p "$CACHE"
  JAVA_HOME="$JAVA_HOME_ES" mvn -B -q ${ES_MVN_ARGS:-} \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
    -Dartifact="$ARTIFACT" -DoutputDirectory="$CACHE" -Dmdep.overWriteIfNewer=true
fi

# 2. Unpack once.
if [ ! -x "$DIST/bin/elasticsearch" ]; then
  mkdir -p "$STATE/dist"
  rm -rf "$DIST"
  unzip -q "$ZIP" -d "$STATE/dist"
fi

# 2b. Tiny stable analysis plugin (english analyzer, porter_stem, ...) built from ./english-plugin
if [ "${ES_ENGLISH_PLUGIN:-1}" = "1" ]; then
  "$HERE/english-plugin/build.sh" "$DIST" "$ES_VERSION" "$JAVA_HOME_ES"
else
  rm -rf "$DIST/plugins/es-step0-english"
fi

# 3. Unprivileged user (Elasticsearch refuses to run as root).
if ! id "$ES_USER" >/dev/null 2>&1; then
  useradd -r -M -s /usr/sbin/nologin "$ES_USER"
fi

# 4. Fresh config / data / logs dirs owned by that user.
rm -rf "$RUN"
mkdir -p "$RUN/config" "$RUN/data" "$RUN/logs" "$RUN/tmp"
cp -r "$DIST/config/." "$RUN/config/"
cat > "$RUN/config/elasticsearch.yml" <<EOF
cluster.name: es-step0
node.name: es-step0-node
discovery.type: single-node
network.host: 127.0.0.1
http.port: ${ES_PORT}
transport.port: $((ES_PORT + 100))
path.data: ${RUN}/data
path.logs: ${RUN}/logs
xpack.security.enabled: false
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
EOF
chown -R "$ES_USER" "$RUN"
chmod -R a+rX "$DIST"

# 5. Launch in the background (daemonized, pid file).
T0=$(date +%s.%N)
runuser -u "$ES_USER" -- env -i PATH=/usr/bin:/bin HOME="$RUN" \
  ES_JAVA_HOME="$JAVA_HOME_ES" ES_PATH_CONF="$RUN/config" ES_TMPDIR="$RUN/tmp" \
  ES_JAVA_OPTS="-Xms${ES_HEAP} -Xmx${ES_HEAP}" \
  "$DIST/bin/elasticsearch" -d -p "$RUN/es.pid" >"$RUN/logs/launcher.out" 2>&1 || {
    echo "launch failed:" >&2; cat "$RUN/logs/launcher.out" >&2; exit 1; }

# 6. Wait for yellow/green.
for _ in $(seq 1 180); do
  if curl -fsS "$URL/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
    T1=$(date +%s.%N)
    echo "$URL" > "$RUN/es-url"
    echo "$URL" > "$REPO/var/es.url"
    printf 'Elasticsearch %s up at %s (pid %s) in %.1fs\n' "$ES_VERSION" "$URL" "$(cat "$RUN/es.pid")" \
      "$(echo "$T1 - $T0" | bc)"
    exit 0
  fi
  sleep 1
done
echo "node did not become healthy; last log lines:" >&2
tail -n 40 "$RUN/logs/es-step0.log" >&2 || true
exit 1
