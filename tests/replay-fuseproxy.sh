#!/usr/bin/env bash
# Description: fusereplay on traces the kernel made.  tests/conformance runs on
# "fuseproxy -w --pcap" mounts, recording golden traces: the passthrough on a fixture,
# and --backend memfs.  Each trace replays into a fresh copy of the fixture
# (--passthrough) or a fresh memfs (--backend): exit 0 with no divergence and no
# skip, serially and with the recorded concurrency, from sqlite and from pcap, and
# memfs ends with the lookup counts it had after the recording.  A copy with one
# file's content changed exits 1 with a READ of that file reported first.  The
# notifier's notifications are counted on both sides, and its RETRIEVE answered.
# Needs root, /dev/fuse and a fuseproxy that records (-w); skips otherwise.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-400}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
"$FUSEPROXY" --help 2>&1 | grep -q -- '-w FILE' || fp_skip "this fuseproxy does not record (no -w)"
fpx_require FUSEREPLAY CONFORMANCE
fp_require_cmd setfattr python3

# A fixture like conformance.sh's (every kind of file its checks look at).
make_fixture() {
  local f=$1
  mkdir -p "$f/tree/a/b/c" "$f/tree/empty-dir"
  printf 'small text\n' > "$f/small.txt"
  head -c 300000 /dev/urandom > "$f/big.bin"
  : > "$f/empty"
  echo deep > "$f/tree/a/b/c/deep.txt"
  ln -s small.txt "$f/link-to-small"
  ln -s /nonexistent/target "$f/dangling"
  ln "$f/big.bin" "$f/hardlink-big"
  mkfifo "$f/fifo"
  truncate -s 1M "$f/sparse"
  setfattr -n user.fixture -v fixval "$f/small.txt"
  echo owned > "$f/owned"
  chown 1234:5678 "$f/owned"
  echo secret > "$f/secret"
  chmod 0000 "$f/secret"
  mkdir "$f/ro-dir"
  echo file > "$f/ro-dir/file"
  chmod 0555 "$f/ro-dir"
  mkdir "$f/sticky"
  chmod 1777 "$f/sticky"
  echo rootfile > "$f/rootfile"
  chmod 0755 "$f"
}

replay() {	# replay WANT NAME ARGS...: fusereplay with its report in $FP_TMP/NAME.*
  local want=$1 name=$2 rc=0
  shift 2
  timeout -k 5 120 "$FUSEREPLAY" "$@" --json "$FP_TMP/$name.json" \
    >"$FP_TMP/$name.out" 2>"$FP_TMP/$name.err" || rc=$?
  if [ "$rc" != "$want" ] || grep -qE 'Sanitizer|runtime error:' "$FP_TMP/$name.err"; then
    cat "$FP_TMP/$name.out" "$FP_TMP/$name.err" >&2
    fp_fail "fusereplay $*: exit $rc, expected $want"
  fi
  fp_log "fusereplay $name: exit $rc"
}

