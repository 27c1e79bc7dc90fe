#!/usr/bin/env bash
# export --perfetto writes Chrome trace-event JSON that parses, with exactly
# one "request" complete event per request, slices that nest on every track
# (concurrent requests of one worker get lanes), backend slices inside
# their request, named tracks, and an in-flight counter that ends at the
# number of unanswered requests.
set -euo pipefail
source "$(dirname "$0")/analyze-lib.sh"

cd "$AN_TMP"
"$TRACEGEN" -n 15000 -s 64 --workers 4 --pending 3 --expect expect.json t.db
an_run export t.db --perfetto t.json
[ "$AN_RC" = 0 ] || an_fail "export exited $AN_RC"
an_json t.json
an_py t.json expect.json <<'PY' || an_fail "perfetto export is wrong"
import collections, json, sys
d = json.load(open(sys.argv[1])); exp = json.load(open(sys.argv[2]))
ev = d["traceEvents"]
total = sum(e["count"] for e in exp["ops"].values())
req = [e for e in ev if e["ph"] == "X" and e.get("cat") == "request"]
assert len(req) == total, (len(req), total)
assert len({e["args"]["unique"] for e in req}) == total, "a request appears twice"
per_op = collections.Counter(e["name"].split(" ")[0] for e in req)
for op, e in exp["ops"].items():
    assert per_op[op] == e["count"], (op, per_op[op], e["count"])
unans = [e for e in req if e["name"].endswith("(unanswered)")]
assert sorted(e["args"]["unique"] for e in unans) == sorted(exp["pending"]), unans
ns = lambda v: round(v * 1000)
# slices on one track nest: requests never overlap, backend inside its request
tracks = collections.defaultdict(list)
for e in req:
    tracks[e["tid"]].append((ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])))
for tid, sl in tracks.items():
    sl.sort()
    for (a0, a1), (b0, b1) in zip(sl, sl[1:]):
        assert a1 <= b0, f"track {tid}: [{a0},{a1}] overlaps [{b0},{b1}]"
be = [e for e in ev if e["ph"] == "X" and e.get("cat") == "backend"]
assert be and len(be) <= total
for b in be:
    s, t = ns(b["ts"]), ns(b["ts"]) + ns(b["dur"])
    assert any(r0 <= s and t <= r1 for r0, r1 in tracks[b["tid"]]), b
names = {e["tid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
assert all(t in names for t in tracks), "a track without a name"
assert {f"worker {w}" for w in range(4)} <= set(names.values()), names
cnt = [e for e in ev if e["ph"] == "C"]
assert cnt and max(c["args"]["requests"] for c in cnt) >= 2
assert cnt[-1]["args"]["requests"] == len(exp["pending"]), cnt[-1]
assert d["displayTimeUnit"] == "ns"
PY
an_log "one event per request ($(python3 -c 'import json,sys; print(sum(1 for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("cat") == "request"))' t.json)), tracks nest"

# paths and details travel in the args
"$TRACEGEN" --workload paths p.db
an_run export p.db --perfetto - > p.json
an_py p.json <<'PY' || an_fail "perfetto args lack paths"
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
paths = {e["args"].get("path") for e in ev if e.get("cat") == "request"}
assert "/z/b/h (deleted)" in paths and "(unknown)/child" in paths, paths
assert all("detail" in e["args"] for e in ev if e.get("cat") == "request")
PY
an_run export p.db 2>err.txt || true
[ "$AN_RC" = 2 ] && grep -q perfetto err.txt || an_fail "export without --perfetto: rc $AN_RC"
an_log "ok"
