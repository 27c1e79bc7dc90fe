#!/usr/bin/env bash
# fuseanalyze on traces fuseproxy recorded (-w and --pcap at once) during a
# known workload on a real mount (a create/write/rename/unlink loop of N
# files, failing rmdirs, fio writing and reading a fixed number of direct
# 4 KiB blocks): CREATE, MKDIR, RENAME, UNLINK, WRITE and READ counts, the
# bytes written and read and the RMDIR ENOTEMPTY errors equal what the
# workload did; latency quantiles agree with an exact computation from the
# trace's rows within the documented bound; the pcap says the same as the
# sqlite trace; the renamed and deleted files show under their right
# paths; nothing is left in flight.  With the memfs
# test daemon (MEMFS), a trace of a backend slowed by --delay-ms diffs as a
# regression naming LOOKUP, and a trace against itself as none.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -n "${FUSEANALYZE:-}" ] && [ -x "$FUSEANALYZE" ] || fp_skip "FUSEANALYZE not set"
fp_require_cmd python3 fio

A=$FUSEANALYZE
N=40            # files created, written (1000 bytes each); half renamed, half deleted
R=7             # rmdir of a non-empty directory
M=25            # stat of names that do not exist

src=$FP_TMP/src mnt=$FP_TMP/mnt
mkdir -p "$src"
fp_mount "$src" "$mnt" -w "$FP_TMP/t.db" --pcap "$FP_TMP/t.pcap"
python3 - "$mnt" "$N" "$R" "$M" <<'PY'
import errno, os, sys
mnt, n, r, m = sys.argv[1], *map(int, sys.argv[2:])
os.mkdir(f"{mnt}/d")
os.mkdir(f"{mnt}/full")
open(f"{mnt}/full/x", "wb").close()
for i in range(1, n + 1):
    with open(f"{mnt}/d/f{i}", "wb", buffering=0) as f:
        f.write(b"\0" * 1000)
