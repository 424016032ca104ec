#!/usr/bin/env bash
# Builds (or reuses) the test control plane: kube-apiserver, kubectl and etcd,
# from the Go wrapper modules next to this script, into a cache outside git:
#
#   ${LOOKASIDE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookaside}/kube-<version>/
#
# Idempotent: a directory whose STAMP matches the committed go.mod/go.sum
# files and the Go version, and whose RECIPE matches this script, is reused as
# is; anything else is rebuilt and swapped in atomically (test/cache-build.sh).
# Prints the directory on stdout (logs go to stderr). Expect 10-20 minutes
# cold on 2 cores; seconds when cached.
set -euo pipefail
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../cache-build.sh
source "$here/../cache-build.sh"
version=$(<"$here/VERSION")
[[ $version =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || { echo "bad version in $here/VERSION: $version" >&2; exit 2; }
minor=${BASH_REMATCH[1]}
binaries=(kube-apiserver kubectl etcd)

command -v go >/dev/null || { echo "go is required to build the test control plane (see README)" >&2; exit 1; }
stamp=$( { go version; cat "$here"/apiserver/go.{mod,sum} "$here"/etcd/go.{mod,sum}; } | sha256sum | cut -c1-16)

complete() {
  local b
  for b in "${binaries[@]}"; do [[ -x $1/$b ]] || return 1; done
}

build() {
  local work=$1 pkg
  # Kubernetes' release builds stamp the version the same way (hack/lib/version.sh);
  # without it the binaries call themselves v0.0.0-master and kubectl warns of skew.
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "building kube-apiserver and kubectl $version ..." >&2
  (cd "$here/apiserver" && go build -trimpath -ldflags "$ldflags" -o "$work/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
  echo "building etcd ..." >&2
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$work/etcd" go.etcd.io/etcd/server/v3)
}

cache_build "$lookaside_cache_root/kube-$version" "$stamp" "$(file_hash "$here/build.sh")" complete build
