#!/bin/sh
# The image's entrypoint: starts node with V8 heap limits sized from the
# container's memory limit, so one image fits any limit and nobody sizes the
# heap by hand. Under 256Mi (deploy/base) that is a young generation of at
# most 2 x 4 MB (Node's own 2 x 16 MB would be a quarter of the budget, and it
# fills under load), an old generation capped at half the limit and let grow
# 15% past its live data before collecting (not several times it). No limit
# (or none readable): node's defaults. Flags given to the container come
# after these, so they win.
#   NODE_LIMITS_MEMORY_FILE  where the limit is read (tests and benches)
#   --print-flags            as the first argument: print the flags, start nothing
set -eu
file=${NODE_LIMITS_MEMORY_FILE:-/sys/fs/cgroup/memory.max}
if [ ! -r "$file" ] && [ -z "${NODE_LIMITS_MEMORY_FILE:-}" ]; then
  file=/sys/fs/cgroup/memory/memory.limit_in_bytes # cgroup v1
fi
limit=$(cat "$file" 2>/dev/null || echo max)
flags=""
case "$limit" in
  '' | *[!0-9]*) ;; # "max": no limit
  *)
    mib=$((limit / 1048576))
    if [ "$mib" -ge 16 ] && [ "$mib" -lt 1048576 ]; then # cgroup v1 says "no limit" with a huge number
      semi=$((mib / 64))
      if [ "$semi" -lt 1 ]; then semi=1; fi
      if [ "$semi" -gt 16 ]; then semi=16; fi
      flags="--max-old-space-size=$((mib / 2)) --max-semi-space-size=$semi --heap-growing-percent=15"
    fi
    ;;
esac
if [ "${1:-}" = "--print-flags" ]; then
  echo "$flags"
  exit 0
fi
# shellcheck disable=SC2086 # the flags are separate words
exec node $flags "$@"
