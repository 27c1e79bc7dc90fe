#!/usr/bin/env bash
# Description: fusereplay's command line: --help/--version, usage errors exit 2 with
# a message, a backend that cannot start exits 3; --tolerate turns a known errno
# difference into a match; --max-report and -q limit the listing; --speed F paces
# the replay by the recording (F = 0.5 takes twice as long).
set -euo pipefail
. "$(dirname "$0")/replay-lib.sh"
cd "$RP_TMP"

rp_replay 0 help --help
rp_expect "$RP_TMP/help.out" '^Exit status: 0 same answers, 1 divergences, 2 bad trace or usage,'
rp_replay 0 version --version
rp_expect "$RP_TMP/version.out" '^fusereplay [0-9.]+ \(FUSE protocol 7\.[0-9]+\)$'

rp_fixture golden
cp -a golden rec
rp_gen golden -w golden.db --passthrough rec --warmup 2 conformance

usage() {	# usage NAME REGEX ARGS...
  local name=$1 re=$2
  shift 2
  rp_replay 2 "$name" "$@"
  rp_expect "$RP_TMP/$name.err" "$re"
}
usage no-args 'no trace given' 
usage no-target 'no target: use --backend CMD or --passthrough DIR' golden.db
usage two-targets 'exclude each other' golden.db --backend true --passthrough golden
usage compare 'takes semantic, strict or none' golden.db --passthrough golden --compare fuzzy
usage conc 'bad number for --concurrency' golden.db --passthrough golden --concurrency lots
usage speed 'bad number for --speed' golden.db --passthrough golden --speed 0
usage tolerate 'unknown errno' golden.db --passthrough golden --tolerate ENOENT=EWHAT
usage tolerate2 'is not REC=NEW' golden.db --passthrough golden --tolerate ENOENT
usage ignore '--ignore' golden.db --passthrough golden --ignore nosuchop
usage o-backend '-o options are for --passthrough' golden.db --backend true -o writeback
usage extra "unexpected argument 'more'" golden.db more --passthrough golden

rp_replay 3 nodaemon golden.db --backend "$RP_TMP/no-such-daemon -f"
rp_expect "$RP_TMP/nodaemon.out" '^result: target .*\(exit 3\)$'
rm -rf t && cp -a golden t
rp_replay 3 nodir golden.db --passthrough "$RP_TMP/no-such-dir"
rp_expect "$RP_TMP/nodir.err" 'cannot start the target: .*no-such-dir'

# data.txt gone: its LOOKUP answers ENOENT, and what used it cannot be sent
rm -rf t && cp -a golden t && rm t/data.txt
rp_replay 1 enoent golden.db --passthrough t --json enoent.json
first=$(grep -m1 '^DIVERGED' "$RP_TMP/enoent.out")
echo "$first" | grep -qE 'LOOKUP .*"data.txt"  \[first divergence\]' || rp_fail "first: $first"
rp_expect "$RP_TMP/enoent.out" '^    differs: +error: recorded success, replayed ENOENT$'
rp_expect "$RP_TMP/enoent.out" '^SKIPPED +\[[0-9]+\] OPEN .*\(follows from \[[0-9]+\]\)$'
rp_expect "$RP_TMP/enoent.out" 'has no counterpart in the target: LOOKUP \[[0-9]+\] did not hand it out'
[ "$(rp_json enoent.json 'j["summary"]["diverged"], j["summary"]["skipped"] > 0')" = "(1, True)" ] ||
  rp_fail "JSON: $(rp_json enoent.json 'j["summary"]')"
# ... tolerated: no divergence left (the skips follow from a tolerated answer)
rm -rf t && cp -a golden t && rm t/data.txt
rp_replay 0 tolerated golden.db --passthrough t --tolerate 0=ENOENT

# listing limits
rm -rf t && cp -a golden t && rm t/data.txt
rp_replay 1 max golden.db --passthrough t --max-report 1
[ "$(grep -cE '^(DIVERGED|SKIPPED)' "$RP_TMP/max.out")" = 2 ] || rp_fail "--max-report 1"
rp_expect "$RP_TMP/max.out" 'more skipped requests not shown; --max-report N'
rm -rf t && cp -a golden t && rm t/data.txt
rp_replay 1 quiet golden.db --passthrough t -q
! grep -qE '^(DIVERGED|SKIPPED)' "$RP_TMP/quiet.out" || rp_fail "-q still lists"
rp_expect "$RP_TMP/quiet.out" '^result: 1 divergence'

# pacing: at half speed the replay takes at least twice the recording's span
span=$(python3 -c 'import sqlite3; a, b = sqlite3.connect("golden.db").execute("select min(t_read), max(t_read) from requests where op != 26").fetchone(); print((b - a) / 1e9)')
rm -rf t && cp -a golden t
rp_replay 0 paced golden.db --passthrough t --speed 0.5 --json paced.json
python3 -c "import sys; e = $(rp_json paced.json 'j["elapsed_s"]'); s = $span; sys.exit(0 if e >= 2 * s * 0.95 else 'paced replay took %.3f s, recording span %.3f s' % (e, s))" ||
  rp_fail "--speed 0.5 did not pace"
rp_log "ok"
