#!/usr/bin/env bash
# diff: a trace against itself exits 0; against the same workload with one
# opcode's backend slowed down, or failing more often, exits 1 and names
# that opcode (and no other); thresholds are honoured; --json carries the
# verdict; unreadable or empty input exits 2.
set -euo pipefail
source "$(dirname "$0")/analyze-lib.sh"

cd "$AN_TMP"
"$TRACEGEN" -n 30000 -s 0 --seed 7 base.db
"$TRACEGEN" -n 30000 -s 0 --seed 7 --slow lookup=2 slow-lookup.db
"$TRACEGEN" -n 30000 -s 0 --seed 7 --slow write=3 slow-write.db
"$TRACEGEN" -n 30000 -s 0 --seed 7 --err-pct open=30 err-open.db
an_run convert base.db base.pcap

an_run diff base.db base.db > same.txt
[ "$AN_RC" = 0 ] || an_fail "diff of a trace against itself exited $AN_RC"
grep -q "verdict: OK" same.txt || an_fail "no OK verdict"
an_run diff base.db base.pcap > same2.txt
[ "$AN_RC" = 0 ] || an_fail "diff of sqlite against its pcap conversion exited $AN_RC"

check_regression() {                # NEW OPCODE WHAT
  an_run diff base.db "$1" > out.txt 2> err.txt
  [ "$AN_RC" = 1 ] || an_fail "diff against $1 exited $AN_RC, want 1"
  grep -q "verdict: REGRESSION in 1 opcode: $2 $3" out.txt || { cat out.txt >&2; an_fail "verdict does not name $2 $3"; }
  grep -q "regression: $2" err.txt || an_fail "stderr does not name $2"
  an_log "$1: exit 1, names $2 $3"
}
check_regression slow-lookup.db LOOKUP p99
check_regression slow-write.db WRITE p99
check_regression err-open.db OPEN "error rate"

an_run diff --json base.db slow-lookup.db > d.json 2>/dev/null
an_py d.json <<'PY' || an_fail "--json verdict wrong"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "regression" and d["regressions"].startswith("LOOKUP p99"), d["verdict"]
v = {r["op"]: r["verdict"] for r in d["diff"]}
assert v["LOOKUP"].startswith("REGRESSED") and all(
    not x.startswith("REGRESSED") for o, x in v.items() if o != "LOOKUP"), v
PY
# thresholds: a 2x slower LOOKUP is within +500%, and the improvement shows
an_run diff --max-regression 500% base.db slow-lookup.db > loose.txt
[ "$AN_RC" = 0 ] || an_fail "--max-regression 500% still failed"
an_run diff slow-lookup.db base.db > better.txt
[ "$AN_RC" = 0 ] && grep -Eq '^LOOKUP .*improved' better.txt || an_fail "speed-up not shown as improved"
# too few samples are not judged
an_run diff --min-count 1000000 base.db slow-lookup.db > few.txt
[ "$AN_RC" = 0 ] && grep -q "few samples" few.txt || an_fail "--min-count not honoured"
an_run diff --max-regression ten base.db base.db 2>/dev/null
[ "$AN_RC" = 2 ] || an_fail "bad --max-regression accepted"
: > empty.db
an_run diff base.db empty.db 2>/dev/null
[ "$AN_RC" = 2 ] || an_fail "diff with an empty file exited $AN_RC"
an_log "ok"