for i in range(1, n // 2 + 1):
    os.rename(f"{mnt}/d/f{i}", f"{mnt}/d/g{i}")
for i in range(n // 2 + 1, n + 1):
    os.unlink(f"{mnt}/d/f{i}")
for _ in range(r):
    try:
        os.rmdir(f"{mnt}/full")
        raise SystemExit("rmdir of a non-empty directory worked")
    except OSError as e:
        assert e.errno == errno.ENOTEMPTY, e
for i in range(m):
    assert not os.path.exists(f"{mnt}/d/missing{i}")
PY
# fio: exactly 256 direct 4 KiB writes, then 100 direct 4 KiB random reads
fio --name=w --filename="$mnt/fio.dat" --rw=write --bs=4k --size=1M --direct=1 \
  --fallocate=none --ioengine=psync > "$FP_TMP/fio-w.log" 2>&1 || fp_fail "fio write failed"
fio --name=r --filename="$mnt/fio.dat" --rw=randread --bs=4k --size=1M --direct=1 \
  --number_ios=100 --ioengine=psync > "$FP_TMP/fio-r.log" 2>&1 || fp_fail "fio read failed"
fp_stop "$mnt" umount || fp_fail "unmount failed"
[ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy exited $FP_STATUS"

for t in t.db t.pcap; do
  "$A" summary --json "$FP_TMP/$t" > "$FP_TMP/$t.json" || fp_fail "summary $t failed"
done
python3 - "$FP_TMP/t.db.json" "$FP_TMP/t.pcap.json" "$N" "$R" "$M" <<'PY' || fp_fail "counts differ from the workload"
import json, sys
db, pc = (json.load(open(p)) for p in sys.argv[1:3])
n, r, m = map(int, sys.argv[3:])
ops = {x["op"]: x for x in db["ops"]}
errs = {(x["op"], x["errno"]): x["count"] for x in db["errors"]}
def eq(what, got, want):
    if got != want:
        raise SystemExit(f"{what}: {got}, want {want}")
eq("CREATE", ops["CREATE"]["count"], n + 2)          # + full/x + fio.dat
eq("MKDIR", ops["MKDIR"]["count"], 2)
eq("RENAME", ops.get("RENAME", {"count": 0})["count"] + ops.get("RENAME2", {"count": 0})["count"], n // 2)
eq("UNLINK", ops["UNLINK"]["count"], n // 2)
eq("WRITE", ops["WRITE"]["count"], n + 256)
eq("WRITE data", ops["WRITE"]["data_bytes"], n * 1000 + 256 * 4096)
eq("READ", ops["READ"]["count"], 100)
eq("READ data", ops["READ"]["data_bytes"], 100 * 4096)
eq("RMDIR", ops["RMDIR"]["count"], r)
eq("RMDIR ENOTEMPTY", errs.get(("RMDIR", "ENOTEMPTY")), r)
assert errs.get(("LOOKUP", "ENOENT"), 0) >= m, errs
eq("pending", db["pending"], 0)
assert db["closed_cleanly"] == "yes"
# the pcap holds the same exchanges
pops = {x["op"]: x for x in pc["ops"]}
for k, x in ops.items():
    for f in ("count", "errors", "data_bytes", "request_bytes", "reply_bytes"):
        eq(f"pcap {k}.{f}", pops[k][f], x[f])
PY
fp_log "summary matches the workload (sqlite and pcap)"

# quantiles against an exact computation from the trace's own rows
python3 - "$FP_TMP/t.db" "$FP_TMP/t.db.json" <<'PY' || fp_fail "quantiles outside the documented bound"
import json, math, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
got = {r["op"]: r for r in json.load(open(sys.argv[2]))["ops"]}
bound = json.load(open(sys.argv[2]))["quantile_error_bound"]
names = dict(db.execute("select op, name from opcodes"))
lat = {}
for op, total, backend in db.execute(
        "select op, t_written - t_read, case when t_sent is not null and t_reply is not null"
        " then t_reply - t_sent end from requests where reply_len is not null"
        " and t_written is not null and t_written >= t_read"):
    lat.setdefault(names[op], ([], []))
    lat[names[op]][0].append(total)
    if backend is not None:
        lat[names[op]][1].append(backend)
def q(v, p):
    v = sorted(v)
    return v[-1] if p >= 1 else v[max(1, math.ceil(p * len(v))) - 1]
checked = 0
for op, (tot, be) in lat.items():
    for p, k in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9"), (1, "max")):
        want, have = q(tot, p), got[op][f"total_{k}_ns"]
        assert abs(have - want) <= want * bound, (op, k, have, want)
        checked += 1
    if be:
        want, have = q(be, 0.99), got[op]["backend_p99_ns"]
        assert abs(have - want) <= want * bound, (op, "backend p99", have, want)
assert checked >= 40, checked
PY
fp_log "quantiles within the bound of the exact ones"

"$A" top -n 1000 --json "$FP_TMP/t.db" > "$FP_TMP/top.json"
python3 - "$FP_TMP/top.json" "$N" <<'PY' || fp_fail "paths of the renamed/deleted files are wrong"
import json, sys
paths = {r["path"] for r in json.load(open(sys.argv[1]))["top"]}
n = int(sys.argv[2])
missing = [f"/d/g{i}" for i in range(1, n // 2 + 1) if f"/d/g{i}" not in paths]
missing += [f"/d/f{i} (deleted)" for i in range(n // 2 + 1, n + 1) if f"/d/f{i} (deleted)" not in paths]
assert not missing, (missing, sorted(paths)[:20])
assert "/d" in paths and "/full" in paths
PY
"$A" inflight --json "$FP_TMP/t.db" | python3 -c 'import json,sys; sys.exit(len(json.load(sys.stdin)["inflight"]))' ||
  fp_fail "inflight lists requests of a cleanly closed trace"
"$A" diff "$FP_TMP/t.db" "$FP_TMP/t.pcap" > /dev/null || fp_fail "diff of the sqlite and pcap of one run failed"
fp_log "paths, inflight and diff right on the recorded trace"

# ---- a slowed backend -----------------------------------------------------------
if [ -z "${MEMFS:-}" ] || [ ! -x "$MEMFS" ]; then
  fp_log "MEMFS not built: skipping the slowed-backend diff"
  exit 0
fi
backend_run() {                     # TRACE DELAY_MS
  local m=$FP_TMP/bmnt i=${#FP_PIDS[@]} log="$FP_TMP/backend.$2.log" conn end
  mkdir -p "$m"
  env --default-signal=INT,QUIT,TERM "$FUSEPROXY" -w "$1" --backend "$MEMFS --delay-ms=$2" "$m" \
    </dev/null >"$log" 2>&1 &
  FP_PIDS[i]=$! FP_MNTS[i]=$m FP_LOGS[i]=$log FP_CONNS[i]= FP_DONE[i]=
  end=$((SECONDS + 10))
  until conn=$(fp_conn_id "$m"); do
    kill -0 "${FP_PIDS[i]}" 2>/dev/null || { fp_dump_log "$log"; fp_fail "fuseproxy --backend died"; }
    [ "$SECONDS" -lt "$end" ] || fp_fail "backend mount not up after 10 s"
    sleep 0.05
  done
  FP_CONNS[i]=$conn
  echo "$conn" >> "$FP_TMP/.conns"
  timeout 10 stat -f "$m" >/dev/null
  python3 - "$m" <<'PY'
import os, sys
m = sys.argv[1]
for i in range(60):
    open(f"{m}/f{i}", "wb").close()
    os.path.exists(f"{m}/nope{i}")
PY
  fp_stop "$m" umount || fp_fail "backend unmount failed"
}
backend_run "$FP_TMP/fast.db" 0
backend_run "$FP_TMP/slow.db" 5
"$A" diff "$FP_TMP/fast.db" "$FP_TMP/fast.db" > /dev/null || fp_fail "diff of a backend trace against itself failed"
rc=0
"$A" diff "$FP_TMP/fast.db" "$FP_TMP/slow.db" > "$FP_TMP/d.txt" 2> "$FP_TMP/d.err" || rc=$?
cat "$FP_TMP/d.txt" >&2
[ "$rc" = 1 ] || fp_fail "diff against the slowed backend exited $rc, want 1"
grep -q "verdict: REGRESSION.*LOOKUP p99" "$FP_TMP/d.txt" || fp_fail "the verdict does not name LOOKUP"
fp_log "slowed backend: diff exits 1 naming LOOKUP"
