#!/usr/bin/env bash
# Description: fuseproxy validates every backend message.  tests/daemons/badfs answers
# correctly except for some file names (see badfs.c); for each misbehaviour:
#   - malformed replies (wrong length, header/byte-count mismatch, positive or
#     out-of-range errno, error with payload, READ reply larger than asked, a 2 MiB
#     message, a dirent running past the reply): that request gets EIO, fuseproxy says
#     once on stderr which opcode and unique and what was wrong, the next request works;
#   - a reply to a unique nobody sent, malformed notifications: dropped with a message,
#     the request itself is answered normally;
#   - crash (abort() mid-READ): the READ gets EIO, fuseproxy unmounts and exits 1 saying
#     the backend was killed by SIGABRT;
#   - hang (READ never answered): with --backend-timeout 2 the READ gets EIO after about
#     2 s, fuseproxy unmounts and exits 1 saying why; without a timeout, SIGTERM still
#     unmounts cleanly (exit 0) and the stuck reader gets an error;
# and after each: fuseproxy never crashed, no mount and no process is left.  With
# $FUSEPROXY_ASAN set everything runs again against that binary, and any sanitizer
# report fails the test.
# Env: FUSEPROXY, BADFS (FUSEPROXY_ASAN optional).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-270}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
fpx_require BADFS
export LC_ALL=C

failed=0
bad() { fp_log "FAIL: [$tag] $*"; failed=1; }
n=0
tag=release

# expect_eio FILE: reading FILE must fail with EIO (and nothing else)
expect_eio() {
  local err
  if err=$(timeout 20 cat "$1" 2>&1 >/dev/null); then
    bad "reading $(basename "$1") succeeded, expected EIO"
  elif [[ "$err" != *"Input/output error"* ]]; then
    bad "reading $(basename "$1"): '$err', expected EIO"
  fi
}

# expect_content FILE TEXT
expect_content() {
  local got
  got=$(timeout 20 cat "$1" 2>&1) || true
  [ "$got" = "$2" ] || bad "reading $(basename "$1"): '$got', expected '$2'"
}

# expect_log LOG COUNT REGEX: the message appears exactly COUNT times
expect_log() {
  local c
  c=$(grep -cE "$3" "$1" || true)
  [ "$c" = "$2" ] || bad "fuseproxy log has $c lines matching '$3', expected $2"
}

# the mount of one case: $m, $log
mount_badfs() {
  n=$((n + 1))
  m=$FP_TMP/mnt.$tag.$n
  fpx_mount "$m" "$BADFS -f" "$@"
  log=$FPX_LOG
}

# after a self-inflicted exit: no mount, no process
expect_gone() {
  fp_is_mounted "$m" && bad "$m still mounted"
  local left
  left=$(fpx_wait_untagged 5) || bad "processes left behind: $left"
}

malformed_cases() {
  local b='backend sent a malformed reply to'
  mount_badfs
  expect_content "$m/good" "content of good"

  expect_eio "$m/bad-length"
  expect_log "$log" 1 "$b OPEN #[0-9]+: OPEN reply: 8 payload bytes, expected 16; answering EIO"
  expect_content "$m/good" "content of good"

  expect_eio "$m/hdr-mismatch"
  expect_log "$log" 1 "$b OPEN #[0-9]+: .*out_header.len 40 but 32 bytes"
  expect_content "$m/good" "content of good"

  expect_eio "$m/pos-errno"
  expect_log "$log" 1 "$b OPEN #[0-9]+: .*error 5 outside"
  expect_eio "$m/big-errno"
  expect_log "$log" 1 "$b OPEN #[0-9]+: .*error -1000 outside"
  expect_eio "$m/err-payload"
  expect_log "$log" 1 "$b OPEN #[0-9]+: .*error -2 carries 16 payload bytes"
  expect_content "$m/good" "content of good"

  expect_eio "$m/oversize"
  expect_log "$log" 1 "$b READ #[0-9]+: READ reply: [0-9]+ bytes, more than the [0-9]+ asked for"
  expect_eio "$m/oversize-huge"
  expect_log "$log" 1 "$b READ #[0-9]+: READ reply: larger than the [0-9]+-byte maximum"
  expect_content "$m/good" "content of good"

  if err=$(ls "$m/baddir" 2>&1); then
    bad "listing baddir succeeded"
  elif [[ "$err" != *"Input/output error"* ]]; then
    bad "listing baddir: '$err', expected EIO"
  fi
  expect_log "$log" 1 "$b READDIR #[0-9]+: READDIR reply: record 0 "
  [ "$(ls "$m" | wc -l)" = 14 ] || bad "listing the root after baddir: $(ls "$m" 2>&1 | wc -l) entries, expected 14"

  # answered normally, the stray message dropped with a word
  expect_content "$m/bad-unique" "content of bad-unique"
  expect_log "$log" 1 "backend replied to unique 0x7ead[0-9a-f]+, which is not pending"
  expect_content "$m/bad-notify" "content of bad-notify"
  expect_log "$log" 1 "malformed notification: INVAL_ENTRY: namelen 100 .*; dropped"
  expect_content "$m/bad-notify-code" "content of bad-notify-code"
  expect_log "$log" 1 "malformed notification: unknown notification code 1000; dropped"
  expect_content "$m/good" "content of good"

  kill -0 "$FP_PID" 2>/dev/null || bad "fuseproxy died during the malformed-reply cases"
  fp_stop "$m" TERM || bad "fuseproxy did not stop on SIGTERM"
  [ "$FP_STATUS" = 0 ] || bad "fuseproxy exited with $FP_STATUS after SIGTERM"
  expect_gone
  fp_log "[$tag] malformed replies and notifications: done"
}

