#!/usr/bin/env bash
# Description: bad traces end with exit 2 and a message naming the file and the
# problem, before or during the replay, and never crash fusereplay (run it in the
# ASan build too): truncated sqlite and pcap traces, a pcap record with a broken
# pseudo-header, an sqlite database that is not a trace or is from a newer format,
# a request whose header disagrees with its record, garbage, an empty file, a
# directory, a missing file; then random bit flips, zeroed runs and truncations.
set -euo pipefail
. "$(dirname "$0")/replay-lib.sh"
cd "$RP_TMP"

rp_fixture golden
cp -a golden rec
rp_gen golden -w golden.db --pcap golden.pcap --passthrough rec --warmup 1 conformance

bad() {	# bad NAME FILE REGEX: exit 2, stderr names FILE and matches REGEX
  local name=$1 file=$2 re=$3
  rm -rf t && cp -a golden t
  rp_replay 2 "$name" "$file" --passthrough t --json "$name.json"
  rp_expect "$RP_TMP/$name.err" "^fusereplay: .*$(basename "$file").*$re"
  rp_expect "$RP_TMP/$name.out" '^result: bad trace: .*\(exit 2\)$'
  [ "$(rp_json "$name.json" 'j["exit"], j["result"]')" = "(2, 'bad_trace')" ] ||
    rp_fail "$name: JSON $(rp_json "$name.json" 'j["exit"], j["result"], j["reason"]')"
}

size=$(stat -c %s golden.db)
for pct in 5 50 95; do
  head -c $((size * pct / 100)) golden.db > "cut$pct.db"
  bad "sqlite-cut$pct" "cut$pct.db" 'malformed'
done
size=$(stat -c %s golden.pcap)
for pct in 5 50 95; do
  head -c $((size * pct / 100)) golden.pcap > "cut$pct.pcap"
  bad "pcap-cut$pct" "cut$pct.pcap" 'record [0-9]+ at offset [0-9]+: truncated'
done
# a pcap cut short is accepted on request (a recorder killed mid-write)
rm -rf t && cp -a golden t
rp_replay 0 pcap-cut-ok cut50.pcap --allow-truncated --passthrough t

# the second record's pseudo-header magic "FPTR" broken
python3 - golden.pcap magic.pcap <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
caplen = int.from_bytes(d[24 + 8:24 + 12], "little")
second = 24 + 16 + caplen + 16
assert d[second:second + 4] == b"FPTR"
d[second:second + 4] = b"XXXX"
open(sys.argv[2], "wb").write(d)
PY
bad pcap-magic magic.pcap 'record 2'

python3 - golden.db <<'PY'
import shutil, sqlite3, sys
src = sys.argv[1]
# an sqlite database, not a trace
c = sqlite3.connect("notatrace.db"); c.execute("create table t (x)"); c.commit(); c.close()
# a newer format version
shutil.copy(src, "newer.db")
c = sqlite3.connect("newer.db"); c.execute("pragma user_version = 99"); c.commit(); c.close()
# exchange 10's request header says 7 bytes more than the record
shutil.copy(src, "hdr.db")
c = sqlite3.connect("hdr.db")
rid, req = c.execute("select id, req from requests where op != 26 order by t_read, id limit 1 offset 9").fetchone()
req = bytearray(req); n = int.from_bytes(req[0:4], "little") + 7; req[0:4] = n.to_bytes(4, "little")
c.execute("update requests set req = ? where id = ?", (bytes(req), rid)); c.commit(); c.close()
# a recorded reply that is malformed (a LOOKUP reply cut to 20 bytes)
shutil.copy(src, "reply.db")
c = sqlite3.connect("reply.db")
rid, rep = c.execute("select id, reply from requests where op = 1 and error = 0 order by t_read limit 1").fetchone()
rep = bytearray(rep[:20]); rep[0:4] = (20).to_bytes(4, "little")
c.execute("update requests set reply = ?, reply_len = 20 where id = ?", (bytes(rep), rid)); c.commit(); c.close()
PY
bad not-a-trace notatrace.db 'not a fuseproxy trace'
bad newer newer.db 'format version 99'
bad header hdr.db 'exchange 10 \(unique [0-9]+\): the request header \(len [0-9]+'
bad reply reply.db 'malformed recorded LOOKUP reply'

head -c 3000 /dev/urandom > garbage.bin
printf 'GARBAGE!' | dd of=garbage.bin conv=notrunc status=none
bad garbage garbage.bin 'not a trace'
: > empty.db
bad empty empty.db 'empty file'
mkdir dir.db
bad dir dir.db '.'
rm -rf t && cp -a golden t
rp_replay 2 missing no-such.db --passthrough t
rp_expect "$RP_TMP/missing.err" 'no-such.db: No such file or directory'

# mutations: whatever they hit, the answer is 0, 1 or 2, never a crash
python3 - "$FUSEREPLAY" golden golden.db golden.pcap <<'PY' || rp_fail "fuzzing"
import os, random, shutil, subprocess, sys
exe, fixture = sys.argv[1], sys.argv[2]
rounds = int(os.environ.get("RP_FUZZ_ROUNDS", "40"))
seen = {}
for src in sys.argv[3:]:
    data = open(src, "rb").read()
    rnd = random.Random(src)
    ext = os.path.splitext(src)[1]
    for i in range(rounds):
        d = bytearray(data)
        kind = rnd.choice(["flip", "zero", "cut"])
        if kind == "flip":
            for _ in range(rnd.randint(1, 16)):
                p = rnd.randrange(len(d)); d[p] ^= 1 << rnd.randrange(8)
        elif kind == "zero":
            p = rnd.randrange(len(d)); n = rnd.randint(1, 4096)
            d[p:p + n] = bytes(len(d[p:p + n]))
        else:
            d = d[:rnd.randrange(len(d))]
        out = "fuzz" + ext
        open(out, "wb").write(d)
        shutil.rmtree("fz", ignore_errors=True)
        shutil.copytree(fixture, "fz", symlinks=True)
        r = subprocess.run([exe, out, "--passthrough", "fz", "-q", "--timeout", "10"],
                           capture_output=True, timeout=120)
        err = r.stderr.decode(errors="replace")
        seen[r.returncode] = seen.get(r.returncode, 0) + 1
        if r.returncode not in (0, 1, 2) or "Sanitizer" in err or "runtime error" in err:
            open("crash-%s-%d%s" % (ext[1:], i, ext), "wb").write(d)
            sys.exit("%s round %d (%s): exit %d\n%s" % (src, i, kind, r.returncode, err[-3000:]))
        if r.returncode == 2 and "fusereplay: " not in err:
            sys.exit("%s round %d: exit 2 without a message" % (src, i))
print("mutations:", seen, file=sys.stderr)
PY
rp_log "ok"
