#!/usr/bin/env bash
# Builds (or reuses) the Go xDS interop client (main.go beside this script:
# grpc-go's google.golang.org/grpc/xds calling GreetService through the
# lookaside) into a cache outside git, as test/kube/build.sh does the control plane:
#
#   ${LOOKASIDE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookaside}/xds-go-client/xds-go-client
#
# Reused while its stamp (the Go version and every file here) matches; anything
# else is rebuilt and swapped in atomically. Prints the directory on stdout.
# About 1-2 minutes cold on 2 cores (modules from the Go module proxy); seconds when cached.
set -euo pipefail
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${LOOKASIDE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookaside}
dir="$cache_root/xds-go-client"

command -v go >/dev/null || { echo "go is required to build the Go xDS interop client (see README)" >&2; exit 1; }
stamp=$( { go version; cat "$here"/go.mod "$here"/go.sum "$here"/*.go; } | sha256sum | cut -c1-16)

if [[ -f $dir/STAMP && $(<"$dir/STAMP") == "$stamp" && -x $dir/xds-go-client ]]; then
  echo "reusing $dir" >&2
  echo "$dir"
  exit 0
fi

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.xds-go-client.XXXXXX")
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "building the Go xDS interop client into $dir ..." >&2
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$work/xds-go-client" .)
echo "$stamp" > "$work/STAMP"
rm -rf "$dir.old"
[[ -e $dir ]] && mv "$dir" "$dir.old"
mv "$work" "$dir"
rm -rf "$dir.old"
trap - EXIT
echo "built $dir in $(( $(date +%s) - start ))s" >&2
echo "$dir"
