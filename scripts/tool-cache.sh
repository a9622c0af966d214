# tool-cache.sh: the cache every scripts/build-*.sh shares; sourced, not run.
#
#   tool_cache NAME VERSION BINARY [--cached]
#
# The cache is $REVOADA_TOOLS (default ${XDG_CACHE_HOME:-$HOME/.cache}/revoada-tools).
# When $REVOADA_TOOLS/NAME-vVERSION/BINARY is built, it prints that path and
# exits 0; with --cached and nothing built, it says so and exits 3.
# Otherwise it sets out (the directory to build into), bin (the binary's
# path there) and work (a scratch directory, removed when the script exits).
tool_cache() {
  local name="$1" version="$2" binary="$3" mode="${4:-}"
  local tools="${REVOADA_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/revoada-tools}"
  out="$tools/$name-v$version"
  bin="$out/$binary"
  if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
  fi
  if [ "$mode" = --cached ]; then
    echo "$name v$version is not built: run scripts/build-$name.sh" >&2
    exit 3
  fi
  mkdir -p "$out"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
}
