#!/usr/bin/env bash
# Build the tiny stable analysis plugin against the jars shipped in the ES distribution and install it
# (unpacked) into DIST/plugins/es-step0-english.  Usage: build.sh DIST_DIR ES_VERSION JAVA_HOME
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; DIST="$1"; V="$2"; JH="$3"
OUT="$(dirname "$DIST")/english-plugin-build"; rm -rf "$OUT"; mkdir -p "$OUT/classes"
"$JH/bin/javac" --release 21 -d "$OUT/classes" -cp "$DIST/lib/*" $(find "$HERE/src" -name '*.java')
"$JH/bin/jar" --create --file "$OUT/es-step0-english.jar" -C "$OUT/classes" .
P="$DIST/plugins/es-step0-english"; rm -rf "$P"; mkdir -p "$P"
cp "$OUT/es-step0-english.jar" "$HERE/named_components.json" "$P/"
cat > "$P/stable-plugin-descriptor.properties" <<PROPS
description=English analyzer and stemming filters wrapping Lucene analysis-common
version=0.1
name=es-step0-english
java.version=21
elasticsearch.version=$V
PROPS
