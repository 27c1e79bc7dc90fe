#!/usr/bin/env bash
# Description: the life of "fuseproxy --backend" from start to exit.
#   - SIGTERM, SIGINT, external umount (after real traffic): exit 0, no mount left, the
#     backend gone, and the backend got DESTROY (memfs logs it);
#   - the backend killed with SIGKILL: fuseproxy unmounts by itself, exits 1 and says
#     the backend was killed; nothing left behind;
#   - a backend that daemonizes (memfs without -f: libfuse forks, the parent exits 0):
#     the mount keeps working although the pid fuseproxy started is gone; SIGTERM still
#     ends everything; SIGKILL of the forked daemon still unmounts with exit 1;
#   - "{}" in the command marks where /dev/fd/N goes; --backend-log FILE gets the
#     backend's output;
#   - a backend that cannot run, or exits before answering INIT: exit 1, a message, no
#     mount.
# With $FUSEPROXY_ASAN set the cycles run again against that binary; any sanitizer
# report fails the test.
# Env: FUSEPROXY, MEMFS (FUSEPROXY_ASAN optional).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-270}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
fpx_require MEMFS

failed=0
tag=release
n=0
bad() { fp_log "FAIL: [$tag] $*"; failed=1; }

traffic() {
  local m=$1
  echo "payload $n" > "$m/file"
  mkdir -p "$m/dir"
  cp "$m/file" "$m/dir/copy"
  [ "$(cat "$m/dir/copy")" = "payload $n" ] || bad "traffic through $m failed"
  ls -laR "$m" > /dev/null
}

nothing_left() {
  local what=$1 left
  fp_is_mounted "$m" && bad "$what: $m still mounted"
  left=$(fpx_wait_untagged 5) || bad "$what: processes left: $left"
}

next_mnt() {
  n=$((n + 1))
  m=$FP_TMP/mnt.$tag.$n
}

# stop_cycle HOW: SIGTERM/SIGINT/umount after traffic
stop_cycle() {
  local how=$1
  next_mnt
  fpx_mount "$m" "$MEMFS -f"
  traffic "$m"
  fp_stop "$m" "$how" || bad "$how: fuseproxy did not stop cleanly"
  [ "$FP_STATUS" = 0 ] || bad "$how: fuseproxy exited with $FP_STATUS, expected 0"
  grep -q "memfs: DESTROY" "$FPX_LOG" || bad "$how: the backend got no DESTROY"
  nothing_left "$how"
  fp_log "[$tag] $how: exit 0, unmounted, backend gone"
}

kill_backend_cycle() {
  local bpid
  next_mnt
  fpx_mount "$m" "$MEMFS -f"
  traffic "$m"
  bpid=$(pgrep -P "$FP_PID" | head -n 1)
  [ -n "$bpid" ] || { bad "SIGKILL: no backend child of fuseproxy $FP_PID"; return; }
  kill -KILL "$bpid"
  fpx_expect_exit "$m" 10 || { bad "SIGKILL: fuseproxy still running 10 s after its backend died"; return; }
  [ "$FP_STATUS" = 1 ] || bad "SIGKILL: fuseproxy exited with $FP_STATUS, expected 1"
  grep -qE "fuseproxy: unmounting .*: the backend closed its connection, killed by SIGKILL" "$FPX_LOG" ||
    bad "SIGKILL: no message saying the backend was killed"
  nothing_left "SIGKILL"
  fp_log "[$tag] backend SIGKILL: exit 1, unmounted, explained"
}

