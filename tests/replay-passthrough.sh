#!/usr/bin/env bash
# Description: golden trace of a conformance-like session recorded on a fixture
# through the built-in passthrough (replay-gen, in sqlite and pcap, node ids and
# handles shifted by a warmup so that all must be remapped), replayed into
# fresh copies of the fixture: exit 0 and no divergence or skip, serially, with the
# recorded concurrency and with a window of 8.  A copy with one file's content
# changed (same size) exits 1 and reports that file's READ first, with both replies;
# the JSON and JUnit reports say the same.
set -euo pipefail
. "$(dirname "$0")/replay-lib.sh"
cd "$RP_TMP"

rp_fixture golden
cp -a golden rec
# --warmup: the recording's node ids and handles are not those a fresh target
# hands out, so every id must really be remapped
rp_gen golden -w golden.db --pcap golden.pcap --passthrough rec --warmup 3 conformance
n=$(python3 -c 'import sqlite3; print(sqlite3.connect("golden.db").execute("select count(*) from requests").fetchone()[0])')
[ "$n" -gt 1000 ] || rp_fail "golden trace has only $n exchanges"

for trace in golden.db golden.pcap; do
  for conc in serial recorded 8; do
    rm -rf fresh && cp -a golden fresh
    rp_replay 0 "same-$trace-$conc" "$trace" --passthrough fresh --concurrency "$conc" \
      --json "same.json"
    s=$(rp_json same.json '(j["summary"]["diverged"], j["summary"]["skipped"], j["summary"]["timed_out"], j["exit"])')
    [ "$s" = "(0, 0, 0, 0)" ] || rp_fail "$trace $conc: diverged/skipped/timed out/exit = $s"
    rp_expect "$RP_TMP/same-$trace-$conc.out" '^result: same answers'
  done
done

# the replay left the copy as the recording left its own (the warmup files aside)
rm -f rec/.warmup-*
diff -r rec fresh >/dev/null || rp_fail "the replayed tree differs from the recorded one"

# one file's content changed, same size: its READ is the first divergence
rm -rf changed && cp -a golden changed
printf 'HELLO' | dd of=changed/data.txt bs=1 seek=0 conv=notrunc status=none
rp_replay 1 changed golden.db --passthrough changed --json changed.json --junit changed.xml
out="$RP_TMP/changed.out"
first=$(grep -m1 '^DIVERGED' "$out")
echo "$first" | grep -qE '^DIVERGED +\[[0-9]+\] READ .*\[first divergence\]' ||
  rp_fail "first reported divergence is not the READ: $first"
rp_expect "$out" '^    path: +/data.txt$'
rp_expect "$out" '^    recorded: +4096 bytes'
rp_expect "$out" '^    replayed: +4096 bytes'
rp_expect "$out" 'data: first difference at byte 0: recorded 0x68, replayed 0x48'
rp_expect "$out" '^result: 1 divergence in [0-9]+ requests \(first: \[[0-9]+\] READ\), exit 1$'
[ "$(rp_json changed.json 'j["divergences"][0]["opcode"], j["divergences"][0]["path"], j["divergences"][0]["first"], j["exit"]')" = "('READ', '/data.txt', True, 1)" ] ||
  rp_fail "JSON report: $(rp_json changed.json 'j["divergences"][:1]')"

# JUnit: testsuites/testsuite/testcase, one failure (READ) carrying the diff
python3 - changed.xml <<'PY' || rp_fail "JUnit report shape"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1
s = suites[0]
cases = s.findall("testcase")
assert int(s.get("tests")) == len(cases) > 10, (s.get("tests"), len(cases))
failed = [c for c in cases if c.find("failure") is not None]
assert [c.get("name") for c in failed] == ["READ"], [c.get("name") for c in failed]
assert int(s.get("failures")) == 1 and int(root.get("failures")) == 1
f = failed[0].find("failure")
assert f.get("type") == "divergence" and "1 of" in f.get("message")
assert "first difference at byte 0" in f.text and "/data.txt" in f.text, f.text
for c in cases:
    assert c.get("classname").startswith("fusereplay.") and c.get("name")
PY

# --compare none: only answers count, so the same replay passes
rm -rf changed && cp -a golden changed
printf 'HELLO' | dd of=changed/data.txt bs=1 seek=0 conv=notrunc status=none
rp_replay 0 none golden.db --passthrough changed --compare none
# --ignore read: the READ is still sent but not compared
rm -rf changed && cp -a golden changed
printf 'HELLO' | dd of=changed/data.txt bs=1 seek=0 conv=notrunc status=none
rp_replay 0 ignore golden.db --passthrough changed --ignore read,readdir
rp_expect "$RP_TMP/ignore.out" '^  READ +[0-9]+ +[0-9]+ +0 +0 +0 +[1-9]'
rp_log "ok"
