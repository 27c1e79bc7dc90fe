#!/usr/bin/env bash
# Paths for a rename/delete workload: every probe request of the generator's
# "paths" story (files and directories renamed, exchanged, replaced,
# unlinked while open, forgotten and reused, hard-linked, named by
# READDIRPLUS, a trace starting mid-session) is shown with the path it had
# at that moment, in slow's and inflight's output, from sqlite and pcap;
# top groups by the final paths.
set -euo pipefail
source "$(dirname "$0")/analyze-lib.sh"

cd "$AN_TMP"
"$TRACEGEN" --workload paths --expect expect.json p.db
an_run convert p.db p.pcap
for trace in p.db p.pcap; do
  an_run slow -n 1000 --json "$trace" > slow.json
  [ "$AN_RC" = 0 ] || an_fail "slow exited $AN_RC"
  an_py expect.json slow.json <<'PY' || an_fail "$trace: wrong paths"
import json, sys
exp = json.load(open(sys.argv[1]))["paths"]
rows = {str(r["unique"]): r for r in json.load(open(sys.argv[2]))["slow"]}
bad = [f"unique {u}: {rows.get(u, {}).get('path')!r}, want {p!r}"
       for u, p in exp.items() if rows.get(u, {}).get("path") != p]
for b in bad:
    print("  " + b, file=sys.stderr)
assert len(exp) >= 20, len(exp)
sys.exit(1 if bad else 0)
PY
  an_log "$trace: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["paths"]))' expect.json) probe paths right"
done

# top: rows by final path; forgotten nodes keep the path they had
an_run top -n 100 --json p.db > top.json
an_py top.json <<'PY' || an_fail "top paths wrong"
import json, sys
rows = {r["path"]: r for r in json.load(open(sys.argv[1]))["top"]}
for p in ("/z/g.txt", "/z/b", "/hard", "/z/b/h (deleted)", "(unknown node 500)", "/"):
    assert p in rows, (p, sorted(rows))
# node 4 (f.txt -> g.txt -> /z/g.txt) got 4 requests: CREATE is the parent's
assert rows["/z/g.txt"]["ops"] == 3, rows["/z/g.txt"]
PY
an_run top --by bogus p.db 2>err.txt || true
[ "$AN_RC" = 2 ] && grep -q "by wants" err.txt || an_fail "top --by bogus: rc $AN_RC"
an_log "ok"
