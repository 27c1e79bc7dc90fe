#!/usr/bin/env bash
# Description: "fuseproxy status MNT" names the request that is stuck.
#   backend: badfs never answers a READ of its file "hang".  While cat waits on it,
#     status lists that READ with where=backend, cat's pid and command name, and its age
#     grows between two calls by about the time between them.  After SIGTERM the READ is
#     in the trace (-w) as a pending exchange (flag 8) with no reply.
#   passthrough: one process holds an flock on a file in the mount, a second one waits
#     for it (SETLKW): status lists the SETLKW with where=lock-wait, the waiter's pid and
#     command, and a growing age; once the holder goes away the waiter gets the lock and
#     status shows nothing in flight.  A second waiter killed by SIGTERM: its SETLKW is
#     answered EINTR and the trace marks it interrupted (flag 1), next to the INTERRUPT.
#   Both record (-w): status shows the trace's counters, nothing dropped or lost.
#   status of a mountpoint nobody serves fails with a message, quickly.
# Env: FUSEPROXY, BADFS, TRACE_DUMP.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-170}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/record-lib.sh"
rec_require
fpx_require BADFS
fp_require_cmd flock
export LC_ALL=C

failed=0
bad() { fp_log "FAIL: $*"; failed=1; }

# age_ms AGE: status prints 12.3ms, 1.234s or 10m05s
age_ms() {
  awk -v a="$1" 'BEGIN {
    if (a ~ /ms$/) { sub(/ms$/, "", a); printf "%d\n", a }
    else if (a ~ /m[0-9]+s$/) { split(a, p, "m"); sub(/s$/, "", p[2]); printf "%d\n", (p[1] * 60 + p[2]) * 1000 }
    else if (a ~ /s$/) { sub(/s$/, "", a); printf "%d\n", a * 1000 }
    else print -1 }'
}

# find_line MNT OP WHERE OUT: waits up to 10 s for a status line of OP at WHERE; leaves
# the whole status in OUT and the line in $LINE
find_line() {
  local end=$((SECONDS + 10))
  LINE=
  while [ "$SECONDS" -lt "$end" ]; do
    rec_status "$1" > "$4" 2>&1 || true
    LINE=$(awk -v op="$2" -v w="$3" '$3 == op && $NF == w' "$4" | head -n 1)
    [ -n "$LINE" ] && return 0
    sleep 0.2
  done
  return 1
}

# check_stuck LABEL MNT OP WHERE PID COMM: the request is listed, and ages
check_stuck() {
  local label=$1 m=$2 op=$3 where=$4 pid=$5 comm=$6 a1 a2 t1 t2
  if ! find_line "$m" "$op" "$where" "$FP_TMP/status1"; then
    cat "$FP_TMP/status1" >&2
    bad "[$label] status never listed a $op at $where"
    return
  fi
  t1=$(date +%s%N)
  a1=$(age_ms "$(echo "$LINE" | awk '{ print $1 }')")
  echo "$LINE" | awk -v p="$pid" -v c="$comm" '$5 == p && $6 == c { ok = 1 } END { exit !ok }' ||
    bad "[$label] status line does not name pid $pid ($comm): $LINE"
  grep -qE "^trace: [0-9]+ records, [0-9]+ written, 0 dropped \(rings full\), 0 lost" "$FP_TMP/status1" ||
    bad "[$label] status has no trace counters: $(cat "$FP_TMP/status1")"
  head -n 1 "$FP_TMP/status1" | grep -qF "on $m " ||
    bad "[$label] status does not name the mountpoint: $(head -n 1 "$FP_TMP/status1")"
  sleep 1.5
  find_line "$m" "$op" "$where" "$FP_TMP/status2" || { bad "[$label] the $op went away"; return; }
  t2=$(date +%s%N)
  a2=$(age_ms "$(echo "$LINE" | awk '{ print $1 }')")
  local dt=$(((t2 - t1) / 1000000))
  if [ "$a1" -lt 0 ] || [ "$a2" -lt 0 ] || [ $((a2 - a1)) -lt $((dt - 500)) ] ||
     [ $((a2 - a1)) -gt $((dt + 2000)) ]; then
    bad "[$label] age went from $a1 ms to $a2 ms in $dt ms"
  fi
  fp_log "[$label] status: $op at $where, age $a1 ms -> $a2 ms ($dt ms later)"
  sed 's/^/    /' "$FP_TMP/status2" >&2
}

