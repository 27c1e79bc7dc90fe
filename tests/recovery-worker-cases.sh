#!/usr/bin/env bash
# Description: the proxy worker of "fuseproxy --backend CMD --restart" is killed
# (SIGKILL) while a request is pending at a slow backend: tests/daemons/diskfs performs
# the operation and then never replies (--hang-after, once: --crash-marker).  The holder
# keeps the mount, kills what the dead worker left (the backend), and starts a new worker;
# it takes over from the journal, the kernel resends the request (NOTIFY_RESEND, unique
# with bit 63), and the request is judged like one pending at a backend crash.  A blind
# resend would give the application EEXIST (mkdir) or the data twice (append).
#   mkdir   mkdir(2) succeeds, exactly once: the directory is there, a second mkdir(2)
#           says EEXIST, and the log shows the resent MKDIR judged
#   append  an O_APPEND write(2) succeeds and the data is in the file once
#   held    a file kept open across two worker kills still reads and writes (its
#           handle is reopened on the new backend) and a lock taken before is still held
#   journal 100k lookups and forgets (50k mknod + unlink, two processes) with the
#           journal compacted from 256 KiB on (FUSEPROXY_JOURNAL_COMPACT): it stays
#           bounded, and a worker killed half-way takes over from a compacted journal
# Each case: lookups balanced after the caches are dropped, clean unmount.
# Env: FUSEPROXY, DISKFS.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-270}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/recovery-lib.sh"
fpx_require DISKFS
fp_require_cmd python3

failed=0
bad() { fp_log "FAIL: [$case] $*"; failed=1; }
ok() { fp_log "ok: [$case] $*"; }

# start CASE DISKFS-OPTIONS: fresh source dir $src, mount $m
start() {
  case=$1
  src=$FP_TMP/src.$case m=$FP_TMP/mnt.$case
  mkdir -p "$src"
  fpx_mount "$m" "$DISKFS -f --timeout=0 $2 --crash-marker=$FP_TMP/marker.$case $src" \
    -v --restart
}

# wait_log PATTERN: up to 10 s for fuseproxy's log to show it
wait_log() {
  local end=$((SECONDS + 10))
  until grep -q "$1" "$FPX_LOG"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.05
  done
}

# kill_worker: SIGKILL to the worker; waits for its successor to serve
kill_worker() {
  local w n
  w=$(rec_worker_pid)
  [ -n "$w" ] || { bad "no worker process"; return 1; }
  n=$(grep -c "takeover: serving again" "$FPX_LOG" || true)
  kill -KILL "$w"
  local end=$((SECONDS + 10))
  until [ "$(grep -c "takeover: serving again" "$FPX_LOG" || true)" -gt "$n" ]; do
    [ "$SECONDS" -lt "$end" ] || { bad "no new worker after killing pid $w"; return 1; }
    sleep 0.05
  done
}

finish() {
  local kl bl
  rec_drop_caches
  read -r kl bl <<< "$(rec_status "$m" | sed -n 's/^state: .*(\([0-9]*\) kernel lookups, \([0-9]*\) backend lookups.*/\1 \2/p')"
  [ "${kl:-x}" = 0 ] && [ "${bl:-x}" = 0 ] ||
    bad "after dropping caches the kernel holds ${kl:-?} lookups, the backend is owed ${bl:-?}"
  grep -q "answering EIO\|answering ESTALE" "$FPX_LOG" &&
    bad "fuseproxy failed requests: $(grep -m 3 'answering EIO\|answering ESTALE' "$FPX_LOG")"
  fp_stop "$m" umount || bad "fuseproxy did not stop cleanly"
  [ "$FP_STATUS" = 0 ] || bad "fuseproxy exited with $FP_STATUS"
}

# ---- mkdir: done by the backend, the worker killed before the reply ----------------
start mkdir "--hang-after=mkdir:newdir"
mkdir "$m/newdir" 2> "$FP_TMP/mkdir.err" &
mp=$!
wait_log "diskfs: hanging after mkdir newdir" || bad "diskfs never got the MKDIR"
kill_worker
if wait "$mp"; then ok "mkdir(2) succeeded"; else bad "mkdir(2) failed: $(cat "$FP_TMP/mkdir.err")"; fi
[ -d "$src/newdir" ] || bad "the directory is not on disk"
if mkdir "$m/newdir" 2> "$FP_TMP/mkdir2.err"; then
  bad "a second mkdir(2) succeeded: the first one did not leave the directory"
else
  grep -q "File exists" "$FP_TMP/mkdir2.err" || bad "second mkdir(2): $(cat "$FP_TMP/mkdir2.err")"
fi
grep -q "takeover: MKDIR #[0-9]* sent again by the kernel" "$FPX_LOG" ||
  bad "the kernel did not resend the MKDIR"
grep -q "MKDIR #[0-9]* .*EEXIST on replay, and the object there is the one asked for" "$FPX_LOG" &&
  ok "the resent MKDIR was judged: $(grep -m 1 -o 'MKDIR #[0-9]* .*EEXIST on replay[^;]*' "$FPX_LOG")" ||
  bad "no judgement of the resent MKDIR in the log"
finish

