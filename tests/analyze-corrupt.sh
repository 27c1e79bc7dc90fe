#!/usr/bin/env bash
# Corrupt, truncated, empty, foreign and missing traces: every command
# exits 2 with one clear "fuseanalyze: FILE: ..." message and never crashes
# (in the ASan/UBSan build a sanitizer report fails the test through its
# exit code).  A valid trace that holds no requests is not an error for
# the reporting commands: they say so.
set -euo pipefail
source "$(dirname "$0")/analyze-lib.sh"

cd "$AN_TMP"
"$TRACEGEN" -n 3000 -s 64 good.db
an_run convert good.db good.pcap
size=$(stat -c %s good.pcap)

: > empty.bin
head -c 4096 /dev/urandom > random.bin
printf 'SQLite format 3\000' > sqlite-head.db; head -c 5000 /dev/urandom >> sqlite-head.db
head -c 8192 good.db > cut.db                       # the first pages only
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table t(x)"); c.commit()' foreign.db
head -c 20 good.pcap > cut-header.pcap
head -c $((size / 2 + 7)) good.pcap > cut-record.pcap
cp good.pcap flipped.pcap                           # a pseudo-header magic broken
printf 'XXXX' | dd of=flipped.pcap bs=1 seek=$((24 + 16)) conv=notrunc status=none
cp good.db flipped.db                               # a page in the middle scribbled over
dd if=/dev/urandom of=flipped.db bs=4096 seek=$(( $(stat -c %s good.db) / 4096 / 2 )) count=2 conv=notrunc status=none
printf '\x0a\x0d\x0d\x0a\x00\x00\x00\x00' > pcapng.pcap
mkdir adir

cmds=(
  "summary" "top" "slow" "inflight" "timeline" "report -o out.html"
  "export --perfetto out.json" "convert-to out.db" "diff-with good.db" "summary --json"
)
for f in empty.bin random.bin sqlite-head.db cut.db foreign.db cut-header.pcap \
         cut-record.pcap flipped.pcap flipped.db pcapng.pcap adir missing.db; do
  for c in "${cmds[@]}"; do
    set -- $c
    case $1 in
      convert-to) args=(convert "$f" "$2") ;;
      diff-with) args=(diff "$2" "$f") ;;
      *) args=("$@"); args=("${args[0]}" "$f" "${args[@]:1}") ;;
    esac
    an_run "${args[@]}" > out.txt 2> err.txt
    if [ "$AN_RC" != 2 ]; then
      # a scribbled sqlite page may happen to miss every row we read; then
      # the answer must still be a normal one
      if [ "$f" = flipped.db ] && [ "$AN_RC" = 0 ]; then continue; fi
      cat err.txt >&2
      an_fail "fuseanalyze ${args[*]}: exit $AN_RC, want 2"
    fi
    [ "$(wc -l < err.txt)" -ge 1 ] && grep -q "^fuseanalyze: .*$f" err.txt ||
      { cat err.txt >&2; an_fail "fuseanalyze ${args[*]}: no clear message naming $f"; }
  done
  an_log "$f: $(head -n 1 err.txt)"
done

# a valid trace without requests: the pcap file header and nothing else
head -c 24 good.pcap > norequests.pcap
an_run summary norequests.pcap > s.txt
[ "$AN_RC" = 0 ] && grep -q "holds no requests" s.txt || an_fail "empty trace: rc $AN_RC"
an_run report norequests.pcap -o none.html
[ "$AN_RC" = 0 ] && grep -q "</html>" none.html || an_fail "report of an empty trace: rc $AN_RC"
an_run export norequests.pcap --perfetto none.json
an_json none.json
an_run diff norequests.pcap good.db 2> err.txt
[ "$AN_RC" = 2 ] && grep -q "no requests" err.txt || an_fail "diff with an empty trace: rc $AN_RC"

# a valid trace full of garbage messages (random opcodes and bytes, names
# without NUL or UTF-8, replies naming random nodes, times out of order):
# every command answers, and what it writes parses
"$TRACEGEN" --workload garbage -n 4000 garbage.db
an_run convert garbage.db garbage.pcap
for f in garbage.db garbage.pcap; do
  for c in summary top slow inflight timeline; do
    an_run "$c" --json "$f" > out.json
    [ "$AN_RC" = 0 ] || an_fail "$c on $f exited $AN_RC"
    an_json out.json
    an_run "$c" "$f" > /dev/null
  done
  an_run report "$f" -o g.html
  an_run export "$f" --perfetto g.json
  an_json g.json
  an_run diff "$f" garbage.db > /dev/null
  [ "$AN_RC" = 0 ] || an_fail "diff of garbage against itself exited $AN_RC"
done
an_log "garbage messages: every command answers with valid output"

# usage errors
for args in "" "nosuchcommand x" "summary" "summary a b" "slow -n 0 good.db" "summary --perfetto x good.db"; do
  # shellcheck disable=SC2086
  an_run $args > /dev/null 2>&1
  [ "$AN_RC" = 2 ] || an_fail "'fuseanalyze $args' exited $AN_RC, want 2"
done
an_log "ok"
