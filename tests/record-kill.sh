#!/usr/bin/env bash
# Description: what a trace holds when fuseproxy is stopped while recording
# (--passthrough, -d -w trace.db --pcap trace.pcap).
#   kill -9: a workload runs, then the mount stays idle for longer than the flush
#     interval (200 ms); the exchanges the -d log shows at that point are the "sync
#     point".  A second workload starts and fuseproxy gets SIGKILL in the middle of it.
#     The sqlite trace must pass integrity_check and hold every exchange of the sync
#     point (and nothing the -d log does not show, nothing twice); the pcap must open
#     with our reader (a last record cut short allowed) and hold them too.  The test
#     cleans up the dead mount (abort + umount) itself.
#   SIGTERM: same workload, SIGTERM while it runs: fuseproxy exits 0, and both traces are
#     complete: the session row has its end time and counters (drops = lost = 0,
#     records = rows + notifications + events), and the exchanges are exactly those
#     of the -d log, in sqlite and in the pcap.
#   backend crash (badfs aborts on a READ): fuseproxy exits 1 by itself; the trace is
#     closed cleanly and holds every exchange of the -d log, including the EIO answers
#     fuseproxy gave after the death, plus the fatal READ as pending and a backend_exit
#     event.
# Env: FUSEPROXY, TRACE_DUMP, BADFS (optional).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-170}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/record-lib.sh"
rec_require
export LC_ALL=C

failed=0
bad() { fp_log "FAIL: $*"; failed=1; }

# workload DIR SECS: files written, read, renamed, stat'ed and removed until SECS have
# passed or the mount goes away (then it stops quietly: the daemon was killed).
workload() {
  local dir=$1 end=$((SECONDS + $2)) r=0
  mkdir -p "$dir" 2>/dev/null || return 0
  while [ "$SECONDS" -lt "$end" ] && [ -d "$dir" ]; do
    r=$((r + 1))
    {
      for i in 1 2 3 4 5 6 7 8 9 10; do
        head -c $((i * 3000)) /dev/zero > "$dir/f$r.$i"
      done
      cat "$dir"/f$r.* > /dev/null
      mv "$dir/f$r.1" "$dir/g$r"
      stat "$dir/g$r" > /dev/null
      ls -l "$dir" > /dev/null
      rm -f "$dir"/f$r.*
    } 2>/dev/null || return 0
  done
}

# mount_log: the log file of the last fp_mount
mount_log() { echo "$FP_TMP/fuseproxy.$((${#FP_PIDS[@]} - 1)).log"; }

# ---- kill -9 --------------------------------------------------------------------------
src=$FP_TMP/src1 m=$FP_TMP/mnt1 db=$FP_TMP/k.db pcap=$FP_TMP/k.pcap
mkdir -p "$src"
fp_mount "$src" "$m" -d -w "$db" --pcap "$pcap"
log=$(mount_log)
kpid=$FP_PID kconn=$FP_CONN
workload "$m/w1" 3
sleep 1                       # idle: > flush interval, every batch committed
rec_dlog "$log" > "$FP_TMP/sync.dlog"
nsync=$(wc -l < "$FP_TMP/sync.dlog")
sleep 0.5                     # and anything logged just before the snapshot flushed too
[ "$nsync" -gt 100 ] || bad "only $nsync exchanges before the sync point"
workload "$m/w2" 60 &
wl=$!
# kill in the middle of it: once it has made a few hundred more exchanges
end=$((SECONDS + 30))
while [ "$(grep -c '^\[' "$log")" -lt $((nsync + 400)) ] && [ "$SECONDS" -lt "$end" ]; do
  sleep 0.1
done
fp_log "kill -9 of fuseproxy (pid $kpid) with $nsync exchanges at the sync point, workload running"
kill -KILL "$kpid"
fpx_expect_exit "$m" 5 || fp_fail "fuseproxy did not die on SIGKILL"
[ "$FP_STATUS" = 137 ] || bad "fuseproxy exited with $FP_STATUS after SIGKILL, expected 137"
# the test's own cleanup of the dead mount: abort the connection, end the workload,
# unmount
fp_abort_conn "$kconn" || true
timeout 20 tail --pid="$wl" -f /dev/null || kill -KILL "$wl" 2>/dev/null || true
wait "$wl" 2>/dev/null || true
fp_umount "$m" || fp_umount "$m" -l || bad "cannot unmount $m after the kill"
fp_is_mounted "$m" && bad "$m still mounted after the cleanup"

[ -s "$db" ] || fp_fail "no sqlite trace after kill -9"
ok=$(rec_sq "$db" "PRAGMA integrity_check" 2>&1) || true
[ "$ok" = ok ] || bad "integrity_check after kill -9: $ok"
rec_sq "$db" "SELECT r.unique_id || ' ' || o.name FROM requests r LEFT JOIN opcodes o ON o.op = r.op" |
  sort -n -k1,1 -k2 > "$FP_TMP/k.sqlite-x"