# ---- backend: badfs never answers READ of "hang" --------------------------------------
m=$FP_TMP/be
fpx_mount "$m" "$BADFS -f" -w "$FP_TMP/be.db" --backend-log "$FP_TMP/badfs.log"
timeout 60 cat "$m/hang" > /dev/null 2> "$FP_TMP/cat.err" &
reader=$!
sleep 0.3
# the pid of cat itself (timeout forks it)
catpid=$(pgrep -P "$reader" cat || echo "$reader")
check_stuck backend "$m" READ backend "$catpid" cat
fp_stop "$m" TERM || bad "fuseproxy did not stop on SIGTERM with a READ hanging"
rc=0
wait "$reader" || rc=$?
[ "$rc" != 0 ] || bad "cat of the hanging file succeeded"
n=$(rec_sq "$FP_TMP/be.db" "SELECT count(*) FROM requests WHERE op = 15 AND flags & 8
                             AND reply_len IS NULL AND pid = $catpid")
[ "$n" -ge 1 ] || bad "the hanging READ is not in the trace as pending: $(rec_sq "$FP_TMP/be.db" "SELECT op, flags, pid FROM requests WHERE op = 15")"
fp_log "[backend] the hanging READ is in the trace as pending ($n)"

# ---- passthrough: SETLKW waiting for a lock -------------------------------------------
src=$FP_TMP/src m=$FP_TMP/pt
mkdir -p "$src"
fp_mount "$src" "$m" -w "$FP_TMP/pt.db"
( exec 9> "$m/lockfile"; flock 9; touch "$FP_TMP/held"; exec sleep 60 ) &
holder=$!
end=$((SECONDS + 10))
until [ -e "$FP_TMP/held" ]; do
  [ "$SECONDS" -lt "$end" ] || fp_fail "the lock holder did not get the lock"
  sleep 0.05
done
timeout 60 flock "$m/lockfile" true &
waiter=$!
sleep 0.3
wpid=$(pgrep -P "$waiter" flock || echo "$waiter")
check_stuck lock-wait "$m" SETLKW lock-wait "$wpid" flock
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
rc=0
wait "$waiter" || rc=$?
[ "$rc" = 0 ] || bad "the waiter did not get the lock after the holder went away ($rc)"
end=$((SECONDS + 10))
while :; do
  rec_status "$m" > "$FP_TMP/status3" 2>&1 || true
  grep -q "in flight: 0$" "$FP_TMP/status3" && break
  [ "$SECONDS" -lt "$end" ] || { cat "$FP_TMP/status3" >&2; bad "requests still in flight after the lock was granted"; break; }
  sleep 0.2
done

# a lock wait cut short by a signal: the kernel sends INTERRUPT, the wait ends with
# EINTR, and the trace marks the SETLKW interrupted (flag 1)
( exec 9> "$m/lockfile"; flock 9; touch "$FP_TMP/held2"; exec sleep 60 ) &
holder=$!
end=$((SECONDS + 10))
until [ -e "$FP_TMP/held2" ]; do
  [ "$SECONDS" -lt "$end" ] || fp_fail "the second lock holder did not get the lock"
  sleep 0.05
done
flock "$m/lockfile" true &
waiter2=$!
find_line "$m" SETLKW lock-wait "$FP_TMP/status4" || bad "the second waiter is not listed"
kill -TERM "$waiter2"
rc=0
timeout 10 tail --pid="$waiter2" -f /dev/null || rc=$?
[ "$rc" = 0 ] || bad "the waiter did not end after SIGTERM"
wait "$waiter2" 2>/dev/null || true
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

fp_stop "$m" umount || bad "fuseproxy did not stop"
n=$(rec_sq "$FP_TMP/pt.db" "SELECT count(*) FROM requests WHERE op = 33 AND error = 0 AND pid = $wpid")
[ "$n" = 1 ] || bad "the granted SETLKW of the waiter is not in the trace ($n)"
n=$(rec_sq "$FP_TMP/pt.db" "SELECT count(*) FROM requests WHERE op = 33 AND pid = $waiter2
                            AND error = -4 AND flags & 1")
[ "$n" = 1 ] || bad "the interrupted SETLKW is not in the trace as interrupted with EINTR: $(rec_sq "$FP_TMP/pt.db" "SELECT op, error, flags, pid FROM requests WHERE op IN (33, 36)")"
n=$(rec_sq "$FP_TMP/pt.db" "SELECT count(*) FROM requests WHERE op = 36 AND unique_id IN
                            (SELECT unique_id | 1 FROM requests WHERE op = 33 AND pid = $waiter2)")
[ "$n" -ge 1 ] || bad "the INTERRUPT itself is not in the trace"
fp_log "[lock-wait] granted and interrupted SETLKWs are in the trace"

# ---- nobody there ---------------------------------------------------------------------
mkdir -p "$FP_TMP/nothing"
rc=0
timeout 10 "$FUSEPROXY" status "$FP_TMP/nothing" > "$FP_TMP/none.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "no fuseproxy answers" "$FP_TMP/none.out" ||
  bad "status of an unserved directory: exit $rc, $(cat "$FP_TMP/none.out")"

[ "$failed" = 0 ] || fp_fail "fuseproxy status does not show the stuck requests"
fp_log "PASS"
