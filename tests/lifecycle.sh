#!/usr/bin/env bash
# Description: SIGTERM, SIGINT and an external umount each end fuseproxy with exit
# status 0 and leave no mount and no process behind, also right after real traffic and
# with -d. With $FUSEPROXY_ASAN set the same cycles run against that (ASan) binary with
# leak detection, and any sanitizer report fails the test.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-240}
. "$(dirname "$0")/lib.sh"

src=$FP_TMP/src
mkdir "$src"
echo hello > "$src/greeting"
n=0

# cycle LABEL HOW [fuseproxy args...]
cycle() {
  local label=$1 how=$2 mnt pid
  shift 2
  n=$((n + 1))
  mnt=$FP_TMP/mnt.$n
  fp_mount "$src" "$mnt" "$@"
  pid=$FP_PID
  [ "$(cat "$mnt/greeting")" = hello ] || fp_fail "$label: read through mount failed"
  echo "$label" > "$mnt/written.$n"
  ls -la "$mnt" >/dev/null
  if ! fp_stop "$mnt" "$how"; then
    fp_fail "$label: fuseproxy did not stop cleanly on $how"
  fi
  [ "$FP_STATUS" = 0 ] || fp_fail "$label: exit status $FP_STATUS after $how, expected 0"
  fp_is_mounted "$mnt" && fp_fail "$label: $mnt still mounted after $how"
  kill -0 "$pid" 2>/dev/null && fp_fail "$label: pid $pid still alive after $how"
  [ "$(cat "$src/written.$n")" = "$label" ] || fp_fail "$label: write did not reach the source"
  fp_log "$label: $how -> exit 0, unmounted, process gone"
}

all_cycles() {
  local tag=$1
  cycle "$tag SIGTERM" TERM
  cycle "$tag SIGINT" INT
  cycle "$tag umount" umount
  cycle "$tag SIGTERM -d" TERM -d
  [ -s "${FP_LOGS[-1]}" ] || fp_fail "$tag: -d printed nothing"
  cycle "$tag SIGTERM allow_other" TERM -o allow_other,default_permissions
}

if [ -z "${FUSEPROXY_ASAN:-}" ] || [ "$FUSEPROXY_ASAN" != "$FUSEPROXY" ]; then
  all_cycles release
fi

if [ -n "${FUSEPROXY_ASAN:-}" ]; then
  [ -x "$FUSEPROXY_ASAN" ] || fp_fail "FUSEPROXY_ASAN=$FUSEPROXY_ASAN is not executable"
  FUSEPROXY=$FUSEPROXY_ASAN
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$FP_TMP/asan"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$FP_TMP/ubsan"
  all_cycles asan
  reports=$(ls "$FP_TMP"/asan.* "$FP_TMP"/ubsan.* 2>/dev/null || true)
  if [ -n "$reports" ]; then
    for r in $reports; do echo "---- $r" >&2; head -n 60 "$r" >&2; done
    fp_fail "sanitizer reports under ASan"
  fi
  fp_log "asan: no sanitizer reports"
fi
fp_log "PASS"
