#!/usr/bin/env bash
# Description: dbench (file-server workload, 2 clients, 20 s) through the mount. dbench
# checks every operation's result against its load file; the test fails on a non-zero
# exit, any error/failure line, or a missing throughput summary. FP_SLOW=1: 8 clients,
# 5 minutes.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-370}
. "$(dirname "$0")/lib.sh"
fp_require_cmd dbench

secs=20 clients=2
[ -z "${FP_SLOW:-}" ] || { secs=300; clients=8; }
loadfile=/usr/share/dbench/client.txt
[ -r "$loadfile" ] || fp_skip "no dbench load file $loadfile"

src=$FP_TMP/src mnt=$FP_TMP/mnt
mkdir "$src"
fp_mount "$src" "$mnt"

rc=0
dbench -c "$loadfile" -D "$mnt" -t "$secs" "$clients" > "$FP_TMP/dbench.out" 2>&1 || rc=$?
summary=$(grep -E '^Throughput ' "$FP_TMP/dbench.out" || true)
errors=$(grep -Ei 'error|fail|unexpected|warning' "$FP_TMP/dbench.out" || true)
if [ "$rc" != 0 ] || [ -z "$summary" ] || [ -n "$errors" ]; then
  tail -n 60 "$FP_TMP/dbench.out" >&2
  fp_fail "dbench: status $rc${errors:+, errors reported}${summary:-, no throughput summary}"
fi
ls "$mnt" >/dev/null || fp_fail "mount no longer answers"
fp_log "dbench: $summary"
fp_log "PASS"
