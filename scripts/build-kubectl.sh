#!/usr/bin/env bash
# build-kubectl.sh: builds a pinned kubectl from the Go module proxy, once
# per version, into a cache outside the clone, and prints its path.
#
#   scripts/build-kubectl.sh            # kubectl v$KUBECTL_VERSION
#   REVOADA_TOOLS=/some/dir scripts/build-kubectl.sh
#   scripts/build-kubectl.sh --cached   # the path if built, else exit 3
#
# The cache is $REVOADA_TOOLS (default ${XDG_CACHE_HOME:-$HOME/.cache}/revoada-tools);
# the binary lands in $REVOADA_TOOLS/kubectl-v$KUBECTL_VERSION/kubectl and
# is rebuilt only when missing. A scratch module requires k8s.io/kubectl and
# k8s.io/component-base at the pinned version and calls
# cmd.NewDefaultKubectlCommand(), as k8s.io/kubernetes/cmd/kubectl does;
# the version is stamped with -ldflags. A cold build took 38.6 min on a
# loaded 2-core machine (../shared/research/production-node.md §3).
set -euo pipefail

version="${KUBECTL_VERSION:-1.37.2}"
. "$(dirname "$0")/tool-cache.sh"
tool_cache kubectl "$version" kubectl "${1:-}"
minor="${version#*.}"; minor="${minor%%.*}"
staging="0.${version#*.}"
cat > "$work/main.go" <<'GO'
// Command kubectl is kubectl, built from its module at a pinned version.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
GO
(
  cd "$work"
  go mod init revoada.dev/kubectl-build >/dev/null 2>&1
  go get "k8s.io/kubectl@v$staging" "k8s.io/component-base@v$staging" >&2
  go mod tidy >&2
  pkg=k8s.io/component-base/version
  go build -trimpath -o "$bin.tmp" \
    -ldflags "-s -w -X $pkg.gitVersion=v$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" . >&2
)
mv "$bin.tmp" "$bin"
echo "$bin"
