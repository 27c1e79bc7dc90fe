# shellcheck shell=bash
# tests/replay-lib.sh: sourced by the tests/replay-*.sh tests of fusereplay.
#
# Replay needs no mount and no root: the targets are the in-process passthrough and
# test daemons on a socketpair.  Sourcing this file
#   - skips (77) unless $FUSEREPLAY and $REPLAY_GEN are executables;
#   - makes a private temp dir $RP_TMP (on /dev/shm unless TMPDIR is set), removed
#     on exit (RP_KEEP=1 keeps it);
#   - starts a watchdog that ends the test after $RP_TIMEOUT s (default 240);
#   - makes sanitizer reports fail the test: ASan exits 99, UBSan 98, and every
#     run's stderr is searched for reports (our exit 1 means "divergences").
#
#   rp_gen NAME ARGS...        replay-gen ARGS (recording NAME); fails if it fails
#   rp_replay RC NAME ARGS...  fusereplay ARGS; stdout in $RP_TMP/NAME.out, stderr in
#                              NAME.err; fails unless the exit status is RC
#   rp_fixture DIR             the golden fixture: data.txt (5600 bytes) and docs/
#   rp_json FILE EXPR          print a Python expression over the JSON in FILE (j)
#   rp_expect FILE REGEX       fail unless FILE has a line matching REGEX (grep -E)

rp_log()  { printf '[%s %s] %s\n' "$(date +%T)" "$RP_NAME" "$*" >&2; }
rp_fail() { rp_log "FAIL: $*"; exit 1; }
rp_skip() { rp_log "SKIP: $*"; exit 77; }

RP_NAME=$(basename "$0" .sh)
[ -x "${FUSEREPLAY:-}" ] || rp_skip "FUSEREPLAY not built"
[ -x "${REPLAY_GEN:-}" ] || rp_skip "REPLAY_GEN not built"
command -v python3 >/dev/null || rp_skip "python3 not installed"

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=99:detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:exitcode=98:print_stacktrace=1"

# tmpfs when there is one: the fixtures see thousands of creates, and a disk shared
# with other tests' fsyncs makes each one take milliseconds
rp_base=${TMPDIR:-/tmp}
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && rp_base=/dev/shm
RP_TMP=$(mktemp -d "$rp_base/fp-$RP_NAME.XXXXXX")
RP_WATCHDOG=

rp__cleanup() {
  local rc=$?
  [ -n "$RP_WATCHDOG" ] && kill "$RP_WATCHDOG" 2>/dev/null
  # a failure keeps its traces and daemon logs: a rare one can be read afterwards
  if [ -n "${RP_KEEP:-}" ] || { [ "$rc" != 0 ] && [ "$rc" != 77 ]; }; then
    rp_log "kept $RP_TMP"
  else
    rm -rf "$RP_TMP"
  fi
}
trap rp__cleanup EXIT
trap 'rp_log "interrupted"; exit 1' INT TERM

# The watchdog signals only this shell; its trap ends the test, and every command
# below runs under timeout(1), so nothing outlives it.
# Its sleep holds no output pipe, or meson would wait for it after the test ends.
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "${RP_TIMEOUT:-240}" >/dev/null 2>&1 &
  sp=$!
  wait "$sp" || exit 0
  rp_log "watchdog: test took more than ${RP_TIMEOUT:-240} s"
  kill -TERM $$
) &
RP_WATCHDOG=$!

rp__sanitizer_check() {
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1"; then
    cat "$1" >&2
    rp_fail "sanitizer report in $(basename "$1")"
  fi
}

rp_gen() {
  local name=$1
  shift
  timeout -k 5 120 "$REPLAY_GEN" "$@" >"$RP_TMP/$name.gen.out" 2>"$RP_TMP/$name.gen.err" || {
    cat "$RP_TMP/$name.gen.err" >&2
    rp_fail "replay-gen $* failed"
  }
  rp__sanitizer_check "$RP_TMP/$name.gen.err"
}

rp_replay() {
  local want=$1 name=$2 rc=0
  shift 2
  timeout -k 5 "${RP_RUN_TIMEOUT:-120}" "$FUSEREPLAY" "$@" \
    >"$RP_TMP/$name.out" 2>"$RP_TMP/$name.err" || rc=$?
  rp__sanitizer_check "$RP_TMP/$name.err"
  if [ "$rc" != "$want" ]; then
    cat "$RP_TMP/$name.out" "$RP_TMP/$name.err" >&2
    rp_fail "fusereplay $*: exit $rc, expected $want"
  fi
  rp_log "fusereplay $name: exit $rc as expected"
}

rp_fixture() {
  mkdir -p "$1/docs"
  for _ in $(seq 1 400); do printf 'hello fixture\n'; done > "$1/data.txt"
  printf 'readme\n' > "$1/docs/README"
  printf 'notes\n' > "$1/docs/notes.txt"
}

rp_json() {
  python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

rp_expect() {
  grep -qE -- "$2" "$1" || { cat "$1" >&2; rp_fail "$(basename "$1") has no line matching '$2'"; }
}