rec_dlog "$log" > "$FP_TMP/k.dlog"
missing=$(rec_missing "$FP_TMP/sync.dlog" "$FP_TMP/k.sqlite-x" | wc -l)
[ "$missing" = 0 ] || bad "sqlite after kill -9 misses $missing of the $nsync exchanges of the sync point: $(rec_missing "$FP_TMP/sync.dlog" "$FP_TMP/k.sqlite-x" | head -n 5 | tr '\n' ' ')"
extra=$(rec_missing "$FP_TMP/k.sqlite-x" "$FP_TMP/k.dlog" | wc -l)
[ "$extra" = 0 ] || bad "sqlite holds $extra exchanges the -d log never showed"
n=$(rec_dups "$FP_TMP/k.sqlite-x" | wc -l)
[ "$n" = 0 ] || bad "$n exchanges twice in sqlite after kill -9"
end=$(rec_sq "$db" "SELECT ifnull(end_wall_ns, 'NULL') FROM session")
[ "$end" = NULL ] || bad "the session has an end time although fuseproxy was killed"
nrows=$(wc -l < "$FP_TMP/k.sqlite-x")

if "$TRACE_DUMP" -k "$pcap" > "$FP_TMP/k.pcap-dump" 2> "$FP_TMP/k.pcap-err"; then
  grep '^X ' "$FP_TMP/k.pcap-dump" | awk '{ print $2, $3 }' | sort -n -k1,1 -k2 > "$FP_TMP/k.pcap-x"
  missing=$(rec_missing "$FP_TMP/sync.dlog" "$FP_TMP/k.pcap-x" | wc -l)
  [ "$missing" = 0 ] || bad "pcap after kill -9 misses $missing of the $nsync exchanges of the sync point"
  n=$(rec_dups "$FP_TMP/k.pcap-x" | wc -l)
  [ "$n" = 0 ] || bad "$n exchanges twice in the pcap after kill -9"
  npcap=$(wc -l < "$FP_TMP/k.pcap-x")
else
  bad "the pcap does not open after kill -9: $(cat "$FP_TMP/k.pcap-err")"
  npcap=-
fi
fp_log "kill -9: $nsync at the sync point, $(wc -l < "$FP_TMP/k.dlog") in the -d log at the kill; sqlite holds $nrows, pcap $npcap"

# ---- SIGTERM ----------------------------------------------------------------------------
src=$FP_TMP/src2 m=$FP_TMP/mnt2 db=$FP_TMP/t.db pcap=$FP_TMP/t.pcap
mkdir -p "$src"
fp_mount "$src" "$m" -d -w "$db" --pcap "$pcap"
log=$(mount_log)
workload "$m/w" 30 &
wl=$!
sleep 3
fp_stop "$m" TERM || bad "fuseproxy did not stop on SIGTERM"
[ "$FP_STATUS" = 0 ] || bad "fuseproxy exited with $FP_STATUS after SIGTERM"
timeout 20 tail --pid="$wl" -f /dev/null || kill -KILL "$wl" 2>/dev/null || true
wait "$wl" 2>/dev/null || true

[ "$(rec_sq "$db" "PRAGMA integrity_check")" = ok ] || bad "integrity_check after SIGTERM"
[ ! -e "$db-wal" ] || bad "the WAL is still there after a clean close"
IFS='|' read -r end recs drops lost < <(rec_sq "$db" "SELECT ifnull(end_wall_ns, 'NULL'), records, drops, lost FROM session")
[ "$end" != NULL ] || bad "no end time in the session row after SIGTERM"
[ "$drops" = 0 ] && [ "$lost" = 0 ] || bad "drops=$drops lost=$lost after SIGTERM"
all=$(rec_sq "$db" "SELECT (SELECT count(*) FROM requests) + (SELECT count(*) FROM notifications) + (SELECT count(*) FROM events)")
[ "$recs" = "$all" ] || bad "session.records = $recs, but the tables hold $all records"
rec_dlog "$log" > "$FP_TMP/t.dlog"
rec_sq "$db" "SELECT r.unique_id || ' ' || o.name FROM requests r LEFT JOIN opcodes o ON o.op = r.op" |
  sort -n -k1,1 -k2 > "$FP_TMP/t.sqlite-x"
