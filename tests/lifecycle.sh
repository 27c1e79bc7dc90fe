#!/usr/bin/env bash
# Description: SIGTERM, SIGINT and an external umount each end fuseproxy with exit
# status 0 and leave no mount and no process behind, after a little of every kind of
# traffic, with -d, and for the signals also while a file on the mount is open. With $FUSEPROXY_ASAN set the same cycles run against that (ASan) binary with
# leak detection, and any sanitizer report fails the test.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-240}
. "$(dirname "$0")/lib.sh"

src=$FP_TMP/src
mkdir "$src"
echo hello > "$src/greeting"
n=0

# A little of everything, so the ASan cycles see most code paths before exit.
workload() {
  local m=$1 d=$1/work.$n
  [ "$(cat "$m/greeting")" = hello ] || fp_fail "$label: read through mount failed"
  mkdir "$d"
  echo "$label" > "$d/f"
  dd if=/dev/zero of="$d/direct" bs=4096 count=8 oflag=direct status=none
  dd if="$d/direct" of=/dev/null bs=4096 iflag=direct status=none
  setfattr -n user.k -v v "$d/f"
  getfattr --absolute-names -d "$d/f" >/dev/null
  ln "$d/f" "$d/hard"
  ln -s f "$d/soft"
  mv "$d/hard" "$d/moved"
  truncate -s 1M "$d/moved"
  flock "$d/f" true
  chmod 600 "$d/f"
  ls -laR "$m" >/dev/null
  rm -r "$d"
}

# cycle LABEL HOW [fuseproxy args...]; BUSY=1 keeps a file open across the stop
cycle() {
  local label=$1 how=$2 mnt pid
  shift 2
  n=$((n + 1))
  mnt=$FP_TMP/mnt.$n
  fp_mount "$src" "$mnt" "$@"
  pid=$FP_PID
  workload "$mnt"
  echo "$label" > "$mnt/written.$n"
  [ -z "${BUSY:-}" ] || exec 3< "$mnt/greeting"
  if ! fp_stop "$mnt" "$how"; then
    fp_fail "$label: fuseproxy did not stop cleanly on $how"
  fi
  if [ -n "${BUSY:-}" ]; then
    cat <&3 >/dev/null 2>&1 && fp_fail "$label: the open file still reads after the stop"
    exec 3<&-
  fi
  if [ "$FP_STATUS" != 0 ]; then
    sanitizer_reports || true
    fp_fail "$label: exit status $FP_STATUS after $how, expected 0"
  fi
  fp_is_mounted "$mnt" && fp_fail "$label: $mnt still mounted after $how"
  kill -0 "$pid" 2>/dev/null && fp_fail "$label: pid $pid still alive after $how"
  [ "$(cat "$src/written.$n")" = "$label" ] || fp_fail "$label: write did not reach the source"
  fp_log "$label: $how -> exit 0, unmounted, process gone"
}

# Prints any ASan/UBSan report files; returns 1 if there were some.
sanitizer_reports() {
  local r found=0
  for r in "$FP_TMP"/asan.* "$FP_TMP"/ubsan.*; do
    [ -e "$r" ] || continue
    found=1
    echo "---- $r" >&2
    head -n 60 "$r" >&2
  done
  [ "$found" = 0 ]
}

all_cycles() {
  local tag=$1
  cycle "$tag SIGTERM" TERM
  cycle "$tag SIGINT" INT
  cycle "$tag umount" umount
  cycle "$tag SIGTERM -d" TERM -d
  [ -s "${FP_LOGS[-1]}" ] || fp_fail "$tag: -d printed nothing"
  cycle "$tag SIGTERM allow_other" TERM -o allow_other,default_permissions
  BUSY=1 cycle "$tag SIGTERM with a file open" TERM
  BUSY=1 cycle "$tag SIGINT with a file open" INT
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
  sanitizer_reports || fp_fail "sanitizer reports under ASan"
  fp_log "asan: no sanitizer reports"
fi
fp_log "PASS"