# ---- append: the write done, the worker killed before the reply -------------------
start append "--hang-after=write:journal"
printf 'first\n' > "$src/journal"
python3 - "$m/journal" > "$FP_TMP/append.out" 2>&1 <<'PY' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
n = os.write(fd, b"second\n")
print(n)
PY
ap=$!
wait_log "diskfs: hanging after write journal" || bad "diskfs never got the WRITE"
kill_worker
if wait "$ap"; then ok "write(2) returned $(cat "$FP_TMP/append.out")"; else bad "append failed: $(cat "$FP_TMP/append.out")"; fi
if [ "$(cat "$src/journal")" = "$(printf 'first\nsecond')" ]; then
  ok "the appended line is there once"
else
  bad "the file holds: $(cat "$src/journal" | tr '\n' '|')"
fi
grep -q "WRITE #[0-9]* .*O_APPEND: size .* the crashed backend wrote it" "$FPX_LOG" &&
  ok "the resent WRITE was judged: $(grep -m 1 -o 'O_APPEND: size [^:]*: the crashed backend wrote it' "$FPX_LOG")" ||
  bad "no judgement of the resent O_APPEND WRITE in the log"
finish

# ---- held: a file open and locked across two takeovers -----------------------------
start held ""
printf 'data\n' > "$src/f"
python3 - "$m/f" "$FP_TMP/go" "$FP_TMP/held.out" > "$FP_TMP/held.log" 2>&1 <<'PY' &
import fcntl, os, sys, time
path, go, out = sys.argv[1:4]
fd = os.open(path, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
open(out, "w").write("locked\n")
for i in (1, 2):
    while not os.path.exists(go + str(i)):
        time.sleep(0.02)
    os.pwrite(fd, b"round%d\n" % i, 5)
    got = os.pread(fd, 12, 0)
    if got != b"data\nround%d\n" % i:
        print("read back", got); sys.exit(1)
open(out, "a").write("done\n")
while not os.path.exists(go + "end"):    # hold the lock until checked
    time.sleep(0.02)
PY
hp=$!
until grep -q locked "$FP_TMP/held.out" 2>/dev/null; do sleep 0.05; done
for i in 1 2; do
  kill_worker
  touch "$FP_TMP/go$i"
  sleep 0.2
done
sleep 0.1
# another process cannot take the lock the held file has
python3 - "$m/f" > "$FP_TMP/lock2.out" 2>&1 <<'PY' || true
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("got it")
except OSError as e:
    print("busy")
PY
[ "$(cat "$FP_TMP/lock2.out")" = busy ] && ok "the lock is still held after two takeovers" ||
  bad "another process could take the lock: $(cat "$FP_TMP/lock2.out")"
touch "$FP_TMP/goend"
if wait "$hp"; then ok "the held file read and wrote across two takeovers"; else bad "held file: $(cat "$FP_TMP/held.log")"; fi
finish

# ---- journal: compaction keeps it bounded, a takeover replays a compacted one ----
export FUSEPROXY_JOURNAL_COMPACT=262144
start journal ""
unset FUSEPROXY_JOURNAL_COMPACT
for p in a b; do
  python3 - "$m" "$p" > "$FP_TMP/churn.$p" 2>&1 <<'PY' &
import os, sys
m, p = sys.argv[1:3]
for i in range(25000):
    path = "%s/%s%d" % (m, p, i % 100)
    os.mknod(path)
    os.unlink(path)
print("ok")
PY
  eval "churn_$p=\$!"
done
# half-way (by the requests served), kill the worker once
end=$((SECONDS + 120))
until [ "$(rec_status "$m" | sed -n 's/^requests: \([0-9]*\) total.*/\1/p')" -ge 100000 ] 2>/dev/null; do
  [ "$SECONDS" -lt "$end" ] || break
  sleep 0.2
done
jline=$(rec_status "$m" | grep '^holder:' || true)
kill_worker
wait "$churn_a" || bad "mknod/unlink loop a: $(tail -n 3 "$FP_TMP/churn.a")"
wait "$churn_b" || bad "mknod/unlink loop b: $(tail -n 3 "$FP_TMP/churn.b")"
jline2=$(rec_status "$m" | grep '^holder:' || true)
recs=$(sed -n 's/.*takeover: journal replayed in [0-9.]* ms: \([0-9]*\) records.*/\1/p' "$FPX_LOG" | tail -n 1)
for l in "$jline" "$jline2"; do
  kib=$(echo "$l" | sed -n 's/.*journal \([0-9]*\) KiB, compacted \([0-9]*\) times.*/\1/p')
  n=$(echo "$l" | sed -n 's/.*journal \([0-9]*\) KiB, compacted \([0-9]*\) times.*/\2/p')
  if [ -n "$kib" ] && [ "$kib" -le 1024 ] && [ "${n:-0}" -gt 0 ]; then
    ok "journal bounded: $kib KiB after $n compactions"
  else
    bad "journal not bounded or never compacted: ${l:-no holder line}"
  fi
done
[ -n "$recs" ] && [ "$recs" -lt 20000 ] &&
  ok "the takeover replayed a compacted journal: $recs records" ||
  bad "the takeover replayed ${recs:-?} records"
finish
grep -q "diskfs: DESTROY: 0 inodes still looked up" "$FPX_LOG" ||
  bad "diskfs reports lookups left: $(grep 'diskfs: DESTROY' "$FPX_LOG" | tail -n 1)"

[ "$failed" = 0 ] || fp_fail "a request pending at a worker death got a wrong answer"
fp_log "PASS"
