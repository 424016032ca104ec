#!/usr/bin/env bash
# Fetches (or reuses) the Gateway API standard-channel CRDs for the
# real-apiserver suite, from the Go module sigs.k8s.io/gateway-api at the
# version in GATEWAY_API_VERSION (checked against sum.golang.org by go), into
#
#   ${LOOKASIDE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookaside}/gateway-api-<version>/
#
# Idempotent and atomic, as build.sh (test/cache-build.sh); the directory's
# name pins its content. Prints the directory on stdout.
set -euo pipefail
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../cache-build.sh
source "$here/../cache-build.sh"
version=$(<"$here/GATEWAY_API_VERSION")
[[ $version =~ ^v1\.[0-9]+\.[0-9]+$ ]] || { echo "bad version in $here/GATEWAY_API_VERSION: $version" >&2; exit 2; }

complete() {
  [[ -f $1/gateway.networking.k8s.io_grpcroutes.yaml ]]
}

fetch() {
  local work=$1 module
  command -v go >/dev/null || { echo "go is required to fetch the Gateway API CRDs (see README)" >&2; exit 1; }
  module=$(cd "$(mktemp -d)" && go mod download -json "sigs.k8s.io/gateway-api@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $module/config/crd/standard ]] || { echo "no config/crd/standard in sigs.k8s.io/gateway-api@$version ($module)" >&2; exit 1; }
  echo "fetching the Gateway API $version standard CRDs ..." >&2
  cp "$module"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$work/"
  chmod 644 "$work"/*
}

cache_build "$lookaside_cache_root/gateway-api-$version" "" "" complete fetch