daemonize_cycles() {
  local started others st
  # stop with SIGTERM
  next_mnt
  fpx_mount "$m" "$MEMFS"
  started=$(pgrep -P "$FP_PID" | head -n 1 || true)
  # libfuse's fuse_daemonize(): the started process exits once its fork runs
  for _ in $(seq 100); do
    st=$(sed 's/.*) //' "/proc/$started/stat" 2>/dev/null | cut -d' ' -f1 || true)
    [ -z "$st" ] || [ "$st" = Z ] && break
    sleep 0.05
  done
  [ -z "$st" ] || [ "$st" = Z ] || bad "daemonize: the started memfs ($started) did not exit"
  others=$(fpx_tagged_pids | grep -vx "$FP_PID" || true)
  [ -n "$others" ] || bad "daemonize: no forked memfs found"
  traffic "$m"
  fp_stop "$m" TERM || bad "daemonize: fuseproxy did not stop on SIGTERM"
  [ "$FP_STATUS" = 0 ] || bad "daemonize: fuseproxy exited with $FP_STATUS, expected 0"
  nothing_left "daemonize SIGTERM"
  fp_log "[$tag] daemonizing backend, SIGTERM: worked, exit 0, nothing left"

  # the forked daemon killed
  next_mnt
  fpx_mount "$m" "$MEMFS"
  traffic "$m"
  sleep 0.3
  others=$(fpx_tagged_pids | grep -vx "$FP_PID" || true)
  [ -n "$others" ] || { bad "daemonize: no forked memfs found"; return; }
  kill -KILL $others
  fpx_expect_exit "$m" 10 || { bad "daemonize: fuseproxy still running 10 s after the forked backend died"; return; }
  [ "$FP_STATUS" = 1 ] || bad "daemonize: fuseproxy exited with $FP_STATUS after the forked backend died, expected 1"
  grep -qE "fuseproxy: unmounting .*: the backend closed its connection" "$FPX_LOG" ||
    bad "daemonize: no message about the backend's death"
  nothing_left "daemonize SIGKILL"
  fp_log "[$tag] daemonizing backend, SIGKILL of the fork: exit 1, unmounted"
}

options_cycle() {
  local blog=$FP_TMP/backend.$tag.log
  next_mnt
  fpx_mount "$m" "$MEMFS {} -f" --backend-log "$blog"
  traffic "$m"
  fp_stop "$m" TERM || bad "{}: fuseproxy did not stop on SIGTERM"
  [ "$FP_STATUS" = 0 ] || bad "{}: fuseproxy exited with $FP_STATUS"
  grep -q "memfs: exit:" "$blog" || bad "--backend-log: the backend's output is not in $blog"
  grep -q "memfs: exit:" "$FPX_LOG" && bad "--backend-log: the backend's output also went to fuseproxy's stderr"
  nothing_left "{} and --backend-log"
  fp_log "[$tag] {} placement and --backend-log: ok"
}

# start_failure LABEL CMD MESSAGE-REGEX: fuseproxy must give up with exit 1
start_failure() {
  local label=$1 cmd=$2 re=$3 rc=0 out
  next_mnt
  mkdir -p "$m"
  out=$FP_TMP/fail.$tag.$n.log
  FPX_TAG=$FPX_TAG timeout 30 "$FUSEPROXY" --backend "$cmd" "$m" > "$out" 2>&1 || rc=$?
  [ "$rc" = 1 ] || bad "$label: fuseproxy exited with $rc, expected 1"
  grep -qE "$re" "$out" || { bad "$label: no message matching '$re'"; cat "$out" >&2; }
  nothing_left "$label"
  fp_log "[$tag] $label: exit $rc: $(grep -E "$re" "$out" | head -n 1)"
}

all_cycles() {
  stop_cycle TERM
  stop_cycle INT
  stop_cycle umount
  kill_backend_cycle
  daemonize_cycles
  options_cycle
  start_failure "missing backend" "/nonexistent/daemon -f" "cannot run backend '/nonexistent/daemon'"
  start_failure "backend exits before INIT" "false" "fuseproxy: .*backend"
}

if [ -z "${FUSEPROXY_ASAN:-}" ] || [ "$FUSEPROXY_ASAN" != "$FUSEPROXY" ]; then
  all_cycles
fi
if [ -n "${FUSEPROXY_ASAN:-}" ]; then
  [ -x "$FUSEPROXY_ASAN" ] || fp_fail "FUSEPROXY_ASAN=$FUSEPROXY_ASAN is not executable"
  FUSEPROXY=$FUSEPROXY_ASAN
  tag=asan
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$FP_TMP/asan"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$FP_TMP/ubsan"
  all_cycles
  reports=$(ls "$FP_TMP"/asan.* "$FP_TMP"/ubsan.* 2>/dev/null || true)
  if [ -n "$reports" ]; then
    for r in $reports; do echo "---- $r" >&2; head -n 60 "$r" >&2; done
    bad "sanitizer reports"
  else
    fp_log "[asan] no sanitizer reports"
  fi
fi

[ "$failed" = 0 ] || fp_fail "fuseproxy's lifecycle with a backend is wrong"
fp_log "PASS"
