# Sourced (not run) by the scripts that build or fetch test tools into a cache
# outside git: test/kube/build.sh, test/kube/gateway-api.sh,
# test/xds-go-client/build.sh. One place for where the cache is and for
# "build into a temporary directory, then swap it in", so an interrupted
# build never leaves a half-filled directory behind.

# shellcheck shell=bash
lookaside_cache_root=${LOOKASIDE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookaside}

# cache_build DIR STAMP RECIPE COMPLETE BUILD
#   DIR       the cached directory
#   STAMP     hash of the build's inputs, kept in DIR/STAMP ("" when DIR's name pins them)
#   RECIPE    hash of the build recipe, kept in DIR/RECIPE ("" for none). A
#             directory without RECIPE was made before recipes were recorded:
#             it is kept and the RECIPE written (STAMP is never rewritten, so
#             older copies of a script keep reusing it too).
#   COMPLETE  command run with DIR: succeeds when DIR holds a finished build
#   BUILD     command run with an empty directory to fill
# Reuses DIR when its STAMP, its RECIPE and COMPLETE all agree; otherwise
# builds into a fresh directory beside it and swaps that in. Prints DIR on
# stdout; logs go to stderr.
cache_build() {
  local dir=$1 stamp=$2 recipe=$3 complete=$4 build=$5
  if cache_is_current "$dir" "$stamp" "$recipe" && "$complete" "$dir"; then
    [[ -z $recipe || -f $dir/RECIPE ]] || echo "$recipe" > "$dir/RECIPE"
    echo "reusing $dir" >&2
    echo "$dir"
    return 0
  fi
  local parent work start
  parent=$(dirname "$dir")
  mkdir -p "$parent"
  work=$(mktemp -d "$parent/.$(basename "$dir").XXXXXX")
  chmod 755 "$work"
  # shellcheck disable=SC2064 # expanded now: the trap must remove this directory
  trap "rm -rf '$work'" EXIT
  start=$(date +%s)
  "$build" "$work"
  [[ -z $stamp ]] || echo "$stamp" > "$work/STAMP"
  [[ -z $recipe ]] || echo "$recipe" > "$work/RECIPE"
  rm -rf "$dir.old"
  if [[ -e $dir ]]; then mv "$dir" "$dir.old"; fi
  mv "$work" "$dir"
  rm -rf "$dir.old"
  trap - EXIT
  echo "made $dir in $(( $(date +%s) - start ))s" >&2
  echo "$dir"
}

# cache_is_current DIR STAMP RECIPE: DIR's STAMP and RECIPE files say these (see cache_build).
cache_is_current() {
  local dir=$1 stamp=$2 recipe=$3
  [[ -d $dir ]] || return 1
  if [[ -n $stamp ]]; then [[ -f $dir/STAMP && $(<"$dir/STAMP") == "$stamp" ]] || return 1; fi
  if [[ -n $recipe && -f $dir/RECIPE ]]; then [[ $(<"$dir/RECIPE") == "$recipe" ]] || return 1; fi
  return 0
}

# file_hash FILE…: a short hash of the files' contents.
file_hash() {
  cat "$@" | sha256sum | cut -c1-16
}
