#!/usr/bin/env bash
# Description: a recorded fio + metadata workload through "fuseproxy --passthrough -w
# trace.db --pcap trace.pcap" (full payload, default drop policy: block), 20 s (60 s with
# FP_SLOW=1; FP_WORKLOAD_SECS overrides).  Afterwards the sqlite trace passes sqlite3's
# integrity_check and the pcap opens with tshark and the Wireshark dissector
# (contrib/wireshark/fuse.lua); the per-opcode counts tshark decodes equal sqlite's:
# requests (fuse.opcode of each REQUEST record's fuse_in_header), replies and error
# replies (per opcode), and our own reader agrees with both.  Nothing may be dropped or
# lost, the workload must succeed, and fio's verify must pass.
# Env: FUSEPROXY, TRACE_DUMP, FUSE_LUA, METALOOP (optional).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-270}   # meson gives 270 (20 s workload) or 870 (60 s); tshark takes most of it
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/record-lib.sh"
rec_require
fp_require_cmd fio tshark setfattr getfattr
[ -r "${FUSE_LUA:-}" ] || fp_skip "FUSE_LUA (contrib/wireshark/fuse.lua) not set"
# tshark runs Lua dissectors as root only where init.lua allows it
tshark -G fields -X "lua_script:$FUSE_LUA" 2>/dev/null | grep -q "	fuse\.opcode	" ||
  fp_skip "tshark does not load $FUSE_LUA (Lua disabled?)"
export LC_ALL=C

secs=${FP_WORKLOAD_SECS:-$([ -n "${FP_SLOW:-}" ] && echo 60 || echo 20)}
failed=0
bad() { fp_log "FAIL: $*"; failed=1; }

src=$FP_TMP/src m=$FP_TMP/mnt db=$FP_TMP/t.db pcap=$FP_TMP/t.pcap
mkdir -p "$src"
fp_mount "$src" "$m" -w "$db" --pcap "$pcap"
mkdir "$m/fio" "$m/meta"

# fio: buffered random writes verified as they go, buffered and O_DIRECT reads; rates are
# capped so that tshark can decode the pcap within the test's time.
fio --output="$FP_TMP/fio.out" --directory="$m/fio" --time_based --runtime="$secs" \
    --ioengine=psync --size=32m --verify_state_save=0 \
    --name=bufw --rw=randwrite --bsrange=4k-128k --rate_iops=300 \
    --verify=crc32c --verify_backlog=64 --fsync=64 \
    --name=bufr --rw=randread --bsrange=4k-64k --rate_iops=300 \
    --name=dread --rw=randread --bs=4k --direct=1 --rate_iops=600 \
    > /dev/null 2> "$FP_TMP/fio.err" &
fio_pid=$!

