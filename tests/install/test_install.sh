#!/usr/bin/env bash
# cmake --install puts discover, its sandbox worker, prompts, examples, data and the objective
# header under a prefix, and the installed binary finds them there (not in the source tree).
# Usage: test_install.sh BUILD_DIR
set -u
build=$1
tmp=$(mktemp -d /tmp/discover-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@" >"$tmp/out" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAILED: $what"; sed 's/^/    /' "$tmp/out" | head -20; fi
}
check "cmake --install" cmake --install "$build" --prefix "$tmp/prefix"
p=$tmp/prefix
check "binary installed" test -x "$p/bin/discover"
check "worker installed" test -x "$p/bin/discover-sandbox"
check "prompts installed" test -f "$p/share/discover/prompts/system_sentiment.txt"
check "examples installed" test -f "$p/share/discover/examples/objectives/fashion/gce.c"
check "data installed" test -f "$p/share/discover/data/sentiment/vader_lexicon.txt"
check "header installed" test -f "$p/share/discover/discover_objective.h"
mkdir -p "$tmp/elsewhere" && cd "$tmp/elsewhere" || exit 1
# No DISCOVER_HOME / DISCOVER_WORKER: the installed binary must find its own files.
run() { env -u DISCOVER_HOME -u DISCOVER_WORKER "$p/bin/discover" "$@"; }
check "installed check accepts an installed example" \
  bash -c "$(declare -f run); p='$p'; run check '$p/share/discover/examples/objectives/sentiment/lrml.c' --task sentiment --json | grep -q '\"status\":\"ok\"'"
check "installed eval trains" \
  bash -c "$(declare -f run); p='$p'; run eval '$p/share/discover/examples/objectives/fashion/gce.c' --steps 20 --set train_size=1000 --set val_size=500 --json 2>/dev/null | grep -q '\"status\":.*\"ok\"'"
check "installed run finds its prompts and baselines" \
  bash -c "$(declare -f run); p='$p'; run run --task fashion --generations 1 --archive '$tmp/a.db' --set steps=10 --set train_size=500 --set val_size=500 --quiet"
check "an exported objective compiles against the installed header" \
  bash -c "$(declare -f run); p='$p'; run export 1 --archive '$tmp/a.db' -o '$tmp/x.c' && cc -std=c99 -Wall -Werror -fsyntax-only -include '$p/share/discover/discover_objective.h' '$tmp/x.c'"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
