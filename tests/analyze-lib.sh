# shellcheck shell=bash
# tests/analyze-lib.sh: sourced by the fuseanalyze tests (analyze-*.sh).
#
#   $FUSEANALYZE  the binary under test (the build's; ASan in a sanitizer build)
#   $TRACEGEN     fuseanalyze-tracegen: synthesized traces with known content
#   $AN_TMP       a private temp dir, removed on exit
#   an_fail MSG / an_skip MSG / an_log MSG
#   an_json FILE  python3 -c 'json.load' check (fails the test if invalid)
#   an_py SCRIPT ARGS...  python3 with the script on stdin
# A watchdog ends the test after ${AN_TIMEOUT:-300} s.

an_log()  { printf '[%s %s] %s\n' "$(date +%T)" "${AN_NAME:-analyze}" "$*" >&2; }
an_fail() { an_log "FAIL: $*"; exit 1; }
an_skip() { an_log "SKIP: $*"; exit 77; }

AN_NAME=$(basename "$0" .sh)
AN_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ -n "${FUSEANALYZE:-}" ] && [ -x "$FUSEANALYZE" ] || an_skip "FUSEANALYZE is not set or not executable"
[ -n "${TRACEGEN:-}" ] && [ -x "$TRACEGEN" ] || an_skip "TRACEGEN is not set or not executable"
command -v python3 >/dev/null || an_skip "python3 not installed"

AN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/an-$AN_NAME.XXXXXX")
an__cleanup() {
  [ -n "${AN_WATCHDOG:-}" ] && kill "$AN_WATCHDOG" 2>/dev/null
  rm -rf "$AN_TMP"
}
trap an__cleanup EXIT
trap 'an_log "FAIL: timed out after ${AN_TIMEOUT:-300} s (watchdog)"; exit 1' TERM
# Away from stdout/stderr, so a harness waiting for them to close never
# waits for the watchdog; killing it also ends its sleep.
( sleep "${AN_TIMEOUT:-300}" & s=$!; trap 'kill $s 2>/dev/null; exit 0' TERM
  wait $s && kill -TERM $$ ) </dev/null >/dev/null 2>&1 &
AN_WATCHDOG=$!

an_json() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" || an_fail "$1 is not valid JSON"; }
an_py() { python3 - "$@"; }

# Run fuseanalyze; a crash (signal, sanitizer report) fails the test whatever
# the caller expected.  Sets AN_RC.
an_run() {
  AN_RC=0
  "$FUSEANALYZE" "$@" || AN_RC=$?
  if [ "$AN_RC" = 86 ] || [ "$AN_RC" -ge 126 ]; then
    an_fail "fuseanalyze $* exited $AN_RC (crash or sanitizer report)"
  fi
  if [ "$AN_RC" = 1 ] && [ "${1:-}" != diff ]; then
    an_fail "fuseanalyze $* exited 1, which only diff may"
  fi
  return 0
}
