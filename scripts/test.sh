#!/usr/bin/env bash
# `npm test`: build, node unit tests, then the Python conformance suite against the real server.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -k h2spec -x    extra arguments go to pytest
#
# Environment: CI=true turns "tool missing -> skip" into "tool missing -> fail" in the conformance
# suite; SKIP_UNIT=1 / SKIP_CONFORMANCE=1 leave a stage out (local iteration only).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=$ROOT/.venv
TOOLS_BIN=$ROOT/.tools/bin
REQUIREMENTS=$ROOT/tests/requirements.txt
export PATH="$TOOLS_BIN:$PATH"

declare -a RESULTS=()
FAILED=0
started=$(date +%s)

stage() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
record() { # record NAME STATUS
  RESULTS+=("$1: $2")
  case $2 in ok|skipped*) ;; *) FAILED=1 ;; esac
}

summary() {
  local rc=$1 elapsed=$(( $(date +%s) - started ))
  if [[ $rc -ne 0 && $FAILED -eq 0 ]]; then RESULTS+=("aborted (exit $rc, see the output above)"); FAILED=1; fi
  local joined="" r
  for r in "${RESULTS[@]}"; do joined+="${joined:+; }$r"; done
  if [[ $FAILED -eq 0 ]]; then
    printf '\n\033[1;32mTEST SUMMARY: PASSED\033[0m (%s) in %ss\n' "$joined" "$elapsed"
  else
    printf '\n\033[1;31mTEST SUMMARY: FAILED\033[0m (%s) in %ss\n' "$joined" "$elapsed"
  fi
}
trap 'summary $?' EXIT

# --- 1. build -----------------------------------------------------------------------------------
# tsc still emits JavaScript when there are type errors, so a broken build is recorded as a failure
# but the later stages still run: their results say more than "the build failed".
stage "build (tsc -p .)"
if npx --no-install tsc -p .; then record build ok; else record build FAILED; fi

# --- 2. node unit tests -------------------------------------------------------------------------
# Test files are listed explicitly: `node --test DIR` searches DIR on Node 20 but is treated as a
# module path (MODULE_NOT_FOUND) on Node 21+.
if [[ ${SKIP_UNIT:-} == 1 ]]; then
  record unit "skipped (SKIP_UNIT=1)"
else
  stage "unit tests (node --test)"
  mapfile -t unit_files < <(find dist/tests/unit -name '*.test.js' -type f 2>/dev/null | sort)
  if [[ ${#unit_files[@]} -eq 0 ]]; then
    echo "no unit test files under dist/tests/unit"
    record unit "skipped (no tests)"
  elif node --test "${unit_files[@]}"; then
    record unit ok
  else
    record unit FAILED
  fi
fi

if [[ ${SKIP_CONFORMANCE:-} == 1 ]]; then
  record conformance "skipped (SKIP_CONFORMANCE=1)"
  exit "$FAILED"
fi

# --- 3. Python venv for the conformance suite ---------------------------------------------------
# Rebuilt only when the requirements (or the Python version) change: a stamp holds their hash.
stage "python venv (.venv)"
want_stamp="$( { python3 --version 2>&1; cat "$REQUIREMENTS"; } | sha256sum | cut -d' ' -f1)"
stamp_file=$VENV/.requirements.sha256
if [[ -x $VENV/bin/python && -f $stamp_file && $(cat "$stamp_file") == "$want_stamp" ]]; then
  echo "up to date"
else
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want_stamp" > "$stamp_file"
  echo "installed $(wc -l < "$REQUIREMENTS") requirement lines"
fi

# --- 4. h2spec ----------------------------------------------------------------------------------
stage "h2spec"
if [[ -n ${H2SPEC:-} && -x ${H2SPEC:-} ]]; then
  echo "using \$H2SPEC=$H2SPEC"
elif command -v h2spec >/dev/null 2>&1; then
  echo "using $(command -v h2spec)"
elif command -v go >/dev/null 2>&1; then
  echo "installing into $TOOLS_BIN with go install"
  mkdir -p "$TOOLS_BIN"
  if GOBIN=$TOOLS_BIN go install github.com/summerwind/h2spec/cmd/h2spec@latest; then
    echo "installed $TOOLS_BIN/h2spec"
  else
    echo "WARNING: go install of h2spec failed; the h2spec tests will skip (or fail when CI=true)"
  fi
else
  echo "WARNING: h2spec not found and no Go toolchain to build it; the h2spec tests will skip (or fail when CI=true)"
fi

# --- 5. conformance suite -----------------------------------------------------------------------
stage "conformance tests (pytest tests/conformance)"
if "$VENV/bin/python" -m pytest tests/conformance -q "$@"; then
  record conformance ok
else
  rc=$?
  # pytest exit code 5 = nothing collected (e.g. a -k filter that matched nothing).
  if [[ $rc -eq 5 ]]; then record conformance "skipped (no tests collected)"; else record conformance "FAILED (pytest exit $rc)"; fi
fi

exit "$FAILED"
