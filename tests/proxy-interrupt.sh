#!/usr/bin/env bash
# Description: INTERRUPT and FORGET reach the backend through fuseproxy.
#   - a READ that memfs holds (files named slow*, --slow-ms=20000) is interrupted by a
#     SIGALRM in the reader: the reader gets EINTR long before the daemon would have
#     answered, memfs logs the interrupt, fuseproxy -d shows the INTERRUPT forwarded;
#   - the same with a fatal SIGINT (timeout -s INT 1 cat): the reader dies at once;
#   - a blocking flock(2) waiting for a lock another process holds, interrupted by
#     flock -w's SIGALRM;
#   - afterwards the mount still answers;
#   - FORGET: after files are looked up, "echo 2 > drop_caches" makes the kernel forget
#     them; memfs reports 0 inodes still looked up at exit, and fuseproxy -d shows
#     FORGET/BATCH_FORGET.  The control run without drop_caches must report some left.
# Env: FUSEPROXY, MEMFS, IOHELPER.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-170}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
fpx_require MEMFS IOHELPER
fp_require_cmd flock

failed=0
bad() { fp_log "FAIL: $*"; failed=1; }

m=$FP_TMP/mnt
fpx_mount "$m" "$MEMFS -f --trace --slow-ms=20000" -d
log=$FPX_LOG
echo "slow content" > "$m/slowfile"
echo "fast content" > "$m/normal"

# ---- READ interrupted by a handled signal: EINTR ----------------------------------------
out=$("$IOHELPER" read-alarm "$m/slowfile" 500)
fp_log "read-alarm: $out"
case "$out" in
  "read: EINTR after "*) ms=${out#read: EINTR after }; ms=${ms% ms}
    [ "$ms" -lt 5000 ] || bad "EINTR only after $ms ms" ;;
  *) bad "reader with SIGALRM got '$out', expected EINTR" ;;
esac
grep -q "memfs: INTERRUPT: READ of ino [0-9]* interrupted after" "$log" ||
  bad "memfs never saw the INTERRUPT"
grep -qE "INTERRUPT #[0-9]+ unique=[0-9]+ -> \(no reply\)" "$log" ||
  bad "fuseproxy -d shows no INTERRUPT forwarded"

# ---- READ interrupted by a fatal signal -----------------------------------------------------
n_before=$(grep -c "memfs: INTERRUPT: READ" "$log" || true)
start=$SECONDS
rc=0
timeout -s INT 1 cat "$m/slowfile" > /dev/null 2>&1 || rc=$?
[ "$rc" = 124 ] || bad "timeout -s INT 1 cat exited $rc, expected 124 (killed by the timeout)"
[ $((SECONDS - start)) -lt 8 ] || bad "the killed reader took $((SECONDS - start)) s to go"
for _ in $(seq 50); do
  [ "$(grep -c "memfs: INTERRUPT: READ" "$log" || true)" -gt "$n_before" ] && break
  sleep 0.1
done
[ "$(grep -c "memfs: INTERRUPT: READ" "$log" || true)" -gt "$n_before" ] ||
  bad "memfs saw no INTERRUPT for the killed reader"

# ---- a blocking flock interrupted -----------------------------------------------------------
echo lock > "$m/lockfile"
flock -x "$m/lockfile" sleep 6 &
holder=$!
sleep 0.5
start=$SECONDS
rc=0
flock -x -w 1 "$m/lockfile" true || rc=$?
[ "$rc" = 1 ] || bad "flock -w 1 on a held lock exited $rc, expected 1 (timed out)"
[ $((SECONDS - start)) -lt 5 ] || bad "flock -w 1 took $((SECONDS - start)) s"
grep -q "memfs: INTERRUPT: lock wait on ino" "$log" || bad "memfs never saw the lock wait interrupted"
wait "$holder"
flock -x -w 2 "$m/lockfile" true || bad "the lock was not free after its holder ended"

# ---- the mount still works --------------------------------------------------------------------
[ "$(cat "$m/normal")" = "fast content" ] || bad "reading a normal file after the interrupts failed"

# ---- FORGET -----------------------------------------------------------------------------------
mkdir "$m/d"
for i in $(seq 50); do echo "$i" > "$m/d/f$i"; done
ls -l "$m/d" > /dev/null
stat "$m"/d/f* > /dev/null
echo 2 > /proc/sys/vm/drop_caches
# forgets are queued by the kernel and sent a little later
for _ in $(seq 50); do
  grep -qE "(BATCH_)?FORGET .* -> \(no reply\)" "$log" && break
  sleep 0.1
done
sleep 0.5
fp_stop "$m" TERM || fp_fail "fuseproxy did not stop on SIGTERM"
[ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy exited with $FP_STATUS"
grep -qE "(BATCH_)?FORGET .* -> \(no reply\)" "$log" || bad "fuseproxy -d shows no FORGET"
grep -q "memfs: FORGET ino=" "$log" || bad "memfs logged no FORGET"
left=$(sed -n 's/^memfs: exit: \([0-9]*\) inodes still looked up.*/\1/p' "$log")
fp_log "after drop_caches: $left inodes still looked up at exit"
[ "$left" = 0 ] || bad "$left inodes still looked up after drop_caches: some FORGET got lost"

# the control: without drop_caches the kernel keeps its references until the unmount
# (unless somebody else drops the caches meanwhile: then the control says nothing)
d0=$(fpx_drop_count)
m=$FP_TMP/control
fpx_mount "$m" "$MEMFS -f"
log=$FPX_LOG
mkdir "$m/d"
for i in $(seq 50); do echo "$i" > "$m/d/f$i"; done
stat "$m"/d/f* > /dev/null
fp_stop "$m" TERM || fp_fail "fuseproxy did not stop on SIGTERM"
left=$(sed -n 's/^memfs: exit: \([0-9]*\) inodes still looked up.*/\1/p' "$log")
fp_log "control (no drop_caches): $left inodes still looked up at exit"
if [ "$(fpx_drop_count)" != "$d0" ]; then
  fp_log "control not valid: somebody dropped the kernel's caches meanwhile"
else
  [ -n "$left" ] && [ "$left" -gt 0 ] || bad "control: expected references left at exit, got '$left'"
fi

[ "$failed" = 0 ] || { fp_dump_log "${FP_LOGS[0]}"; fp_fail "interrupts or forgets did not flow"; }
fp_log "PASS"