crash_case() {
  mount_badfs
  expect_content "$m/good" "content of good"
  expect_eio "$m/crash"
  fpx_expect_exit "$m" 10 || { bad "fuseproxy still running 10 s after the backend crashed"; return; }
  [ "$FP_STATUS" = 1 ] || bad "fuseproxy exited with $FP_STATUS after the backend crashed, expected 1"
  expect_log "$log" 1 "fuseproxy: unmounting .*: the backend closed its connection, killed by SIGABRT"
  expect_gone
  fp_log "[$tag] crash: done"
}

hang_timeout_case() {
  local start rc
  mount_badfs --backend-timeout 2
  expect_content "$m/good" "content of good"
  start=$(date +%s%N)
  expect_eio "$m/hang"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  fp_log "[$tag] hang: EIO after $ms ms"
  [ "$ms" -ge 1500 ] && [ "$ms" -lt 8000 ] || bad "hang: EIO after $ms ms, expected about 2000"
  fpx_expect_exit "$m" 10 || { bad "fuseproxy still running 10 s after the timeout"; return; }
  [ "$FP_STATUS" = 1 ] || bad "fuseproxy exited with $FP_STATUS after the backend timeout, expected 1"
  expect_log "$log" 1 "fuseproxy: unmounting .*: the backend stopped answering"
  expect_gone
  fp_log "[$tag] hang with --backend-timeout: done"
}

hang_sigterm_case() {
  local reader rc=0
  mount_badfs
  timeout 30 cat "$m/hang" > /dev/null 2> "$FP_TMP/hang-reader.err" &
  reader=$!
  sleep 0.5
  kill -0 "$reader" 2>/dev/null || bad "the reader of hang did not block"
  fp_stop "$m" TERM || bad "fuseproxy did not stop on SIGTERM with a request hanging"
  [ "$FP_STATUS" = 0 ] || bad "fuseproxy exited with $FP_STATUS after SIGTERM, expected 0"
  wait "$reader" || rc=$?
  [ "$rc" != 0 ] && [ "$rc" != 124 ] || bad "the stuck reader exited with $rc, expected a read error"
  expect_gone
  fp_log "[$tag] hang without timeout, SIGTERM: reader ended with $rc ($(cat "$FP_TMP/hang-reader.err"))"
}

all_cases() {
  malformed_cases
  crash_case
  hang_timeout_case
  hang_sigterm_case
}

if [ -z "${FUSEPROXY_ASAN:-}" ] || [ "$FUSEPROXY_ASAN" != "$FUSEPROXY" ]; then
  all_cases
fi

if [ -n "${FUSEPROXY_ASAN:-}" ]; then
  [ -x "$FUSEPROXY_ASAN" ] || fp_fail "FUSEPROXY_ASAN=$FUSEPROXY_ASAN is not executable"
  FUSEPROXY=$FUSEPROXY_ASAN
  tag=asan
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$FP_TMP/asan"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$FP_TMP/ubsan"
  all_cases
  reports=$(ls "$FP_TMP"/asan.* "$FP_TMP"/ubsan.* 2>/dev/null || true)
  if [ -n "$reports" ]; then
    for r in $reports; do echo "---- $r" >&2; head -n 60 "$r" >&2; done
    bad "sanitizer reports"
  else
    fp_log "[asan] no sanitizer reports"
  fi
fi

[ "$failed" = 0 ] || fp_fail "fuseproxy mishandled a misbehaving backend"
fp_log "PASS"
