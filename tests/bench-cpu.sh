#!/usr/bin/env bash
# Description: bench/run --cpu really runs and accounts CPU to the right
# places: one short fio case through native, fuseproxy --passthrough,
# fuse-overlayfs and fuseproxy --backend (fwd, fwdpt); the JSON's cpu_per_op
# has, per mode, the machine's busy time; a daemon's own time for every FUSE
# mode; backend time (the --backend daemon, a descendant) for the fwd modes
# only; and the table is printed.  No speed is checked (the machine is shared).
# Env: FUSEPROXY.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-200}
. "$(dirname "$0")/lib.sh"
fp_require_cmd fio
fp_require_cmd fuse-overlayfs
fp_require_cmd python3
[ -x "${FUSEPROXY:-}" ] || fp_skip "FUSEPROXY not built"
repo=$(cd "$(dirname "$0")/.." && pwd)

out="$FP_TMP/bench.txt"
rc=0
TMPDIR="$FP_TMP" FUSEPROXY="$FUSEPROXY" "$repo/bench/run" --quick --reps 1 --runtime 2 \
  --ramp 0 --size-mib 16 --tmpfs-size 64M --cases randread-4k-d1 \
  --modes fuseproxy,fuse-overlayfs --with-fwd --cpu --out "$FP_TMP/bench.json" \
  >"$out" 2>"$FP_TMP/bench.err" </dev/null || rc=$?
[ "$rc" = 0 ] || { cat "$FP_TMP/bench.err" >&2; fp_fail "bench/run exited $rc"; }
grep -q '^CPU per operation' "$out" || { cat "$out" >&2; fp_fail "no CPU table in the output"; }

python3 - "$FP_TMP/bench.json" <<'PY' || fp_fail "cpu_per_op in the JSON is wrong"
import json, sys
runs = json.load(open(sys.argv[1]))["cpu_per_op"]["randread-4k-d1"]
ok = True
def check(cond, what):
    global ok
    if not cond:
        print("bench-cpu: " + what, file=sys.stderr)
        ok = False
for mode in ("native", "fuseproxy", "fuse-overlayfs", "fuseproxy-fwd", "fuseproxy-fwdpt"):
    r = runs.get(mode)
    check(r and len(r) == 1, "%s: %r runs" % (mode, r))
    if not r:
        continue
    r = r[0]
    check(r["busy_us"] > 0 and r["ctxsw"] >= 0, "%s: busy %r" % (mode, r))
    if mode == "native":
        check("daemon_us" not in r, "native has a daemon: %r" % r)
        continue
    check(r["daemon_us"] > 0, "%s: daemon time %r" % (mode, r))
    if mode.startswith("fuseproxy-fwd"):
        check(r["backend_us"] > 0, "%s: no backend time %r" % (mode, r))
    else:
        check(r["backend_us"] == 0, "%s: backend time without a backend %r" % (mode, r))
sys.exit(0 if ok else 1)
PY
fp_log "ok"
