#!/usr/bin/env bash
# build-nomad.sh: builds a pinned Nomad agent from the Go module proxy, once
# per version, into a cache outside the clone, and prints its path.
#
#   scripts/build-nomad.sh            # nomad v$NOMAD_VERSION
#   REVOADA_TOOLS=/some/dir scripts/build-nomad.sh
#   scripts/build-nomad.sh --cached   # the path if built, else exit 3
#
# The cache is $REVOADA_TOOLS (default ${XDG_CACHE_HOME:-$HOME/.cache}/revoada-tools);
# the binary lands in $REVOADA_TOOLS/nomad-v$NOMAD_VERSION/nomad and is
# rebuilt only when missing. Nomad v1.6.1 is the last release under MPL-2.0
# (v1.6.2 adds BUSL-1.1 files). Its module zip lacks api/ (Nomad's go.mod
# replaces it with ./api), so a scratch module requires
# github.com/hashicorp/nomad at the pinned version, replaces
# github.com/hashicorp/nomad/api with the pseudo-version cut from the same
# tree, and copies Nomad's own go.mod replaces (go-winio, hcl v1,
# go-metrics) from the module cache; then it builds the main package, as
# Nomad's GNUmakefile does but without the "ui" tag (the UI bundle is
# generated, not in the module zip). cgo stays on (gcc), as in the
# GNUmakefile: the exec driver's runc nsenter needs it. It builds with Go
# 1.26 as is. A cold build took 19.2 min wall (6.4 min user CPU) on a
# loaded 2-core machine, with kube-apiserver building alongside; a 98 MB
# binary.
set -euo pipefail

version="${NOMAD_VERSION:-1.6.1}"
api="${NOMAD_API_VERSION:-v0.0.0-20230710102300-e8683e3f4958}"
. "$(dirname "$0")/tool-cache.sh"
tool_cache nomad "$version" nomad "${1:-}"
(
  cd "$work"
  go mod init revoada.dev/nomad-build >/dev/null 2>&1
  dir="$(go mod download -json "github.com/hashicorp/nomad@v$version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$dir" ] || { echo "build-nomad: no module directory for nomad v$version" >&2; exit 1; }
  # Nomad's own replaces, all but its api => ./api, which the module zip lacks.
  awk '
    /^replace \($/ { inblock = 1; next }
    inblock && /^\)$/ { inblock = 0; next }
    inblock && /=>/ { print; next }
    /^replace .*=>/ { sub(/^replace /, ""); print }
  ' "$dir/go.mod" | grep -v '^[[:space:]]*github.com/hashicorp/nomad/api ' |
  while read -r line; do
    from="${line%%=>*}"; to="${line#*=>}"
    from="$(echo $from | tr ' ' '@')"; to="$(echo $to | tr ' ' '@')"
    go mod edit -replace "$from=$to"
  done
  go mod edit -replace "github.com/hashicorp/nomad/api=github.com/hashicorp/nomad/api@$api"
  go mod edit -require "github.com/hashicorp/nomad@v$version"
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/hashicorp/nomad"
GO
  go mod tidy >&2
  CGO_ENABLED=1 go build -trimpath -o "$bin.tmp" "github.com/hashicorp/nomad" >&2
)
mv "$bin.tmp" "$bin"
echo "$bin"
