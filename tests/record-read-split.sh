#!/usr/bin/env bash
# Description: a large O_DIRECT read reaches the server as parallel 256 KiB
# READs.  fuseproxy mounts with max_read=262144 unless -o max_read says
# otherwise, so the kernel (ASYNC_DIO) cuts each 1 MiB read into four
# requests sent at once.  Through "fuseproxy --passthrough -w" 8 reads of
# 1 MiB are checked in the trace: every READ is at most 256 KiB, there are at
# least 32, and some READ was read from the kernel before an earlier one was
# answered (they ran side by side).  The bytes read equal the source file.
# With -o max_read=1048576 the READs are 1 MiB again (the option wins).
# Env: FUSEPROXY, TRACE_DUMP.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-120}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/record-lib.sh"
rec_require
fp_require_cmd dd
export LC_ALL=C

READ=15
failed=0
bad() { fp_log "FAIL: $*"; failed=1; }

# read_direct TAG MNT DB [fuseproxy options]: 8 direct 1 MiB reads of MNT/f
read_direct() {
  local tag=$1 m=$2 db=$3
  shift 3
  fp_mount "$src" "$m" -w "$db" "$@"
  dd if="$m/f" of="$FP_TMP/$tag.out" bs=1M count=8 iflag=direct status=none ||
    bad "[$tag] direct read of $m/f failed"
  fp_stop "$m" umount || bad "[$tag] fuseproxy did not stop cleanly"
  cmp -s "$src/f" "$FP_TMP/$tag.out" || bad "[$tag] the bytes read differ from the source"
}

src=$FP_TMP/src
mkdir "$src"
head -c $((8 << 20)) /dev/urandom > "$src/f"

read_direct default "$FP_TMP/m1" "$FP_TMP/default.db"
db=$FP_TMP/default.db
n=$(rec_sq "$db" "SELECT count(*) FROM requests WHERE op = $READ AND nodeid != 1")
max=$(rec_sq "$db" "SELECT max(size) FROM requests WHERE op = $READ")
overlap=$(rec_sq "$db" "SELECT count(*) FROM requests a JOIN requests b
  ON b.op = $READ AND a.op = $READ AND b.id > a.id AND b.t_read < a.t_written")
fp_log "[default] $n READs, largest $max bytes, $overlap read while an earlier one was open"
[ "$max" = 262144 ] || bad "[default] largest READ is $max bytes, not 262144"
[ "$n" -ge 32 ] || bad "[default] only $n READs for 8 MiB: the reads were not split"
[ "$overlap" -ge 1 ] || bad "[default] no READ overlapped another: they ran one at a time"

read_direct max_read "$FP_TMP/m2" "$FP_TMP/big.db" -o max_read=1048576
max=$(rec_sq "$FP_TMP/big.db" "SELECT max(size) FROM requests WHERE op = $READ")
fp_log "[max_read=1048576] largest READ $max bytes"
[ "$max" = 1048576 ] || bad "[max_read=1048576] largest READ is $max bytes, not 1048576"

[ "$failed" = 0 ] || fp_fail "large reads not split as configured"
fp_log "PASS"
