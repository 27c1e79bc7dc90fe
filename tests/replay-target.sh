#!/usr/bin/env bash
# Description: targets that fail.  badfs crashes on a READ: exit 3 naming that READ
# and the file, serially and concurrently, and with --pending.  badfs never answers a
# READ: exit 3 after --timeout naming it.  A memfs killed with two slow READs in
# flight while recording: --pending replays the rest quietly and re-injects exactly
# the two pending READs (a fixed memfs answers them: exit 0); the same trace replayed
# normally also answers them.  An INTERRUPT is replayed relative to its READ.
set -euo pipefail
. "$(dirname "$0")/replay-lib.sh"
[ -x "${BADFS:-}" ] || rp_skip "badfs not built"
cd "$RP_TMP"

# --- a crash --------------------------------------------------------------------
rp_gen crash -w crash.db --pcap crash.pcap --backend "$BADFS -f --quiet" crash
for conc in serial recorded; do
  rp_replay 3 "crash-$conc" crash.db --backend "$BADFS -f --quiet" --concurrency "$conc" \
    --json crash.json --junit crash.xml
  rp_expect "$RP_TMP/crash-$conc.out" '^result: target crashed \(killed by SIGABRT\) while serving \[7\] READ .*\(/crash\) \(exit 3\)$'
  rp_expect "$RP_TMP/crash-$conc.out" '^INFLIGHT +\[7\] READ '
  [ "$(rp_json crash.json 'j["exit"], [i["opcode"] for i in j["in_flight"]], j["in_flight"][0]["path"]')" = "(3, ['READ'], '/crash')" ] ||
    rp_fail "JSON: $(rp_json crash.json 'j["in_flight"]')"
done
python3 - crash.xml <<'PY' || rp_fail "JUnit error element for the crash"
import sys, xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot().find("testsuite")
errs = [c for c in s.findall("testcase") if c.find("error") is not None]
assert len(errs) == 1 and int(s.get("errors")) == 1
e = errs[0].find("error")
assert e.get("type") == "target" and "crashed" in e.get("message") and "READ" in e.text
PY
rp_replay 3 crash-pending crash.pcap --pending --backend "$BADFS -f --quiet"
rp_expect "$RP_TMP/crash-pending.out" 'state-building prefix \(--pending\): 6 requests replayed quietly'
rp_expect "$RP_TMP/crash-pending.out" '^result: target crashed .* while serving \[7\] READ .*\(/crash\)'

# --- a hang ---------------------------------------------------------------------
rp_gen hang -w hang.db --backend "$BADFS -f --quiet" hang
start=$SECONDS
rp_replay 3 hang hang.db --backend "$BADFS -f --quiet" --timeout 1
[ $((SECONDS - start)) -lt 10 ] || rp_fail "hang detected only after $((SECONDS - start)) s"
rp_expect "$RP_TMP/hang.out" '^result: target hung \(no reply within 1\.[0-9] s\) while serving \[7\] READ .*\(/hang\)'
rp_expect "$RP_TMP/hang.out" '^INFLIGHT +\[7\] READ .*\[late\]'

# --- pending requests of a daemon killed mid-request ----------------------------
if [ -x "${MEMFS:-}" ]; then
  rp_gen pend -w pend.db --backend "$MEMFS -f --slow-ms=60000" pending
  want=$(python3 -c 'import sqlite3; print(sorted(r[0] for r in sqlite3.connect("pend.db").execute("select unique_id from requests where flags & 8")))')
  [ "$want" != "[]" ] || rp_fail "the recording has no pending requests"
  rp_replay 0 pend pend.db --pending --backend "$MEMFS -f --slow-ms=100" --json pend.json
  got=$(rp_json pend.json 'sorted(i["unique"] for i in j["pending_answers"])')
  [ "$got" = "$want" ] || rp_fail "re-injected $got, the trace's pending requests are $want"
  [ "$(rp_json pend.json '[i["opcode"] for i in j["pending_answers"]], j["summary"]["unrecorded"], j["prefix"]["diverged"]')" = "(['READ', 'READ'], 2, 0)" ] ||
    rp_fail "JSON: $(rp_json pend.json 'j["pending_answers"], j["summary"]')"
  rp_expect "$RP_TMP/pend.out" '^PENDING +\[[0-9]+\] READ .*off=0 size=4096'
  rp_expect "$RP_TMP/pend.out" '^    replayed: +4096 bytes'
  rp_expect "$RP_TMP/pend.out" '^    replayed: +3072 bytes'
  rp_expect "$RP_TMP/pend.out" '^result: 2 pending requests re-injected, all answered \(exit 0\)'
  # without --pending, everything is replayed and the two are answered too
  rp_replay 0 pend-all pend.db --backend "$MEMFS -f --slow-ms=100" --json all.json
  [ "$(rp_json all.json 'j["summary"]["unrecorded"], j["summary"]["diverged"]')" = "(2, 0)" ] ||
    rp_fail "JSON: $(rp_json all.json 'j["summary"]')"
  # the unfixed daemon still hangs on them
  rp_replay 3 pend-hang pend.db --pending --backend "$MEMFS -f --slow-ms=60000" --timeout 1
  rp_expect "$RP_TMP/pend-hang.out" '^INFLIGHT +\[[0-9]+\] READ .*off=0 '
  rp_expect "$RP_TMP/pend-hang.out" '^INFLIGHT +\[[0-9]+\] READ .*off=1024 '

  # --- an interrupted READ ------------------------------------------------------
  rp_gen intr -w intr.db --backend "$MEMFS -f --slow-ms=60000" interrupt
  for conc in serial recorded; do
    rp_replay 0 "intr-$conc" intr.db --backend "$MEMFS -f --slow-ms=60000" --concurrency "$conc" \
      --timeout 5
    rp_expect "$RP_TMP/intr-$conc.err" 'READ of ino [0-9]+ interrupted after'
  done
  # a replay that sent an INTERRUPT records its request as interrupted (-w), so
  # replaying that trace sends the INTERRUPT after it, not skipped before it
  rp_replay 0 intr-w intr.db --backend "$MEMFS -f --slow-ms=60000" --timeout 5 -w intr-w.db
  rp_replay 0 intr-w-again intr-w.db --backend "$MEMFS -f --slow-ms=60000" --timeout 5 \
    --json intr-again.json
  [ "$(rp_json intr-again.json '(j["summary"]["skipped"], j["summary"]["matched"])')" = "(0, 6)" ] ||
    rp_fail "replay of the replay of an interrupted READ: $(rp_json intr-again.json 'j["summary"]')"
else
  rp_log "memfs not built: pending and interrupt parts skipped"
fi
rp_log "ok"
