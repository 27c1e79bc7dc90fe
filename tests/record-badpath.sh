#!/usr/bin/env bash
# Description: bad trace paths and a full disk.
#   Unwritable paths (-w or --pcap under a missing directory, in a read-only file system,
#   a directory as the file, a read-only file system for the pcap while -w is fine):
#   fuseproxy exits 1 at once with one message naming the file and the cause, nothing is
#   mounted, no process is left, and no half-made trace file stays behind.
#   Full disk: the trace goes to a 2 MiB tmpfs mounted by the test while a workload
#   writes 40 MB through the mount and reads it back (sqlite only, pcap only, then both): the workload
#   finishes within its timeout (the mount never hangs), fuseproxy warns while running
#   (the file's name and the cause), prints the lost/dropped counts at exit and exits (status 1: the trace
#   is incomplete), and what reached the files still reads as a trace.
#   With --drop-policy drop the same holds.
# Env: FUSEPROXY, TRACE_DUMP.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-170}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/record-lib.sh"
rec_require

failed=0
bad() { fp_log "FAIL: $*"; failed=1; }
src=$FP_TMP/src
mkdir -p "$src"
echo hello > "$src/hello"

# The test's own small file systems, unmounted at exit before lib.sh's teardown
# removes the temp dir (which refuses to remove anything still mounted).
SMALL=()
small_fs() {   # small_fs DIR SIZE [ro]
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2${3:+,$3}" fp-record-badpath "$1"
  SMALL+=("$1")
}
cleanup_small() {
  local d
  for d in "${SMALL[@]}"; do umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || true; done
}
trap 'rc=$?; cleanup_small; fpx_teardown $rc; exit $?' EXIT

# ---- unwritable paths -----------------------------------------------------------------
small_fs "$FP_TMP/ro" 1m ro
# bad_start LABEL EXPECTED_FILE CAUSE fuseproxy-args...: must fail at start
bad_start() {
  local label=$1 file=$2 cause=$3 m=$FP_TMP/mnt-bad rc=0 t0=$SECONDS
  shift 3
  mkdir -p "$m"
  timeout 20 env FPX_TAG="$FPX_TAG" "$FUSEPROXY" "$@" --passthrough "$src" "$m" \
    > "$FP_TMP/bad.out" 2> "$FP_TMP/bad.err" || rc=$?
  if [ "$rc" != 1 ]; then
    bad "[$label] exit status $rc, expected 1"
  elif [ "$(wc -l < "$FP_TMP/bad.err")" != 1 ]; then
    bad "[$label] expected one line on stderr, got: $(cat "$FP_TMP/bad.err")"
  elif ! grep -qF "$file: " "$FP_TMP/bad.err" || ! grep -qF "$cause" "$FP_TMP/bad.err"; then
    bad "[$label] the message should name '$file' and '$cause': $(cat "$FP_TMP/bad.err")"
  else
    fp_log "[$label] exit 1 after $((SECONDS - t0)) s: $(cat "$FP_TMP/bad.err")"
  fi
  if fp_is_mounted "$m"; then
    bad "[$label] $m is mounted after the failed start"
    fp_umount "$m" || fp_umount "$m" -l || true
  fi
  [ -z "$(fpx_tagged_pids)" ] || bad "[$label] processes left: $(fpx_tagged_pids)"
}

bad_start "-w missing dir" /proc/nope/x.db "No such file or directory" -w /proc/nope/x.db
bad_start "--pcap missing dir" /proc/nope/x.pcap "No such file or directory" \
  --pcap /proc/nope/x.pcap
bad_start "-w read-only fs" "$FP_TMP/ro/x.db" "Read-only file system" -w "$FP_TMP/ro/x.db"
bad_start "--pcap read-only fs" "$FP_TMP/ro/x.pcap" "Read-only file system" \
  --pcap "$FP_TMP/ro/x.pcap"
