#!/usr/bin/env bash
# Description: memfs (libfuse) recorded and replayed against itself on a socketpair:
# exit 0 and no divergence serially, with the recorded concurrency and with a window;
# FORGET counts are right (memfs reports the same outstanding lookups at exit after
# the replay as after the recording).  memfs --bug-truncate-size (wrong st_size after
# a truncate) exits 1 with the SETATTR reported first, both replies shown.  -w records
# the replay itself, and that trace replays cleanly too; a moot INTERRUPT is not sent
# even to a slow daemon.
set -euo pipefail
. "$(dirname "$0")/replay-lib.sh"
[ -x "${MEMFS:-}" ] || rp_skip "memfs not built (no libfuse3?)"
cd "$RP_TMP"

# --warmup 2: two files created (and kept looked up) before recording starts, so
# the trace's node ids and handles are not the ones a fresh memfs hands out
rp_gen golden -w golden.db --pcap golden.pcap --backend "$MEMFS -f" --warmup 2 conformance
left=$(grep -o 'exit: [0-9]* inodes still looked up ([0-9]* lookups)' golden.gen.err | tail -1)
[ -n "$left" ] || rp_fail "memfs did not report its lookups at exit"
# what a replay must leave: the same, without the two warmup files
left=$(echo "$left" | awk '{ sub(/\(/, "", $7); printf "exit: %d inodes still looked up (%d lookups)", $2 - 2, $7 - 2 }')

for trace in golden.db golden.pcap; do
  for conc in serial recorded 16; do
    name="same-$trace-$conc"
    rp_replay 0 "$name" "$trace" --backend "$MEMFS -f" --concurrency "$conc" --json same.json
    s=$(rp_json same.json '(j["summary"]["diverged"], j["summary"]["skipped"], j["summary"]["matched"] > 1000)')
    [ "$s" = "(0, 0, True)" ] || rp_fail "$name: diverged/skipped/matched>1000 = $s"
    # the target ends with the references the recorded daemon ended with
    got=$(grep -o 'exit: [0-9]* inodes still looked up ([0-9]* lookups)' "$RP_TMP/$name.err" | tail -1)
    [ "$got" = "$left" ] || {
      grep -E 'FORGET|still looked up' "$RP_TMP/$name.err" | tail -20 >&2 || true
      rp_fail "$name: memfs $got, recording $left"; }
  done
done

# a daemon with a bug: the truncate's reply carries a wrong size
rp_gen trunc -w trunc.db --backend "$MEMFS -f" truncate
rp_replay 0 trunc-same trunc.db --backend "$MEMFS -f"
rp_replay 1 trunc-bug trunc.db --backend "$MEMFS -f --bug-truncate-size" --json bug.json
out="$RP_TMP/trunc-bug.out"
first=$(grep -m1 '^DIVERGED' "$out")
echo "$first" | grep -qE '^DIVERGED +\[5\] SETATTR .*valid=SIZE size=10 .*\[first divergence\]' ||
  rp_fail "first divergence is not the SETATTR size=10: $first"
rp_expect "$out" '^    path: +/t.txt$'
rp_expect "$out" '^    recorded: +attr .*size=10( |$)'
rp_expect "$out" '^    replayed: +attr .*size=4106( |$)'
rp_expect "$out" '^    differs: +size: recorded 10, replayed 4106$'
[ "$(rp_json bug.json 'j["summary"]["diverged"], j["divergences"][0]["opcode"]')" = "(1, 'SETATTR')" ] ||
  rp_fail "JSON: $(rp_json bug.json 'j["summary"]')"

# the replay recorded with -w is a trace like any other (INIT aside, and the
# INTERRUPT, which had nothing left to interrupt and was not sent)
rp_replay 0 rec golden.db --backend "$MEMFS -f" -w replay.db --pcap replay.pcap
rp_replay 0 rec-again replay.db --backend "$MEMFS -f" --json again.json
rp_replay 0 rec-again-pcap replay.pcap --backend "$MEMFS -f"
[ "$(rp_json again.json 'j["summary"]["matched"] == j["summary"]["requests"] - j["summary"]["no_reply"]')" = True ] ||
  { grep -E -A3 '^(SKIPPED|DIVERGED)' "$RP_TMP/rec-again.out" >&2 || true
    rp_fail "replay of the replay: $(rp_json again.json 'j["summary"]')"; }
python3 - golden.db replay.db <<'PY' || rp_fail "-w trace does not hold the replay"
import sqlite3, sys
a = sqlite3.connect(sys.argv[1]).execute("select op, count(*) from requests where op not in (26, 36) group by op").fetchall()
b = sqlite3.connect(sys.argv[2]).execute("select op, count(*) from requests where op not in (26, 36) group by op").fetchall()
assert a == b, (a, b)
t = sqlite3.connect(sys.argv[2]).execute("select transport, init_request is not null from session").fetchone()
assert t == ("replay", 1), t
PY
# the INTERRUPT was moot in the recording (its MKDIR had been answered), so it
# is not sent even when that MKDIR is still running in the replay (a slow
# daemon here; under load before), else the replay's own trace says otherwise
rp_replay 0 slow golden.db --backend "$MEMFS -f --delay-ms=3" -w slow.db
n=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(
    "select count(*) from requests where op = 36 or flags & 1").fetchone()[0])' slow.db)
[ "$n" = 0 ] || rp_fail "a moot INTERRUPT was sent: $n INTERRUPT or interrupted rows in slow.db"
rp_log "ok"
