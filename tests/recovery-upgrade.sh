#!/usr/bin/env bash
# Description: "fuseproxy upgrade MNT --backend CMD" swaps the backend under a running
# workload without an error: fio with crc32c verification, the metadata loop and a file
# held open run while the backend is replaced three times (diskfs, then
# fuse-overlayfs); after each upgrade the new process serves (a child of fuseproxy, the
# old one gone, `status` names the new command).  Also:
#   - an upgrade to a command that cannot start ("false") fails (exit 1) and the old
#     command serves again, the workload unaffected;
#   - an upgrade of a fuseproxy without --restart is refused with a reason;
#   - an upgrade that begins while a worker waits for the backend to reopen a handle
#     (diskfs --slow-open, after a restart) completes, and so does the read that
#     needed the handle (the reader thread pumps while it waits for the gate: it
#     alone reads the answer the worker waits for).
# Env: FUSEPROXY, DISKFS (optional).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-400}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/recovery-lib.sh"
fp_require_cmd fio python3

failed=0
ran=0
bad() { fp_log "FAIL: [$name] $*"; failed=1; }

# upgrade MNT CMD: must succeed, and CMD's process must serve
upgrade() {
  local m=$1 cmd=$2 old new out rc=0
  old=$(rec_backend_pid)
  out=$(timeout 60 "$FUSEPROXY" upgrade "$m" --backend "$cmd" 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then
    bad "upgrade to '$cmd' exited with $rc: $out"
    return
  fi
  new=$(rec_backend_pid)
  if [ -z "$new" ] || [ "$new" = "$old" ] || kill -0 "$old" 2>/dev/null; then
    bad "after the upgrade the backend is ${new:-none} (was $old, still alive: $(kill -0 "$old" 2>/dev/null && echo yes || echo no))"
  fi
  tr '\0' ' ' < "/proc/$new/cmdline" | grep -qF -- "${cmd%% *}" || bad "pid $new is not '$cmd'"
  rec_status "$m" | head -n 1 | grep -qF "backend '$cmd'" || bad "status does not name '$cmd'"
  fp_log "[$name] $out"
}

for name in diskfs overlay; do
  case "$name" in
    diskfs)
      [ -n "${DISKFS:-}" ] && [ -x "$DISKFS" ] || { fp_log "diskfs not built: skipped"; continue; }
      d=$FP_TMP/diskfs; mkdir -p "$d/data"
      cmds=("$DISKFS -f $d/data" "$DISKFS -f --timeout=0.5 $d/data" "$DISKFS -f --timeout=2 $d/data")
      conflict=
      ;;
    overlay)
      command -v fuse-overlayfs > /dev/null || { fp_log "no fuse-overlayfs: skipped"; continue; }
      d=$FP_TMP/overlay; mkdir -p "$d/lower" "$d/data" "$d/work"
      o="lowerdir=$d/lower,upperdir=$d/data,workdir=$d/work"
      cmds=("fuse-overlayfs -f -o $o" "fuse-overlayfs -f -s -o $o" "fuse-overlayfs -f -o $o")
      # noacl drops POSIX_ACL, which the kernel was given: the INIT check refuses it
      conflict="fuse-overlayfs -f -o $o,noacl"
      ;;
  esac
  ran=$((ran + 1))
  m=$FP_TMP/$name.mnt
  fpx_mount "$m" "${cmds[0]}" -v --restart
  mkdir "$m/fio"
  rm -f "$FP_TMP/stop"
  deadline=$(( $(date +%s%N) + 9000000000 ))
  rec_held "$m/held" "$FP_TMP/stop" > "$FP_TMP/held.out" 2>&1 &
  hp=$!
  rec_meta "$m/meta" "-$deadline" > "$FP_TMP/meta.out" 2>&1 &
  mp=$!
  (
    n=0
    while [ "$(date +%s%N)" -lt "$deadline" ]; do
      fio --name=v --directory="$m/fio" --size=8M --rw=randwrite --bs=4k --ioengine=psync \
          --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_backlog=256 \
          --verify_state_save=0 --output="$FP_TMP/fio.out" > /dev/null 2>&1 ||
        { echo "fio failed in run $n"; exit 1; }
      n=$((n + 1))
    done
    echo "$n fio runs"
  ) > "$FP_TMP/fio.loop" 2>&1 &
  fp=$!
  for i in 1 2; do
    sleep 2
    upgrade "$m" "${cmds[i]}"
  done
  sleep 1
  # one that cannot take over: the old command serves again
  before=$(rec_backend_pid)
  rc=0
  out=$(timeout 60 "$FUSEPROXY" upgrade "$m" --backend false 2>&1) || rc=$?
  if [ "$rc" = 1 ] && rec_status "$m" | head -n 1 | grep -qF "backend '${cmds[2]}'"; then
    fp_log "[$name] upgrade to 'false' refused: $out"
  else
    bad "upgrade to 'false' exited with $rc ($out); status: $(rec_status "$m" | head -n 1)"
  fi
  [ "$(rec_backend_pid)" != "$before" ] || bad "the old backend was not restarted"
  if [ -n "$conflict" ]; then
    rc=0
    out=$(timeout 60 "$FUSEPROXY" upgrade "$m" --backend "$conflict" 2>&1) || rc=$?
    case "$rc:$out" in
      1:*"INIT conflict"*"serves again"*)
        fp_log "[$name] upgrade with a conflicting INIT refused: ${out:0:200}" ;;
      *) bad "upgrade with a conflicting INIT: exit $rc, $out" ;;
    esac
  fi
  sleep 1
  upgrade "$m" "${cmds[0]}"

  wait "$mp" || bad "metadata loop failed: $(tail -n 3 "$FP_TMP/meta.out")"
  wait "$fp" || { bad "$(cat "$FP_TMP/fio.loop")"; grep -E 'err=|verify' "$FP_TMP/fio.out" >&2 || true; }
  touch "$FP_TMP/stop"
  wait "$hp" || bad "the held file saw an error: $(cat "$FP_TMP/held.out")"
  fp_log "[$name] workload: $(tail -n 1 "$FP_TMP/meta.out") metadata rounds, $(cat "$FP_TMP/fio.loop"), held file $(cat "$FP_TMP/held.out") rounds"
  ls -la "$m/meta" > /dev/null || bad "the mount does not answer after the upgrades"
  # (a node with no name left, e.g. the kernel's own SETATTR of a file just
  # unlinked, may go stale: the workload's own results are checked above)
  grep -E "recovery: .*(answering (EIO|ESTALE)|could not be re-taken|reopening .* failed)" "$FPX_LOG" >&2 &&
    bad "requests failed"
  fp_stop "$m" umount || bad "fuseproxy did not stop"
  [ "$FP_STATUS" = 0 ] || bad "fuseproxy exited with $FP_STATUS"
