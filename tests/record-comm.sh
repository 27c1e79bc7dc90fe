#!/usr/bin/env bash
# Description: the command name of short-lived processes is in the trace.  40 runs
# of cat and of stat, each a process that lives a few milliseconds, read a file
# through "fuseproxy --passthrough -w": every exchange they caused names its command
# (cat or stat) in requests.comm.  The name must be taken while the process still
# exists, not later by the writer thread (which used to leave most of them empty).
# The same through "fuseproxy --backend memfs" (names reach the trace from the
# backend reader thread).
# Env: FUSEPROXY, TRACE_DUMP, MEMFS (without it the backend half is skipped).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-120}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/record-lib.sh"
rec_require
export LC_ALL=C

failed=0
bad() { fp_log "FAIL: $*"; failed=1; }

# run_procs TAG MNT DB: 40 cats and 40 stats of MNT/f, then unmounts and checks DB
run_procs() {
  local tag=$1 m=$2 db=$3 pids=() list total named procs
  for _ in $(seq 40); do
    cat "$m/f" > /dev/null & pids+=($!)
    wait "${pids[-1]}"
    stat "$m/f" > /dev/null & pids+=($!)
    wait "${pids[-1]}"
  done
  fp_stop "$m" umount || bad "[$tag] fuseproxy did not stop cleanly"
  list=$(IFS=,; echo "${pids[*]}")
  total=$(rec_sq "$db" "SELECT count(*) FROM requests WHERE pid IN ($list)")
  named=$(rec_sq "$db" "SELECT count(*) FROM requests WHERE pid IN ($list) AND comm IN ('cat', 'stat')")
  procs=$(rec_sq "$db" "SELECT count(DISTINCT pid) FROM requests WHERE pid IN ($list)")
  fp_log "[$tag] $total exchanges of $procs short-lived processes, $named with their command name"
  [ "$procs" -ge 40 ] || bad "[$tag] only $procs of the 80 processes show in the trace"
  [ "$named" = "$total" ] ||
    bad "[$tag] $((total - named)) exchanges of short-lived processes have no (or a wrong) command name: $(rec_sq "$db" "SELECT pid, op, quote(comm) FROM requests WHERE pid IN ($list) AND (comm IS NULL OR comm NOT IN ('cat', 'stat')) LIMIT 5" | tr '\n' ' ')"
}

src=$FP_TMP/src m=$FP_TMP/mnt
mkdir "$src"
echo hello > "$src/f"
fp_mount "$src" "$m" -w "$FP_TMP/pt.db"
run_procs passthrough "$m" "$FP_TMP/pt.db"

if [ -n "${MEMFS:-}" ] && [ -x "$MEMFS" ]; then
  m=$FP_TMP/bmnt
  fpx_mount "$m" "$MEMFS -f" -w "$FP_TMP/be.db"
  echo hello > "$m/f"
  run_procs backend "$m" "$FP_TMP/be.db"
else
  fp_log "MEMFS not built: skipping the backend half"
fi
[ "$failed" = 0 ] || fp_fail "command names missing"
fp_log "PASS"
