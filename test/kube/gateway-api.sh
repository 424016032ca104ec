#!/usr/bin/env bash
# Fetches (or reuses) the Gateway API standard-channel CRDs for the
# real-apiserver suite, from the Go module sigs.k8s.io/gateway-api at the
# version in GATEWAY_API_VERSION (checked against sum.golang.org by go), into
#
#   ${LOOKASIDE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookaside}/gateway-api-<version>/
#
# Idempotent and atomic, as build.sh. Prints the directory on stdout.
set -euo pipefail
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

here=$(cd "$(dirname "$0")" && pwd)
version=$(<"$here/GATEWAY_API_VERSION")
[[ $version =~ ^v1\.[0-9]+\.[0-9]+$ ]] || { echo "bad version in $here/GATEWAY_API_VERSION: $version" >&2; exit 2; }
cache_root=${LOOKASIDE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookaside}
dir="$cache_root/gateway-api-$version"

if [[ -f $dir/gateway.networking.k8s.io_grpcroutes.yaml ]]; then
  echo "reusing $dir" >&2
  echo "$dir"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to fetch the Gateway API CRDs (see README)" >&2; exit 1; }
module=$(cd "$(mktemp -d)" && go mod download -json "sigs.k8s.io/gateway-api@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $module/config/crd/standard ]] || { echo "no config/crd/standard in sigs.k8s.io/gateway-api@$version ($module)" >&2; exit 1; }
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.gateway-api-$version.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$module"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$work/"
chmod 755 "$work"; chmod 644 "$work"/*
rm -rf "$dir" && mv "$work" "$dir"
trap - EXIT
echo "fetched the Gateway API $version standard CRDs into $dir" >&2
echo "$dir"
