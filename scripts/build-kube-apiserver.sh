#!/usr/bin/env bash
# build-kube-apiserver.sh: builds a pinned kube-apiserver from the Go module
# proxy, once per version, into a cache outside the clone, and prints its path.
#
#   scripts/build-kube-apiserver.sh            # kube-apiserver v$KUBE_APISERVER_VERSION
#   REVOADA_TOOLS=/some/dir scripts/build-kube-apiserver.sh
#   scripts/build-kube-apiserver.sh --cached   # the path if built, else exit 3
#
# The cache is $REVOADA_TOOLS (default ${XDG_CACHE_HOME:-$HOME/.cache}/revoada-tools);
# the binary lands in $REVOADA_TOOLS/kube-apiserver-v$VERSION/kube-apiserver
# and is rebuilt only when missing. k8s.io/kubernetes replaces each of its
# k8s.io/* staging modules with ./staging/src/k8s.io/<name>, which a module
# that requires it cannot see; a scratch module requires k8s.io/kubernetes
# at the pinned version and replaces every one of those (read from
# kubernetes's own go.mod) with its published v0.<minor>.<patch> twin, then
# builds k8s.io/kubernetes/cmd/kube-apiserver with the version stamped by
# -ldflags. A cold build cache took 20.4 min wall (10.3 min user CPU), niced,
# on a 2-core machine shared with four other builds (the staging modules were
# already in the module cache from build-kubectl.sh; kubernetes itself and
# the rest were downloaded).
# kube-apiserver needs an etcd 3.4+ (Debian's etcd-server) to run.
set -euo pipefail

version="${KUBE_APISERVER_VERSION:-1.37.2}"
. "$(dirname "$0")/tool-cache.sh"
tool_cache kube-apiserver "$version" kube-apiserver "${1:-}"
minor="${version#*.}"; minor="${minor%%.*}"
staging="0.${version#*.}"
(
  cd "$work"
  go mod init revoada.dev/kube-apiserver-build >/dev/null 2>&1
  # kubernetes's go.mod, for its list of staging replacements.
  gomod="$(go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  mods="$(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*#\1#p' "$gomod")"
  if [ -z "$mods" ]; then
    echo "build-kube-apiserver: no staging replacements found in $gomod" >&2
    exit 1
  fi
  args=()
  for m in $mods; do
    args+=("-replace=$m=$m@v$staging")
  done
  go mod edit "${args[@]}" "-require=k8s.io/kubernetes@v$version"
  cat > tools.go <<'GO'
//go:build tools

// Package tools pins the command this module builds.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  go mod tidy >&2
  pkg=k8s.io/component-base/version
  go build -trimpath -o "$bin.tmp" \
    -ldflags "-s -w -X $pkg.gitVersion=v$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kube-apiserver >&2
)
mv "$bin.tmp" "$bin"
echo "$bin"
