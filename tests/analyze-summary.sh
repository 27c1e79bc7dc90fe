#!/usr/bin/env bash
# fuseanalyze summary on synthesized traces with known content: per opcode
# counts, errors by errno, pending, data/request/reply bytes equal what the
# generator wrote; latency quantiles (total, backend, overhead) agree with
# an exact nearest-rank computation within the documented bound; the same
# from the pcap conversion; --csv carries the same numbers; --op selects.
set -euo pipefail
source "$(dirname "$0")/analyze-lib.sh"

cd "$AN_TMP"
# -s 256: data bytes come from wire lengths, the kept bytes do not matter
"$TRACEGEN" -n 40000 -s 256 --pending 6 --workers 3 --expect expect.json t.db
an_run convert t.db t.pcap
[ "$AN_RC" = 0 ] || an_fail "convert exited $AN_RC"

for trace in t.db t.pcap; do
  an_run summary --json "$trace" > "s-$trace.json"
  [ "$AN_RC" = 0 ] || an_fail "summary $trace exited $AN_RC"
  an_json "s-$trace.json"
  an_py expect.json "s-$trace.json" <<'PY' || an_fail "summary of $trace differs from the expected content"
import json, sys
exp = json.load(open(sys.argv[1]))
got = json.load(open(sys.argv[2]))
bound = got["quantile_error_bound"]
assert abs(bound - 1 / 256) < 1e-12, bound
rows = {r["op"]: r for r in got["ops"]}
bad = []
for op, e in exp["ops"].items():
    r = rows.get(op)
    if not r:
        bad.append(f"{op}: missing"); continue
    for k in ("count", "errors", "pending", "data_bytes", "request_bytes", "reply_bytes"):
        # data_bytes is null for opcodes that never move READ/WRITE payload
        if (r[k] if r[k] is not None or k != "data_bytes" else 0) != e[k]:
            bad.append(f"{op}.{k}: {r[k]} != {e[k]}")
    for kind, cols in (("total", ("p50", "p90", "p99", "p99.9", "max")),
                       ("backend", ("p50", "p99")), ("overhead", ("p50", "p99"))):
        if kind not in e:
            if r[f"{kind}_p50_ns"] is not None:
                bad.append(f"{op}: {kind} latency where none exists")
            continue
        for q in cols:
            want, have = e[kind][q], r[f"{kind}_{q}_ns"]
            if have is None or abs(have - want) > want * bound:
                bad.append(f"{op} {kind} {q}: {have} vs exact {want} (bound {bound})")
# errors by errno
errs = {}
for r in got["errors"]:
    errs[(r["op"], r["errno"])] = r["count"]
want = {(op, n): c for op, e in exp["ops"].items() for n, c in e["errnos"].items()}
if errs != want:
    bad.append(f"errors by errno: {errs} != {want}")
allrow = rows.get("(all)")
if not allrow or allrow["count"] != sum(e["count"] for e in exp["ops"].values()):
    bad.append(f"(all) count wrong: {allrow}")
if got["requests"] != allrow["count"] or got["pending"] != len(exp["pending"]):
    bad.append(f"header: requests {got['requests']} pending {got['pending']}")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  an_log "$trace: counts, errors, bytes exact; quantiles within the bound"
done

# the parallel pass (rowid partitions, merged histograms) gives the same answer
for n in 1 3; do
  FUSEANALYZE_THREADS=$n an_run summary --json t.db > "par$n.json"
done
cmp -s par1.json par3.json || an_fail "summary with 3 threads differs from 1 thread"

# CSV: same numbers as JSON
an_run summary --csv t.db > s.csv
an_py s-t.db.json s.csv <<'PY' || an_fail "--csv differs from --json"
import csv, json, sys
j = {r["op"]: r for r in json.load(open(sys.argv[1]))["ops"]}
lines = [l for l in open(sys.argv[2]).read().split("\n\n")[0].splitlines() if not l.startswith("#")]
rows = list(csv.DictReader(lines))
assert len(rows) == len(j), (len(rows), len(j))
for r in rows:
    for k in ("count", "errors", "data_bytes", "total_p99_ns"):
        want = j[r["op"]][k]
        assert (r[k] == "" and want is None) or int(r[k]) == want, (r["op"], k, r[k], want)
PY

# --op: only the named opcodes (INIT included only when named)
an_run summary --json --op read,write t.db > sel.json
an_py sel.json expect.json <<'PY' || an_fail "--op read,write selected the wrong rows"
import json, sys
got = json.load(open(sys.argv[1])); exp = json.load(open(sys.argv[2]))
ops = sorted(r["op"] for r in got["ops"] if r["op"] != "(all)")
assert ops == ["READ", "WRITE"], ops
assert got["selected"] == exp["ops"]["READ"]["count"] + exp["ops"]["WRITE"]["count"]
PY

# human output: aligned table with the latency groups named
an_run summary t.db > s.txt
grep -q "total: read->written" s.txt || an_fail "human summary lacks the latency heading"
grep -Eq '^LOOKUP +[0-9]+ ' s.txt || an_fail "human summary lacks a LOOKUP row"
grep -q "errors by errno" s.txt || an_fail "human summary lacks the errors table"
an_log "ok"
