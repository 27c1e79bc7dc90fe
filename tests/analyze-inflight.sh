#!/usr/bin/env bash
# inflight lists exactly the requests that were never answered (the
# generator marks K requests of a mixed workload pending, as fuseproxy does
# at shutdown), oldest first, from sqlite and pcap; timeline accounts for
# every request and ends with exactly those K in flight.
set -euo pipefail
source "$(dirname "$0")/analyze-lib.sh"

cd "$AN_TMP"
"$TRACEGEN" -n 20000 -s 64 --pending 9 --expect expect.json t.db
an_run convert t.db t.pcap
for trace in t.db t.pcap; do
  an_run inflight --json "$trace" > inf.json
  [ "$AN_RC" = 0 ] || an_fail "inflight exited $AN_RC"
  an_py expect.json inf.json <<'PY' || an_fail "$trace: inflight is not exactly the unanswered requests"
import json, sys
want = json.load(open(sys.argv[1]))["pending"]
rows = json.load(open(sys.argv[2]))["inflight"]
got = [r["unique"] for r in rows]
assert len(want) == 9, want
assert sorted(got) == sorted(want), (got, want)
ats = [r["at_s"] for r in rows]
assert ats == sorted(ats), "not oldest first"
ages = [r["age_ns"] for r in rows]
assert ages == sorted(ages, reverse=True) and ages[-1] > 0, ages
assert all(r["waiting_in"] == "filesystem" for r in rows), rows
PY
done
an_log "inflight: exactly the 9 unanswered requests"

# a trace where everything was answered lists nothing
"$TRACEGEN" -n 2000 -s 0 all.db
an_run inflight --json all.db > none.json
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["inflight"]; sys.exit(len(r) != 0)' none.json ||
  an_fail "inflight listed requests of a trace without pending ones"

# timeline: every request counted once, the pending ones in flight at the end
an_run timeline --json --bucket 5ms t.db > tl.json
[ "$AN_RC" = 0 ] || an_fail "timeline exited $AN_RC"
an_py tl.json expect.json <<'PY' || an_fail "timeline does not add up"
import json, sys
tl = json.load(open(sys.argv[1])); exp = json.load(open(sys.argv[2]))
rows = tl["timeline"]
total = sum(e["count"] for e in exp["ops"].values())
assert sum(r["requests"] for r in rows) == total, (sum(r["requests"] for r in rows), total)
assert rows[-1]["inflight_end"] == len(exp["pending"]), rows[-1]
assert all(r["inflight_max"] >= r["inflight_end"] for r in rows)
assert tl["bucket_ns"] == 5000000
starts = [r["t_s"] for r in rows]
assert all(abs(b - a - 0.005) < 1e-9 for a, b in zip(starts, starts[1:])), "buckets not contiguous"
PY
an_run timeline --bucket 0 t.db 2>/dev/null || true
[ "$AN_RC" = 2 ] || an_fail "timeline --bucket 0 accepted"
an_log "ok"