mkdir "$FP_TMP/adir"
bad_start "-w a directory" "$FP_TMP/adir" "Is a directory" -w "$FP_TMP/adir"
bad_start "-w fine, --pcap read-only" "$FP_TMP/ro/y.pcap" "Read-only file system" \
  -w "$FP_TMP/half.db" --pcap "$FP_TMP/ro/y.pcap"
left=$(ls "$FP_TMP"/half.db* 2>/dev/null || true)
[ -z "$left" ] || bad "a failed start left a half-made trace behind: $left"

# ---- full disk ------------------------------------------------------------------------
head -c 1000000 /dev/urandom > "$FP_TMP/data"
# full_disk LABEL FILES... -- fuseproxy-args: the named files live on a fresh 2 MiB tmpfs
full_disk() {
  local label=$1 small=$FP_TMP/small-$1 m=$FP_TMP/mnt-$1 rc=0 t0 i log f
  shift
  small_fs "$small" 2m
  local args=("${@//@SMALL@/$small}")
  fp_mount "$src" "$m" "${args[@]}"
  log=$FP_TMP/fuseproxy.$((${#FP_PIDS[@]} - 1)).log
  t0=$SECONDS
  # 40 x 1 MB of data plus metadata: the trace needs far more than 2 MiB
  timeout 60 bash -c '
    for i in $(seq 1 40); do
      cp "$2" "$1/f$i" && stat "$1/f$i" > /dev/null && cmp "$2" "$1/f$i" || exit 1
    done
    ls -l "$1" > /dev/null && rm -f "$1"/f*' _ "$m" "$FP_TMP/data" || rc=$?
  [ "$rc" = 0 ] || bad "[$label] the workload failed or hung (status $rc after $((SECONDS - t0)) s)"
  fp_log "[$label] workload done in $((SECONDS - t0)) s; trace fs: $(df -h --output=used,avail "$small" | tail -n 1)"
  # the warning comes while running, not only at exit
  for f in "${args[@]}"; do
    case "$f" in "$small"/*)
      grep -qF "$f: " "$log" && grep -qiE "No space left on device|disk is full" "$log" ||
        bad "[$label] no warning naming $f and the cause while running: $(cat "$log")"
    esac
  done
  fp_stop "$m" umount || bad "[$label] fuseproxy did not exit within 10 s of the umount"
  case "$FP_STATUS" in
    0|1) ;;
    *) bad "[$label] fuseproxy exited with $FP_STATUS" ;;
  esac
  grep -qE "records dropped \(rings full\), [1-9][0-9]* lost \(write errors\)" "$log" ||
    bad "[$label] no lost count at exit: $(tail -n 3 "$log")"
  fp_log "[$label] fuseproxy exit $FP_STATUS: $(grep -E 'records dropped' "$log")"
  # what did make it to the files is still a trace
  for f in "${args[@]}"; do
    case "$f" in
      "$small"/*.db)
        [ "$(rec_sq "$f" 'PRAGMA integrity_check' 2>&1)" = ok ] ||
          bad "[$label] $f fails integrity_check after the disk filled up"
        "$TRACE_DUMP" "$f" > /dev/null 2> "$FP_TMP/dump.err" ||
          bad "[$label] our reader cannot read $f: $(cat "$FP_TMP/dump.err")" ;;
      "$small"/*.pcap)
        "$TRACE_DUMP" -k "$f" > /dev/null 2> "$FP_TMP/dump.err" ||
          bad "[$label] our reader cannot read $f: $(cat "$FP_TMP/dump.err")" ;;
    esac
  done
  umount "$small"
}

full_disk db -w @SMALL@/t.db
full_disk pcap --pcap @SMALL@/t.pcap
full_disk both -w @SMALL@/t.db --pcap @SMALL@/t.pcap
full_disk drop -w @SMALL@/t.db --pcap @SMALL@/t.pcap --drop-policy drop

[ "$failed" = 0 ] || fp_fail "bad trace paths or a full disk are not handled as they should be"
fp_log "PASS"