clean() {	# clean NAME: no divergence, no skip, something matched
  local s
  s=$(python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["summary"]; print(s["diverged"], s["skipped"], s["matched"] > 1000)' "$FP_TMP/$1.json")
  [ "$s" = "0 0 True" ] || { cat "$FP_TMP/$1.out" >&2; fp_fail "$1: diverged/skipped/matched>1000 = $s"; }
}

base=$FP_TMP/base
make_fixture "$base"
cp -a "$base" "$FP_TMP/rec"

# --- the passthrough --------------------------------------------------------------
fp_mount "$FP_TMP/rec" "$FP_TMP/mnt" -w "$FP_TMP/pt.db" --pcap "$FP_TMP/pt.pcap"
"$CONFORMANCE" "$FP_TMP/mnt" >"$FP_TMP/conf.out" 2>&1 || true
fp_stop "$FP_TMP/mnt" umount || fp_fail "fuseproxy did not stop"
[ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy exited with $FP_STATUS"

for trace in pt.db pt.pcap; do
  for conc in serial recorded; do
    rm -rf "$FP_TMP/fresh" && cp -a "$base" "$FP_TMP/fresh"
    replay 0 "pt-$trace-$conc" "$FP_TMP/$trace" --passthrough "$FP_TMP/fresh" --concurrency "$conc"
    clean "pt-$trace-$conc"
  done
done

rm -rf "$FP_TMP/changed" && cp -a "$base" "$FP_TMP/changed"
printf 'SMALL text\n' > "$FP_TMP/changed/small.txt"
replay 1 pt-changed "$FP_TMP/pt.db" --passthrough "$FP_TMP/changed"
first=$(grep -m1 '^DIVERGED' "$FP_TMP/pt-changed.out")
echo "$first" | grep -qE '^DIVERGED +\[[0-9]+\] READ .*\[first divergence\]' ||
  fp_fail "first divergence is not a READ: $first"
grep -A1 -m1 '^DIVERGED' "$FP_TMP/pt-changed.out" | grep -qE '^    path: +/small.txt$' ||
  fp_fail "first divergence is not about /small.txt"

# --- memfs behind fuseproxy --backend ---------------------------------------------------
if [ -x "${MEMFS:-}" ]; then
  fpx_mount "$FP_TMP/mmnt" "$MEMFS -f" -w "$FP_TMP/mem.db" --pcap "$FP_TMP/mem.pcap"
  "$CONFORMANCE" "$FP_TMP/mmnt" >"$FP_TMP/mconf.out" 2>&1 || true
  fp_stop "$FP_TMP/mmnt" umount || fp_fail "fuseproxy did not stop"
  left=$(grep -o 'exit: [0-9]* inodes still looked up ([0-9]* lookups)' "$FPX_LOG" | tail -1)
  for trace in mem.db mem.pcap; do
    for conc in serial recorded; do
      replay 0 "mem-$trace-$conc" "$FP_TMP/$trace" --backend "$MEMFS -f" --concurrency "$conc"
      clean "mem-$trace-$conc"
      got=$(grep -o 'exit: [0-9]* inodes still looked up ([0-9]* lookups)' "$FP_TMP/mem-$trace-$conc.err" | tail -1)
      [ -z "$left" ] || [ "$got" = "$left" ] || fp_fail "memfs after replay: $got; after recording: $left"
    done
  done
else
  fp_log "memfs not built: backend part skipped"
fi
# --- notifications: the target's are accepted, counted and compared ------------------
if [ -x "${NOTIFIER:-}" ]; then
  fpx_mount "$FP_TMP/nmnt" "$NOTIFIER -f" -w "$FP_TMP/notify.db"
  cat "$FP_TMP/nmnt/clock" "$FP_TMP/nmnt/entry" >/dev/null
  for c in inval_inode inval_entry store retrieve; do echo "$c" > "$FP_TMP/nmnt/ctl"; done
  fp_stop "$FP_TMP/nmnt" umount || fp_fail "fuseproxy did not stop"
  start=$SECONDS
  replay 0 notify "$FP_TMP/notify.db" --backend "$NOTIFIER -f"
  # the target's RETRIEVE got an (empty) answer at once: no 5 s wait
  [ $((SECONDS - start)) -lt 4 ] || fp_fail "the notifier waited for its RETRIEVE"
  for n in INVAL_INODE INVAL_ENTRY STORE RETRIEVE; do
    grep -qE "^  notifications $n +recorded 1, from the target 1$" "$FP_TMP/notify.out" ||
      { cat "$FP_TMP/notify.out" >&2; fp_fail "notification $n not counted on both sides"; }
  done
  python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); n = j["notifications"]; sys.exit(0 if n["STORE"] == {"recorded": 1, "target": 1} else n)' "$FP_TMP/notify.json" ||
    fp_fail "JSON notifications"
fi
fp_log "PASS"
