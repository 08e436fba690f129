#!/usr/bin/env bash
# Build the small stable analysis plugin against the jars shipped in the Elasticsearch distribution and
# install it, unpacked, into DIST/plugins/dxsearch-analysis.
#   Usage: build.sh DIST_DIR ES_VERSION JAVA_HOME ECJ_JAR
# It compiles with the Eclipse compiler (ecj, from Maven Central) run on the node's own Java runtime,
# so no JDK 21+ with javac is needed: the runtime that runs the node is enough.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; DIST="$1"; V="$2"; JH="$3"; ECJ="$4"
OUT="$(dirname "$DIST")/analysis-plugin-build"; rm -rf "$OUT"; mkdir -p "$OUT/classes"
"$JH/bin/java" -jar "$ECJ" -21 -nowarn -d "$OUT/classes" -cp "$(printf '%s:' "$DIST"/lib/*.jar)" \
  $(find "$HERE/src" -name '*.java')
# A jar is a zip: Python's zipfile writes it, so no `jar` tool is needed either.
python3 -c 'import sys, zipfile, pathlib
root = pathlib.Path(sys.argv[1])
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as jar:
    for path in sorted(root.rglob("*.class")):
        jar.write(path, path.relative_to(root).as_posix())' "$OUT/classes" "$OUT/dxsearch-analysis.jar"
P="$DIST/plugins/dxsearch-analysis"; rm -rf "$P"; mkdir -p "$P"
cp "$OUT/dxsearch-analysis.jar" "$HERE/named_components.json" "$P/"
cat > "$P/stable-plugin-descriptor.properties" <<PROPS
description=DxSearch analysis: tantivy's en_stem analysis (dxsearch_en_stem), English analyzer and stemming filters, from Lucene analysis-common
version=1.0
name=dxsearch-analysis
java.version=21
elasticsearch.version=$V
PROPS
