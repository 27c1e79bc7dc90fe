#!/usr/bin/env bash
# Description: a recorded run of tests/conformance, through "fuseproxy --passthrough"
# and through "fuseproxy --backend 'memfs -f'", each with -d -w trace.db --pcap
# trace.pcap (full payload).  Every exchange the -d log shows must appear exactly once
# in the sqlite trace (read with sqlite3) and exactly once in the pcap trace (read with
# our reader, tests/trace-dump.c), with the same unique and opcode; sqlite and pcap must
# agree on the lengths, error, flags and all four timestamps of each exchange; the kept
# bytes must start with headers matching the row (len, opcode, unique; reply len,
# error, unique); timestamps are ordered t_read <= t_sent <= t_reply <= t_written; the
# session row says the trace was closed cleanly with nothing dropped or lost.
# Also: every notification of tests/daemons/notifier behind fuseproxy, and the kernel's
# NOTIFY_REPLY, once each in the notifications of both files.
# Env: FUSEPROXY, CONFORMANCE, TRACE_DUMP, MEMFS (without it the backend half is
# skipped), NOTIFIER and IOHELPER (without them the notification part is skipped).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-300}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/record-lib.sh"
fp_require_cmd getfattr setfattr setfacl
rec_require
fpx_require CONFORMANCE
fpx_load_conformance_helpers

failed=0
bad() { fp_log "FAIL: $*"; failed=1; }

base=$FP_TMP/base
mkdir "$base"
make_fixture "$base"

# check_run TAG: compares $FP_TMP/TAG.{log,db,pcap} as described at the top.
check_run() {
  local tag=$1 d=$FP_TMP/$1 n nd
  rec_dlog "$d.log" > "$d.dlog"
  nd=$(wc -l < "$d.dlog")
  [ "$nd" -gt 100 ] || bad "[$tag] only $nd exchanges in the -d log; is -d working?"

  # sqlite, straight from the table (not through our reader)
  rec_sq "$d.db" "PRAGMA integrity_check" > "$d.integrity"
  [ "$(cat "$d.integrity")" = ok ] || bad "[$tag] integrity_check: $(head -n 3 "$d.integrity")"
  rec_sq "$d.db" "SELECT r.unique_id || ' ' || o.name FROM requests r
                  LEFT JOIN opcodes o ON o.op = r.op" | sort -n -k1,1 -k2 > "$d.sqlite-x"
  # the same columns trace-dump prints, for the field-by-field comparison
  rec_sq "$d.db" "SELECT 'X', unique_id, o.name, r.op, req_len, ifnull(reply_len, '-'),
                  ifnull(t_read, '-'), ifnull(t_sent, '-'), ifnull(t_reply, '-'),
                  ifnull(t_written, '-'), error, flags
                  FROM requests r LEFT JOIN opcodes o ON o.op = r.op ORDER BY unique_id" |
    tr '|' ' ' > "$d.sqlite-rows"
  rec_dump "$d.pcap" > "$d.pcap-dump"
  rec_dump "$d.db" > "$d.db-dump"
  rec_exchanges "$d.pcap-dump" > "$d.pcap-x"

  # exactly once each
  for f in dlog sqlite-x pcap-x; do
    n=$(rec_dups "$d.$f" | wc -l)
    [ "$n" = 0 ] || bad "[$tag] $n uniques occur more than once in $f: $(rec_dups "$d.$f" | head -n 5 | tr '\n' ' ')"
  done
  rec_same "[$tag] exchanges (unique opcode)" "$d.dlog" "$d.sqlite-x" || failed=1
  rec_same "[$tag] exchanges (unique opcode)" "$d.dlog" "$d.pcap-x" || failed=1

  # field by field: pcap (our reader) vs the sqlite table.  The pcap flags may carry
  # the truncation bits (records are capped at 262144 bytes), so they are masked.
  sort -n -k2,2 "$d.sqlite-rows" | rec_norm_flags > "$d.sqlite-cmp"
  cut -d' ' -f1-12 "$d.pcap-dump" | sort -n -k2,2 | rec_norm_flags > "$d.pcap-cmp"
  rec_same "[$tag] lengths/timestamps/error/flags" "$d.sqlite-cmp" "$d.pcap-cmp" || failed=1

  # the kept bytes match the rows; the sqlite trace is never cut at full snaplen
  n=$(awk '$15 != "ok"' "$d.db-dump" | wc -l)
  [ "$n" = 0 ] || bad "[$tag] $n sqlite rows whose bytes disagree with the row: $(awk '$15 != "ok"' "$d.db-dump" | head -n 3)"
  n=$(awk '$15 != "ok"' "$d.pcap-dump" | wc -l)
  [ "$n" = 0 ] || bad "[$tag] $n pcap records whose bytes disagree with the record: $(awk '$15 != "ok"' "$d.pcap-dump" | head -n 3)"
  n=$(awk '$13 != $5 || ($6 != "-" && $14 != $6)' "$d.db-dump" | wc -l)
  [ "$n" = 0 ] || bad "[$tag] $n sqlite rows keep fewer bytes than the message had (no -s given)"

  # timestamp order, in both files
  for f in db-dump pcap-dump; do
    rec_order_violations "$d.$f" > "$d.$f.order"
    [ ! -s "$d.$f.order" ] || bad "[$tag] $(wc -l < "$d.$f.order") timestamp order violations in $f: $(head -n 3 "$d.$f.order")"
  done

  # a clean close: end time, nothing dropped or lost, no request left pending
  local end drops lost pend
  IFS='|' read -r end drops lost < <(rec_sq "$d.db" "SELECT ifnull(end_wall_ns, 'NULL'), drops, lost FROM session")
  [ "$end" != NULL ] || bad "[$tag] session has no end time after a clean unmount"
  [ "$drops" = 0 ] && [ "$lost" = 0 ] || bad "[$tag] session says drops=$drops lost=$lost"
  pend=$(rec_sq "$d.db" "SELECT count(*) FROM requests WHERE flags & 8")
  [ "$pend" = 0 ] || bad "[$tag] $pend requests recorded as pending after a clean run"
  [ "$(rec_sq "$d.db" "SELECT count(DISTINCT op) FROM requests")" -ge 20 ] ||
    bad "[$tag] fewer than 20 distinct opcodes recorded: conformance did not run?"
  fp_log "[$tag] $nd exchanges, $(rec_sq "$d.db" "SELECT count(DISTINCT op) FROM requests") opcodes: -d log, sqlite and pcap agree"
}

