#!/usr/bin/env bash
# Description: after a backend restart, everything still behaves as without one.  Two
# copies of conformance.sh's fixture; one served by a backend on its own, the other by
# the same backend behind "fuseproxy --restart", whose backend is killed (SIGKILL) once
# after the whole tree was walked (so the kernel holds nodes and dentries from the dead
# instance).  Then tests/conformance runs on both: every request after the restart goes
# through id translation, lazy re-resolution of what the kernel still holds, and kernel
# ids made up where the new instance reuses numbers.  Outputs and resulting trees must be
# identical, and the lookup counts balanced afterwards.
# Backends: "fuseproxy --passthrough" and tests/daemons/diskfs.
# Env: FUSEPROXY, CONFORMANCE, DISKFS (optional).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-400}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/recovery-lib.sh"
fp_require_cmd getfattr setfattr setfacl diff md5sum
fpx_require CONFORMANCE
fpx_load_conformance_helpers

failed=0
ran=0
bad() { fp_log "FAIL: [$kind] $*"; failed=1; }

compare() {
  if diff -u --label "$1 on its own" --label "$1 behind a restarted backend" "$2" "$3" > "$FP_TMP/last.diff"; then
    fp_log "[$kind] $1: identical ($(wc -l < "$2") lines)"
  else
    head -n 60 "$FP_TMP/last.diff" >&2
    bad "$1 differs"
  fi
}

# One line is left out: "flock fd1 ... (all closed)" takes a lock right after close(2)
# of the other descriptor, but the kernel sends its RELEASE to a daemon that keeps
# flock locks itself only after close returns, so the old lock may still be there
# (with or without the proxy; conformance.c waits up to 2 s only for the OFD case).
run_conformance() {
  local rc=0
  timeout 200 "$CONFORMANCE" "$1" 2> "$2.err" | grep -v '^flock fd1 LOCK_EX|LOCK_NB (all closed' > "$2" ||
    rc=$?
  [ "$rc" = 0 ] || { cat "$2.err" >&2; bad "conformance exited with $rc on $1"; }
}

base=$FP_TMP/base
mkdir "$base"
make_fixture "$base"

for kind in passthrough diskfs; do
  case "$kind" in
    passthrough) cmd="$FUSEPROXY --passthrough" ;;
    diskfs)
      [ -n "${DISKFS:-}" ] && [ -x "$DISKFS" ] || { fp_log "diskfs not built: skipped"; continue; }
      cmd="$DISKFS -f --timeout=0" ;;
  esac
  ran=$((ran + 1))
  sa=$FP_TMP/$kind.srcA sb=$FP_TMP/$kind.srcB a=$FP_TMP/$kind.alone b=$FP_TMP/$kind.restarted
  cp -a "$base" "$sa"
  cp -a "$base" "$sb"
  # shellcheck disable=SC2086
  fpx_mount_standalone "$a" $cmd "$sa" "$a"
  fpx_mount "$b" "$cmd $sb" -v --restart
  ls -laR "$b" > /dev/null
  cat "$b/fixture/small.txt" > /dev/null
  exec 7< "$b/fixture/big.bin"          # a handle from before the crash
  kill -KILL "$(rec_backend_pid)"
  for _ in $(seq 100); do
    rec_status "$b" | grep -q "last recovery" && break
    sleep 0.05
  done
  rec_status "$b" | grep -q "restart: on .*; 1 restarts" || bad "no restart seen: $(rec_status "$b")"
  cmp <(cat <&7) "$sb/fixture/big.bin" || bad "reading a file opened before the crash"
  exec 7<&-

  run_conformance "$a" "$FP_TMP/$kind.alone.out"
  run_conformance "$b" "$FP_TMP/$kind.restarted.out"
  compare "conformance output" "$FP_TMP/$kind.alone.out" "$FP_TMP/$kind.restarted.out"
  describe_tree "$a" > "$FP_TMP/$kind.alone.tree"
  describe_tree "$b" > "$FP_TMP/$kind.restarted.tree"
  compare "resulting tree" "$FP_TMP/$kind.alone.tree" "$FP_TMP/$kind.restarted.tree"

  rec_drop_caches
  counts=$(rec_status "$b" | grep '^state:')
  case "$counts" in
    *"(0 kernel lookups, 0 backend lookups)"*) fp_log "[$kind] lookups balanced: $counts" ;;
    *) bad "lookups not balanced after dropping caches: $counts" ;;
  esac
  grep -E "recovery: .*(answering (EIO|ESTALE)|is stale:|could not be re-taken|reopening .* failed)" "$FPX_LOG" >&2 &&
    bad "the recovery lost something"
  for m in "$a" "$b"; do
    fp_stop "$m" umount || bad "$m did not stop cleanly"
    [ "$FP_STATUS" = 0 ] || bad "the daemon of $m exited with $FP_STATUS"
  done
done

[ "$ran" -gt 0 ] || fp_skip "no backend"
[ "$failed" = 0 ] || fp_fail "a restarted backend behaves differently"
fp_log "PASS"
