#!/usr/bin/env bash
# Description: notifications cross fuseproxy in both directions.  tests/daemons/notifier,
# behind "fuseproxy -d --backend", changes files the kernel has cached for an hour and
# notifies; each change must be visible at once:
#   INVAL_INODE  clock's new content is read           INVAL_ENTRY  entry names a new inode
#   DELETE       victim is gone                        STORE        stored reads the STOREd
#                                                                   bytes, with no READ
#   RETRIEVE     the kernel's NOTIFY_REPLY brings the STOREd bytes back to the daemon
#   POLL         a poll(2) sleeping on pollable wakes up when the daemon says so
# The same sequence with "notifier --no-notify" (files change, no notification) must
# show the stale cached data, so every check above can fail.  A third mount bumps clock
# from a timer thread (--interval-ms).  fuseproxy -d must log each notification.
# Env: FUSEPROXY, NOTIFIER, IOHELPER.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-170}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
fpx_require NOTIFIER IOHELPER

failed=0
# check LABEL EXPECTED ACTUAL
check() {
  if [ "$2" = "$3" ]; then
    fp_log "ok: $1: $3"
  else
    fp_log "FAIL: $1: expected '$2', got '$3'"
    failed=1
  fi
}

# sequence MNT: drives every notification once; prints "name: observation" lines.
sequence() {
  local m=$1 out
  echo "clock before: $(cat "$m/clock")"
  echo inval_inode > "$m/ctl"
  echo "clock after: $(cat "$m/clock")"

  echo "entry before: $(cat "$m/entry")"
  echo inval_entry > "$m/ctl"
  echo "entry after: $(cat "$m/entry")"

  echo "victim before: $(cat "$m/victim")"
  echo delete > "$m/ctl"
  echo "victim after: $( [ -e "$m/victim" ] && echo present || echo gone)"

  stat "$m/stored" > /dev/null	# STORE needs the inode in the kernel
  echo store > "$m/ctl"
  echo "stored: $(cat "$m/stored")"
  echo retrieve > "$m/ctl"
  echo "retrieved: $(cat "$m/retrieved")"

  "$IOHELPER" poll "$m/pollable" 2500 > "$FP_TMP/poll.out" &
  local p=$!
  sleep 0.5
  echo poll > "$m/ctl"
  wait "$p"
  out=$(cat "$FP_TMP/poll.out")
  # woken well before the timeout, or not
  case "$out" in
    "poll: POLLIN after "*) ms=${out#poll: POLLIN after }; ms=${ms% ms}
      if [ "$ms" -lt 2000 ]; then echo "poll: woken"; else echo "poll: not woken ($out)"; fi ;;
    *) echo "poll: not woken ($out)" ;;
  esac
}

# run_once NAME 'NOTIFIER ARGS' [fuseproxy args]: mounts, runs the sequence into
# $FP_TMP/NAME.out, unmounts; sets log.  What is checked depends on the kernel keeping
# its caches, so a run during which anybody dropped them is not valid: it is repeated.
run_once() {
  local name=$1 cmd=$2 try d0
  shift 2
  for try in 1 2 3; do
    d0=$(fpx_drop_count)
    m=$FP_TMP/$name.$try
    fpx_mount "$m" "$cmd" "$@"
    log=$FPX_LOG
    sequence "$m" > "$FP_TMP/$name.out"
    fp_stop "$m" TERM || fp_fail "fuseproxy did not stop on SIGTERM"
    [ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy exited with $FP_STATUS"
    [ "$(fpx_drop_count)" != "$d0" ] || return 0
    fp_log "somebody dropped the kernel's caches during run $try: once more"
  done
  fp_skip "the kernel's caches were dropped during each of 3 runs"
}
get() { sed -n "s/^$1: //p" "$2"; }

# ---- with notifications -----------------------------------------------------------------
run_once notify "$NOTIFIER -f" -d
o=$FP_TMP/notify.out
cat "$o" >&2
check "INVAL_INODE: clock before" "generation 000000" "$(get 'clock before' "$o")"
check "INVAL_INODE: clock after" "generation 000001" "$(get 'clock after' "$o")"
check "INVAL_ENTRY: entry before" "entry one" "$(get 'entry before' "$o")"
check "INVAL_ENTRY: entry after" "entry two" "$(get 'entry after' "$o")"
check "DELETE: victim before" "victim" "$(get 'victim before' "$o")"
check "DELETE: victim after" "gone" "$(get 'victim after' "$o")"
check "STORE: stored reads" "bytes from a STORE" "$(get stored "$o")"
check "RETRIEVE: retrieved" "bytes from a STORE" "$(get retrieved "$o")"
check "POLL: pollable" "woken" "$(get poll "$o")"

# what the daemon and fuseproxy -d logged
if grep -q "READ of stored reached the daemon" "$log"; then
  fp_log "FAIL: reading stored went to the daemon: the STOREd page was not used"
  failed=1
fi
for what in "INVAL_INODE clock -> ok" "INVAL_ENTRY entry -> ok" "DELETE victim -> ok" \
            "STORE stored -> ok" "RETRIEVE stored -> ok" "POLL pollable -> ok"; do
  grep -qF "notifier: $what" "$log" || { fp_log "FAIL: notifier did not log '$what'"; failed=1; }
done
grep -q "notifier: NOTIFY_REPLY for RETRIEVE 1: ino 7 offset 0, 19 bytes" "$log" ||
  { fp_log "FAIL: the NOTIFY_REPLY did not reach the daemon"; failed=1; }
for n in INVAL_INODE INVAL_ENTRY DELETE STORE RETRIEVE POLL; do
  grep -qE "NOTIFY_$n [0-9]+ bytes \(backend -> kernel\): ok" "$log" ||
    { fp_log "FAIL: fuseproxy -d shows no NOTIFY_$n going to the kernel"; failed=1; }
done
grep -q "NOTIFY_REPLY.* -> (no reply)" "$log" ||
  { fp_log "FAIL: fuseproxy -d shows no NOTIFY_REPLY forwarded to the backend"; failed=1; }
[ "$failed" = 0 ] || fp_dump_log "$log"

# ---- the control: same changes, no notifications ----------------------------------------
run_once quiet "$NOTIFIER -f --no-notify"
o=$FP_TMP/quiet.out
check "control: clock stays cached" "generation 000000" "$(get 'clock after' "$o")"
check "control: entry stays cached" "entry one" "$(get 'entry after' "$o")"
check "control: victim stays cached" "present" "$(get 'victim after' "$o")"
check "control: stored is read from the daemon" "daemon's own bytes" "$(get stored "$o")"
check "control: nothing retrieved" "nothing retrieved" "$(get retrieved "$o")"
case "$(get poll "$o")" in
  "not woken"*) fp_log "ok: control: poll not woken" ;;
  *) fp_log "FAIL: control: poll woke without a notification"; failed=1 ;;
esac

# ---- notifications from another thread, on a timer ----------------------------------------
m=$FP_TMP/ticker
fpx_mount "$m" "$NOTIFIER -f --interval-ms=200"
c1=$(cat "$m/clock")
sleep 1
c2=$(cat "$m/clock")
if [ "$c1" != "$c2" ]; then
  fp_log "ok: timer: clock went from '$c1' to '$c2'"
else
  fp_log "FAIL: timer: clock stayed '$c1' for 1 s with INVAL_INODE every 200 ms"
  failed=1
fi
fp_stop "$m" TERM || fp_fail "fuseproxy did not stop on SIGTERM"
[ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy exited with $FP_STATUS"

[ "$failed" = 0 ] || fp_fail "some notification did not cross fuseproxy"
fp_log "PASS"