rec_dump "$pcap" | awk '{ print $2, $3 }' | sort -n -k1,1 -k2 > "$FP_TMP/t.pcap-x"
rec_same "exchanges after SIGTERM (-d log vs sqlite)" "$FP_TMP/t.dlog" "$FP_TMP/t.sqlite-x" || failed=1
rec_same "exchanges after SIGTERM (-d log vs pcap)" "$FP_TMP/t.dlog" "$FP_TMP/t.pcap-x" || failed=1
"$TRACE_DUMP" -s "$pcap" > "$FP_TMP/t.pcap-dump"
grep -q '^S end_mono_ns [1-9]' "$FP_TMP/t.pcap-dump" || bad "the pcap has no END record after SIGTERM"
fp_log "SIGTERM: $(wc -l < "$FP_TMP/t.dlog") exchanges in the -d log, sqlite and pcap"

# ---- the backend crashes ----------------------------------------------------------------
# badfs aborts on a READ of "crash" while another process keeps using the mount.
# fuseproxy answers EIO, unmounts and exits 1 by itself; the trace, closed cleanly,
# holds every exchange of the -d log (also those the engine answered EIO after the
# death), the READ that crashed it as pending, and a backend_exit event.
if [ -n "${BADFS:-}" ] && [ -x "$BADFS" ]; then
  m=$FP_TMP/mnt3 db=$FP_TMP/c.db pcap=$FP_TMP/c.pcap
  fpx_mount "$m" "$BADFS -f --quiet" -d -w "$db" --pcap "$pcap" --backend-log "$FP_TMP/badfs.log"
  log=$FPX_LOG
  ( end=$((SECONDS + 10))
    while [ "$SECONDS" -lt "$end" ] && [ -e "$m/good" ]; do cat "$m/good" > /dev/null; done
  ) 2>/dev/null &
  wl=$!
  sleep 0.5
  cat "$m/crash" > /dev/null 2>&1 && bad "reading crash succeeded"
  fpx_expect_exit "$m" 10 || fp_fail "fuseproxy did not exit after its backend crashed"
  [ "$FP_STATUS" = 1 ] || bad "fuseproxy exited with $FP_STATUS after the backend crashed, expected 1"
  timeout 20 tail --pid="$wl" -f /dev/null || kill -KILL "$wl" 2>/dev/null || true
  wait "$wl" 2>/dev/null || true
  fp_is_mounted "$m" && bad "$m still mounted after the backend crashed"

  [ "$(rec_sq "$db" "PRAGMA integrity_check")" = ok ] || bad "[crash] integrity_check"
  end=$(rec_sq "$db" "SELECT ifnull(end_wall_ns, 'NULL') FROM session")
  [ "$end" != NULL ] || bad "[crash] no end time: the trace was not closed"
  rec_dlog "$log" > "$FP_TMP/c.dlog"
  rec_sq "$db" "SELECT r.unique_id || ' ' || o.name FROM requests r LEFT JOIN opcodes o ON o.op = r.op
                WHERE NOT r.flags & 8" | sort -n -k1,1 -k2 > "$FP_TMP/c.sqlite-x"
  rec_same "[crash] exchanges answered (-d log vs sqlite)" "$FP_TMP/c.dlog" "$FP_TMP/c.sqlite-x" ||
    failed=1
  rec_dump "$pcap" | awk '{ print $2, $3 }' | sort -n -k1,1 -k2 > "$FP_TMP/c.pcap-x"
  rec_sq "$db" "SELECT r.unique_id || ' ' || o.name FROM requests r LEFT JOIN opcodes o ON o.op = r.op" |
    sort -n -k1,1 -k2 > "$FP_TMP/c.sqlite-all"
  rec_same "[crash] exchanges (sqlite vs pcap)" "$FP_TMP/c.sqlite-all" "$FP_TMP/c.pcap-x" || failed=1
  # (a READ of "good" in flight at that moment is pending too)
  n=$(rec_sq "$db" "SELECT count(*) FROM requests WHERE op = 15 AND flags & 8 AND flags & 128
                    AND nodeid IN (SELECT out_nodeid FROM requests WHERE op = 1 AND name = 'crash')")
  [ "$n" = 1 ] || bad "[crash] the READ that crashed the backend is not recorded as pending ($n)"
  n=$(rec_sq "$db" "SELECT count(*) FROM events WHERE kind = 'backend_exit'")
  [ "$n" -ge 1 ] || bad "[crash] no backend_exit event"
  eio=$(rec_sq "$db" "SELECT count(*) FROM requests WHERE error = -5 AND NOT flags & 128")
  fp_log "[crash] $(wc -l < "$FP_TMP/c.dlog") exchanges in the -d log and the trace, $eio answered EIO by fuseproxy after the crash"
else
  fp_log "badfs not built: skipping the backend crash"
fi

[ "$failed" = 0 ] || fp_fail "traces after kill -9 / SIGTERM / a backend crash are not what they should be"
fp_log "PASS"
