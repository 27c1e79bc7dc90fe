# shellcheck shell=bash
# tests/recovery-lib.sh: helpers of the crash-recovery tests (tests/recovery-*.sh), sourced
# after tests/lib.sh and tests/daemons/proxy-lib.sh.
#
#   rec_worker_pid          pid of the proxy worker under fuseproxy's holder ($FP_PID with
#                           --restart), or nothing
#   rec_backend_pid         pid of the backend fuseproxy ($FP_PID) runs now, or nothing
#   rec_locker FILE HOLD NAME [nb]
#                           take an exclusive POSIX lock on FILE (waiting, or failing at
#                           once with nb), print "NAME waiting|locked|unlocked|busy T"
#                           lines with times, hold it HOLD seconds (until:PATH: until PATH
#                           exists)
#   rec_meta DIR ROUNDS|-DEADLINE_NS
#                           deterministic metadata rounds (create, mkdir, rename, readdir,
#                           unlink, rmdir, read back, an O_APPEND line in DIR/journal;
#                           every 10th round leaves a file and a symlink in DIR/kept);
#                           checks the journal at the end; prints the number of rounds
#   rec_held FILE STOPFILE  keep FILE open, write and read back blocks until STOPFILE
#                           exists; fails on any error or mismatch
#   rec_times LOG           recovery times ("recovery X ms" of each "recovery: done"
#                           line of fuseproxy -v): "n=N median=M p95=P max=X" (ms)
#   rec_status MNT          `fuseproxy status MNT`
#   rec_drop_caches         drop dentries and inodes (the kernel FORGETs what it can)

rec_worker_pid() { pgrep -P "$FP_PID" -x fp-worker | head -n 1 || true; }
rec_backend_pid() {
  local w
  w=$(rec_worker_pid)
  pgrep -P "${w:-$FP_PID}" | grep -v "^${w:-x}\$" | head -n 1 || true
}

rec_locker() {
  python3 - "$@" <<'EOF'
import fcntl, os, sys, time
path, hold, name = sys.argv[1], sys.argv[2], sys.argv[3]
nb = len(sys.argv) > 4
fd = os.open(path, os.O_RDWR)
print(f"{name} waiting {time.time():.3f}", flush=True)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if nb else 0))
except OSError as e:
    print(f"{name} busy {time.time():.3f} {e.strerror}", flush=True)
    sys.exit(0)
print(f"{name} locked {time.time():.3f}", flush=True)
if hold.startswith("until:"):
    while not os.path.exists(hold[6:]):
        time.sleep(0.02)
else:
    time.sleep(float(hold))
t = time.time()
fcntl.lockf(fd, fcntl.LOCK_UN)
print(f"{name} unlocked {t:.3f}", flush=True)
os.close(fd)
EOF
}

rec_meta() {
  local d=$1 lim=$2 r=0
  mkdir -p "$d" || return 1
  while :; do
    if [ "${lim#-}" != "$lim" ]; then
      [ "$(date +%s%N)" -lt "${lim#-}" ] || break
    else
      [ "$r" -lt "$lim" ] || break
    fi
    echo "round $r" > "$d/r$r.a" || return 1
    mkdir "$d/d$r" || return 1
    mv "$d/r$r.a" "$d/d$r/x" || return 1
    echo "b $r" > "$d/r$r.b" || return 1
    ls -la "$d" > /dev/null || return 1
    if [ "$r" -ge 1 ]; then rm "$d/r$((r - 1)).b" || return 1; fi
    if [ "$r" -ge 2 ]; then
      rm "$d/d$((r - 2))/x" || return 1
      rmdir "$d/d$((r - 2))" || return 1
    fi
    [ "$(cat "$d/d$r/x")" = "round $r" ] || { echo "rec_meta: d$r/x has the wrong content" >&2; return 1; }
    # an O_APPEND write per round: a replay after a crash must not double it
    echo "$r" >> "$d/journal" || return 1
    # every 10th round leaves something behind, so the final tree shows them all
    if [ $((r % 10)) = 0 ]; then
      mkdir -p "$d/kept" || return 1
      echo "kept $r" > "$d/kept/tmp" || return 1
      mv "$d/kept/tmp" "$d/kept/k$r" || return 1
      ln -s "k$r" "$d/kept/l$r" || return 1
    fi
    r=$((r + 1))
  done
  if [ "$r" -gt 0 ] && ! seq 0 $((r - 1)) | cmp -s - "$d/journal"; then
    echo "rec_meta: the journal does not hold rounds 0..$((r - 1)) once each" >&2
    return 1
  fi
  echo "$r"
}

rec_held() {
  python3 - "$@" <<'EOF'
import os, sys, time
path, stop = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
n = 0
while not os.path.exists(stop):
    off = (n % 64) * 4096
    data = (b"%08d" % n) * 512
    if os.pwrite(fd, data, off) != 4096:
        print("held: short write", flush=True); sys.exit(1)
    got = os.pread(fd, 4096, off)
    if got != data:
        print(f"held: read back {got[:16]!r} at {off}, wrote {data[:16]!r}", flush=True)
        sys.exit(1)
    if n % 16 == 0:
        os.fsync(fd)
    n += 1
    time.sleep(0.01)
os.close(fd)
print(f"{n}", flush=True)
EOF
}

rec_times() {
  sed -n 's/.*recovery: done: .*(backend start [0-9.]* ms, recovery \([0-9.]*\) ms).*/\1/p' "$1" |
    sort -n | awk '{ a[NR] = $1 } END {
      if (!NR) { print "n=0"; exit }
      printf "n=%d median=%s p95=%s max=%s\n", NR, a[int((NR + 1) / 2)], a[int(NR * 0.95 + 0.5) ? int(NR * 0.95 + 0.5) : 1], a[NR] }'
}

rec_status() { timeout 10 "$FUSEPROXY" status "$1"; }

rec_drop_caches() {
  sync
  echo 3 > /proc/sys/vm/drop_caches
  sleep 0.3
  echo 3 > /proc/sys/vm/drop_caches
  sleep 0.3
}