# Without the truncation bits 0x10/0x20 of the flags (field 12), which only the pcap
# may have.
rec_norm_flags() {
  awk '{ $12 = $12 - (int($12 / 16) % 4) * 16; print }'
}

run_conformance() {
  local rc=0
  timeout 200 "$CONFORMANCE" "$1" > "$2" 2> "$2.err" || rc=$?
  [ "$rc" = 0 ] || { cat "$2.err" >&2; fp_fail "conformance exited with $rc on $1"; }
}

# ---- passthrough ---------------------------------------------------------------------
cp -a "$base" "$FP_TMP/pt-src"
m=$FP_TMP/pt-mnt
fp_mount "$FP_TMP/pt-src" "$m" -d -w "$FP_TMP/pt.db" --pcap "$FP_TMP/pt.pcap"
log_pt=$FP_TMP/fuseproxy.$((${#FP_PIDS[@]} - 1)).log
run_conformance "$m" "$FP_TMP/pt.out"
fp_stop "$m" umount || fp_fail "fuseproxy did not stop cleanly"
[ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy exited with $FP_STATUS"
cp "$log_pt" "$FP_TMP/pt.log"
check_run pt

# ---- backend: memfs -----------------------------------------------------------------
if [ -n "${MEMFS:-}" ] && [ -x "$MEMFS" ]; then
  m=$FP_TMP/be-mnt
  fpx_mount "$m" "$MEMFS -f --timeout=0" -d -w "$FP_TMP/be.db" --pcap "$FP_TMP/be.pcap" \
    --backend-log "$FP_TMP/memfs.log"
  log_be=$FPX_LOG
  cp -a "$base/fixture" "$m/"
  run_conformance "$m" "$FP_TMP/be.out"
  fp_stop "$m" umount || fp_fail "fuseproxy --backend did not stop cleanly"
  [ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy --backend exited with $FP_STATUS"
  cp "$log_be" "$FP_TMP/be.log"
  check_run be
  n=$(rec_sq "$FP_TMP/be.db" "SELECT count(*) FROM requests WHERE op != 26 AND NOT flags & 128")
  [ "$n" = 0 ] || bad "[be] $n forwarded exchanges without the BACKEND flag"
else
  fp_log "memfs not built: skipping the --backend half"
fi

# ---- notifications: notifier behind fuseproxy ---------------------------------------
# Each notification the backend sends (INVAL_INODE, INVAL_ENTRY, DELETE, STORE, RETRIEVE,
# POLL) once in sqlite and pcap, direction 4 (proxy -> kernel), as many as the -d log
# shows; the kernel's NOTIFY_REPLY to the RETRIEVE once, direction 2 (passed to the
# backend), and not as an exchange.
if [ -n "${NOTIFIER:-}" ] && [ -x "$NOTIFIER" ] && [ -n "${IOHELPER:-}" ] && [ -x "$IOHELPER" ]; then
  m=$FP_TMP/nt-mnt
  fpx_mount "$m" "$NOTIFIER -f" -d -w "$FP_TMP/nt.db" --pcap "$FP_TMP/nt.pcap" \
    --backend-log "$FP_TMP/notifier.log"
  log_nt=$FPX_LOG
  cat "$m/clock" "$m/entry" "$m/victim" > /dev/null
  stat "$m/stored" > /dev/null
  for c in inval_inode inval_entry delete store retrieve; do echo "$c" > "$m/ctl"; done
  "$IOHELPER" poll "$m/pollable" 2500 > /dev/null &
  p=$!
  sleep 0.5
  echo poll > "$m/ctl"
  wait "$p" || true
  fp_stop "$m" umount || fp_fail "fuseproxy --backend notifier did not stop cleanly"
  [ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy --backend notifier exited with $FP_STATUS"
  rec_sq "$FP_TMP/nt.db" "SELECT direction || ' ' || name FROM notifications ORDER BY 1" > "$FP_TMP/nt.sqlite"
  printf '%s\n' "2 NOTIFY_REPLY" "4 DELETE" "4 INVAL_ENTRY" "4 INVAL_INODE" "4 POLL" "4 RETRIEVE" "4 STORE" |
    sort > "$FP_TMP/nt.want"
  rec_same "[nt] notifications in sqlite" "$FP_TMP/nt.want" "$FP_TMP/nt.sqlite" || failed=1
  "$TRACE_DUMP" "$FP_TMP/nt.pcap" | awk '$1 == "N" { print $3, $4 }' | sort > "$FP_TMP/nt.pcap-n"
  rec_sq "$FP_TMP/nt.db" "SELECT direction || ' ' || code FROM notifications" | sort > "$FP_TMP/nt.sqlite-n"
  rec_same "[nt] notifications (dir code), sqlite vs pcap" "$FP_TMP/nt.sqlite-n" "$FP_TMP/nt.pcap-n" ||
    failed=1
  nd=$(grep -c '^\[ *\] NOTIFY_.*(backend -> kernel)' "$log_nt" || true)
  [ "$nd" = 6 ] || bad "[nt] the -d log shows $nd notifications to the kernel, expected 6"
  n=$(rec_sq "$FP_TMP/nt.db" "SELECT count(*) FROM requests WHERE op = 41")
  [ "$n" = 0 ] || bad "[nt] NOTIFY_REPLY recorded as an exchange too"
  fp_log "[nt] every notification once in sqlite and pcap"
else
  fp_log "notifier or iohelper not built: skipping the notification part"
fi

[ "$failed" = 0 ] || fp_fail "the traces do not hold every exchange exactly once"
fp_log "PASS"
