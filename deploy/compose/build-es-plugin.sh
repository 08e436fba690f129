#!/usr/bin/env bash
# Package the project's analysis plugin for the official Elasticsearch image, as an installable zip.
#   Usage: deploy/compose/build-es-plugin.sh      (after `make es` once: it fetched the jars and the compiler)
# Writes deploy/compose/es-plugin/dxsearch-analysis.zip and the same file as deploy/k8s/es-plugin/dxsearch-analysis.zip;
# the compose file's es-plugin service and the Kubernetes init container install that zip with
# `elasticsearch-plugin install --batch file:///plugin/dxsearch-analysis.zip`.
#
# It compiles the sources of deploy/elasticsearch/local-node/analysis-plugin with that directory's build.sh,
# against the jars of the Elasticsearch distribution `make es` unpacked (the same jars as the image's
# lib/). The zip names only the analyzer dxsearch_en_stem: the official image has the analysis-common
# module, which already registers `english`, `porter_stem` and `asciifolding`, and a node refuses to start
# when two components share a name. The local node's plugin adds those three because its distribution lacks
# analysis-common.
# Knobs: ES_VERSION (9.4.6, must equal the image's), ES_STATE_DIR (var/es), ES_JAVA_HOME (Java 21+).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ES_VERSION="${ES_VERSION:-9.4.6}"
STATE="${ES_STATE_DIR:-$REPO/var/es}"
DIST="$STATE/dist/elasticsearch-${ES_VERSION}"
ECJ="$STATE/cache/ecj-3.41.0.jar"
SRC="$REPO/deploy/elasticsearch/local-node/analysis-plugin"
if [ ! -d "$DIST/lib" ] || [ ! -f "$ECJ" ]; then
  echo "error: no Elasticsearch $ES_VERSION jars in $DIST/lib or no $ECJ: run \`make es\` once first" >&2
  exit 2
fi
JAVA_HOME_ES="${ES_JAVA_HOME:-}"
if [ -z "$JAVA_HOME_ES" ]; then  # the newest JDK under /usr/lib/jvm that is 21 or newer, as start-node.sh picks it
  best=0
  for candidate in /usr/lib/jvm/*/; do
    candidate="${candidate%/}"
    major="$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$candidate/release" 2>/dev/null || true)"
    if [ -n "$major" ] && [ "$major" -ge 21 ] && [ "$major" -gt "$best" ]; then best="$major"; JAVA_HOME_ES="$candidate"; fi
  done
fi
[ -n "$JAVA_HOME_ES" ] || { echo "error: no Java 21+ under /usr/lib/jvm; set ES_JAVA_HOME" >&2; exit 2; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# build.sh compiles against DIST/lib and installs into DIST/plugins: give it a scratch DIST whose lib/ is
# the real one, so the distribution `make es` runs is left alone.
mkdir -p "$WORK/dist-$ES_VERSION/plugins"
ln -s "$DIST/lib" "$WORK/dist-$ES_VERSION/lib"
"$SRC/build.sh" "$WORK/dist-$ES_VERSION" "$ES_VERSION" "$JAVA_HOME_ES" "$ECJ" >&2
BUILT="$WORK/dist-$ES_VERSION/plugins/dxsearch-analysis"
python3 - "$BUILT" "$WORK/dxsearch-analysis.zip" "$ES_VERSION" <<'PY'
import json, sys, zipfile
from pathlib import Path

built, out, version = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
components = {"org.elasticsearch.plugin.analysis.AnalyzerFactory": {
    "dxsearch_en_stem": "dxsearch.analysis.EnStemAnalyzerFactory"}}
descriptor = (
    "description=DxSearch analysis: tantivy's en_stem analysis (dxsearch_en_stem), for BM25 parity\n"
    f"version=1.0\nname=dxsearch-analysis\njava.version=21\nelasticsearch.version={version}\n"
)
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
    zf.write(built / "dxsearch-analysis.jar", "dxsearch-analysis.jar")
    zf.writestr("named_components.json", json.dumps(components, indent=2) + "\n")
    zf.writestr("stable-plugin-descriptor.properties", descriptor)
PY
for out in "$HERE/es-plugin" "$REPO/deploy/k8s/es-plugin"; do
  mkdir -p "$out"
  cp "$WORK/dxsearch-analysis.zip" "$out/dxsearch-analysis.zip"
  echo "$out/dxsearch-analysis.zip"
done
