#!/usr/bin/env bash
# Builds (or reuses) the Go xDS interop client (main.go beside this script:
# grpc-go's google.golang.org/grpc/xds calling GreetService through the
# lookaside) into a cache outside git, as test/kube/build.sh does the control plane:
#
#   ${LOOKASIDE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookaside}/xds-go-client/xds-go-client
#
# Reused while its stamp (the Go version and every file here, this script
# included) matches; anything else is rebuilt and swapped in atomically
# (test/cache-build.sh). Prints the directory on stdout.
# About 1-2 minutes cold on 2 cores (modules from the Go module proxy); seconds when cached.
set -euo pipefail
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../cache-build.sh
source "$here/../cache-build.sh"

command -v go >/dev/null || { echo "go is required to build the Go xDS interop client (see README)" >&2; exit 1; }
stamp=$( { go version; cat "$here"/go.mod "$here"/go.sum "$here"/*.go; } | sha256sum | cut -c1-16)

complete() {
  [[ -x $1/xds-go-client ]]
}

build() {
  echo "building the Go xDS interop client ..." >&2
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$1/xds-go-client" .)
}

cache_build "$lookaside_cache_root/xds-go-client" "$stamp" "$(file_hash "$here/build.sh")" complete build