# metadata: create/stat/unlink batches, directory trees, renames, links, xattrs, ls
meta() {
  local end=$((SECONDS + secs)) r=0 d
  while [ "$SECONDS" -lt "$end" ]; do
    r=$((r + 1))
    if [ -x "${METALOOP:-}" ]; then
      "$METALOOP" -n 300 "$m/meta" > /dev/null
    fi
    d=$m/meta/round$r
    mkdir -p "$d/a/b/c"
    for i in 1 2 3 4 5 6 7 8; do echo "file $i of $r" > "$d/a/f$i"; done
    mv "$d/a/f1" "$d/a/b/moved"
    ln -s ../f2 "$d/a/b/link"
    ln "$d/a/f3" "$d/a/b/hard"
    setfattr -n user.round -v "$r" "$d/a/f4"
    getfattr -n user.round "$d/a/f4" > /dev/null
    chmod 0600 "$d/a/f5"
    truncate -s 100k "$d/a/f6"
    cat "$d"/a/f* > /dev/null
    ls -lR "$m/meta" > /dev/null
    [ "$r" -lt 3 ] || rm -rf "$m/meta/round$((r - 2))"
    sleep 0.3
  done
}
meta_rc=0
meta > "$FP_TMP/meta.out" 2>&1 || meta_rc=$?
fio_rc=0
wait "$fio_pid" || fio_rc=$?
[ "$meta_rc" = 0 ] || { cat "$FP_TMP/meta.out" >&2; bad "metadata workload failed ($meta_rc)"; }
[ "$fio_rc" = 0 ] || { tail -n 20 "$FP_TMP/fio.err" >&2; bad "fio failed ($fio_rc)"; }
fp_stop "$m" umount || fp_fail "fuseproxy did not stop cleanly"
[ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy exited with $FP_STATUS"
fp_log "workload done: $(du -h "$db" | cut -f1) sqlite, $(du -h "$pcap" | cut -f1) pcap"

# sqlite
[ "$(rec_sq "$db" 'PRAGMA integrity_check')" = ok ] || bad "sqlite3: integrity_check failed"
rec_sq "$db" "SELECT op, count(*) FROM requests GROUP BY op ORDER BY op" > "$FP_TMP/sq-req"
rec_sq "$db" "SELECT op, count(*) FROM requests WHERE reply_len IS NOT NULL
              GROUP BY op ORDER BY op" > "$FP_TMP/sq-rep"
rec_sq "$db" "SELECT op, count(*) FROM requests WHERE reply_len IS NOT NULL AND error != 0
              GROUP BY op ORDER BY op" > "$FP_TMP/sq-err"
total=$(rec_sq "$db" "SELECT count(*) FROM requests")
IFS='|' read -r end drops lost < <(rec_sq "$db" "SELECT ifnull(end_wall_ns, 'NULL'), drops, lost FROM session")
[ "$end" != NULL ] || bad "the session row has no end time"
[ "$drops" = 0 ] && [ "$lost" = 0 ] || bad "drops=$drops lost=$lost with --drop-policy block"
for op in 15 16 1 35 18 3; do   # READ WRITE LOOKUP CREATE RELEASE GETATTR
  grep -q "^$op|" "$FP_TMP/sq-req" || bad "no opcode $op in the trace"
done

# tshark: one pass, three columns per record: type, fuse.opcode (requests only, from
# the FUSE header), pseudo-header opcode, fuse.error (replies)
t0=$SECONDS
rc=0
timeout $((FP_TIMEOUT / 2)) tshark -X "lua_script:$FUSE_LUA" -r "$pcap" -T fields \
  -E separator='|' -e fuseproxy.type -e fuse.opcode -e fuseproxy.opcode -e fuse.error \
  > "$FP_TMP/tshark.out" 2> "$FP_TMP/tshark.err" || rc=$?
grep -v 'Running as user "root"' "$FP_TMP/tshark.err" > "$FP_TMP/tshark.err2" || true
[ "$rc" = 0 ] || { head "$FP_TMP/tshark.err2" >&2; fp_fail "tshark -r failed ($rc)"; }
[ ! -s "$FP_TMP/tshark.err2" ] || { head "$FP_TMP/tshark.err2" >&2; bad "tshark complained"; }
fp_log "tshark decoded $(wc -l < "$FP_TMP/tshark.out") records in $((SECONDS - t0)) s"
awk -F'|' '$1 == 1 { n[$2]++ } END { for (o in n) print o "|" n[o] }' "$FP_TMP/tshark.out" |
  sort -t'|' -k1,1n > "$FP_TMP/ts-req"
awk -F'|' '$1 == 2 { n[$3]++ } END { for (o in n) print o "|" n[o] }' "$FP_TMP/tshark.out" |
  sort -t'|' -k1,1n > "$FP_TMP/ts-rep"
awk -F'|' '$1 == 2 && $4 < 0 { n[$3]++ } END { for (o in n) print o "|" n[o] }' \
  "$FP_TMP/tshark.out" | sort -t'|' -k1,1n > "$FP_TMP/ts-err"
rec_same "requests per opcode (sqlite vs tshark)" "$FP_TMP/sq-req" "$FP_TMP/ts-req" || failed=1
rec_same "replies per opcode (sqlite vs tshark)" "$FP_TMP/sq-rep" "$FP_TMP/ts-rep" || failed=1
rec_same "error replies per opcode (sqlite vs tshark)" "$FP_TMP/sq-err" "$FP_TMP/ts-err" || failed=1
n=$(awk -F'|' '$1 == 5' "$FP_TMP/tshark.out" | wc -l)
[ "$n" = 1 ] || bad "tshark sees $n SESSION records, expected 1"
n=$(awk -F'|' '$1 == 6' "$FP_TMP/tshark.out" | wc -l)
[ "$n" = 1 ] || bad "tshark sees $n END records, expected 1 (clean close)"

# our reader on the pcap agrees too
rec_dump "$pcap" | awk '{ n[$4]++ } END { for (o in n) print o "|" n[o] }' |
  sort -t'|' -k1,1n > "$FP_TMP/rd-req"
rec_same "requests per opcode (sqlite vs trace-dump of the pcap)" "$FP_TMP/sq-req" "$FP_TMP/rd-req" ||
  failed=1

[ "$failed" = 0 ] || fp_fail "the recorded workload's trace is not consistent"
fp_log "PASS: ${secs} s workload, $total exchanges in $(wc -l < "$FP_TMP/sq-req") opcodes; sqlite, tshark and our reader agree"