done

# an upgrade while a worker waits for a lazy reopen: no deadlock
name=reopen-race
if [ -n "${DISKFS:-}" ] && [ -x "$DISKFS" ]; then
  mkdir -p "$FP_TMP/rr"
  printf 'held data\n' > "$FP_TMP/rr/f"
  m=$FP_TMP/rr.mnt
  cmd="$DISKFS -f --slow-open=1500 $FP_TMP/rr"
  fpx_mount "$m" "$cmd" -v --restart
  python3 - "$m/f" "$FP_TMP/rr.go" > "$FP_TMP/rr.out" 2>&1 <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
print("open", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
print(os.pread(fd, 9, 0).decode(), flush=True)
PY
  rp=$!
  until grep -q open "$FP_TMP/rr.out" 2>/dev/null; do sleep 0.05; done
  # a restart: the handle is reopened when it is next used
  kill -KILL "$(rec_backend_pid)"
  until rec_status "$m" | grep -q '^last recovery'; do sleep 0.05; done
  touch "$FP_TMP/rr.go"
  sleep 0.5	# the read waits for the slow reopen now
  rc=0
  out=$(timeout 30 "$FUSEPROXY" upgrade "$m" --backend "$cmd" 2>&1) || rc=$?
  [ "$rc" = 0 ] && fp_log "[$name] $out" || bad "upgrade during a reopen: exit $rc, '$out'"
  if wait "$rp" && grep -q "held data" "$FP_TMP/rr.out"; then
    fp_log "[$name] the read that needed the reopen completed"
  else
    bad "the read that needed the reopen: $(cat "$FP_TMP/rr.out")"
  fi
  fp_stop "$m" umount || bad "fuseproxy did not stop"
fi

# without --restart: refused, with the reason
name=no-restart
if [ -n "${DISKFS:-}" ] && [ -x "$DISKFS" ]; then
  mkdir -p "$FP_TMP/nr"
  m=$FP_TMP/nr.mnt
  fpx_mount "$m" "$DISKFS -f $FP_TMP/nr"
  rc=0
  out=$(timeout 30 "$FUSEPROXY" upgrade "$m" --backend "$DISKFS -f $FP_TMP/nr" 2>&1) || rc=$?
  case "$rc:$out" in
    1:*--restart*) fp_log "[$name] refused: $out" ;;
    *) bad "upgrade without --restart: exit $rc, '$out'" ;;
  esac
  fp_stop "$m" umount || bad "fuseproxy did not stop"
fi

[ "$ran" -gt 0 ] || fp_skip "no backend"
[ "$failed" = 0 ] || fp_fail "an upgrade was noticed"
fp_log "PASS"
