# Sourced by start-node.sh and stop-node.sh: where the node's downloads, distribution and data live.
# ES_STATE_DIR if set. Otherwise var/es/ in the checkout, except as root: the node runs as an unprivileged
# user, who cannot reach a checkout under a private directory (a clone in `mktemp -d` is mode 700), so
# root keeps them under /var/lib/dxsearch-es/<checkout digest>, readable by that user.
es_state_dir() {
  local repo="$1"
  if [ -n "${ES_STATE_DIR:-}" ]; then
    echo "$ES_STATE_DIR"
  elif [ "$(id -u)" -eq 0 ]; then
    echo "/var/lib/dxsearch-es/$(printf '%s' "$repo" | sha256sum | cut -c1-12)"
  else
    echo "$repo/var/es"
  fi
}
