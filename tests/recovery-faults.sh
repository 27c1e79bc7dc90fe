#!/usr/bin/env bash
# Description: fault injection for "fuseproxy --restart": the backend is killed with
# SIGKILL every 200 ms for 10 s (30 s with FP_SLOW=1) under a workload, and the workload
# must not notice.  Three backends that keep their data on disk, so a restarted instance
# sees what its predecessor did: "fuseproxy --passthrough SRC" run as a separate
# backend process, tests/daemons/diskfs (libfuse), and fuse-overlayfs (upper dir on disk).
# The workload, all at once:
#   - fio with crc32c verification (random 4k writes, verified as it goes and at the
#     end), over and over;
#   - a metadata loop: create, mkdir, rename, readdir, unlink, rmdir, read back, in
#     deterministic rounds;
#   - a file kept open by a test process for the whole run, written and read back.
# Checks, per backend:
#   - zero errors seen by the workload (every command's status, fio's verify);
#   - every kill is one restart (a restart more means the backend crashed on its own:
#     something we sent it was wrong);
#   - the final tree equals the same workload run without kills (same number of
#     metadata rounds; fio's files compared by name and size, their verify headers
#     carry timestamps);
#   - lookup counts balanced: after the caches are dropped the kernel holds no lookup
#     and the backend is owed none (fuseproxy status); diskfs itself reports 0 at exit;
#   - recovery time (backend death to every pending request answered, minus backend
#     start) from fuseproxy -v: median below 200 ms.  The figures are printed.
# With the argument "worker" (test recovery-worker) the proxy worker is killed instead
# (fuseproxy's holder keeps the mount and starts a new worker, which takes over from the
# journal and has the kernel resend what the dead one had read), and every kill must be
# one takeover.
# Env: FUSEPROXY, DISKFS (optional), FP_SLOW, FP_BACKENDS (the backends to run, default
# "passthrough diskfs overlay"), FP_KILL_MS (the interval between kills, default 200).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-570}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
. "$(dirname "$0")/recovery-lib.sh"
fp_require_cmd fio python3 getfattr
fpx_load_conformance_helpers

secs=10
[ -z "${FP_SLOW:-}" ] || secs=30
victim=${1:-backend}
kill_s=$(awk -v ms="${FP_KILL_MS:-200}" 'BEGIN { printf "%.3f", ms / 1000 }')
failed=0
ran=0
bad() { fp_log "FAIL: [$name] $*"; failed=1; }

# backend_cmd NAME DIR: the backend serving DIR/data (kept on disk in DIR)
backend_cmd() {
  local d=$2
  case "$1" in
    passthrough) echo "$FUSEPROXY --passthrough $d/data" ;;
    diskfs) echo "$DISKFS -f $d/data" ;;
    overlay) echo "fuse-overlayfs -f -o lowerdir=$d/lower,upperdir=$d/data,workdir=$d/work" ;;
  esac
}

# tree NAME MNT: the comparable description (the held file and fio's contents left
# out).  fuse-overlayfs counts a directory's links from its own history, not from the
# tree: alone, without fuseproxy, the same root with two subdirectories shows 2, 3 or 4
# links depending on whether it was listed and the caches dropped in between (and a
# restarted instance counts afresh), so its directories' link counts are left out.
tree() {
  describe_tree "$2" | grep -v -e '\./held' -e '^[0-9a-f]\{32\}  \./fio/' |
    if [ "$1" = overlay ]; then awk '$1 == "d" { $5 = "-" } { print }'; else cat; fi || true
}

# state_counts MNT -> "KERNEL BACKEND" lookups from fuseproxy status
state_counts() {
  rec_status "$1" | sed -n 's/^state: .*(\([0-9]*\) kernel lookups, \([0-9]*\) backend lookups.*/\1 \2/p'
}

fio_once() {
  fio --name=v --directory="$1/fio" --size=8M --rw=randwrite --bs=4k --ioengine=psync \
      --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_backlog=256 \
      --verify_state_save=0 --output="$2" > /dev/null 2> "$2.err"
}

# run NAME crash|clean [ROUNDS]: one mount of backend NAME; sets rounds, kills, restarts
run() {
  local mode=$2 d=$FP_TMP/$1.$2 m=$FP_TMP/$1.$2.mnt deadline hp mp fp k bp kl bl
  mkdir -p "$d/data" "$d/lower" "$d/work"
  echo "from below" > "$d/lower/lowfile"
  fpx_mount "$m" "$(backend_cmd "$1" "$d")" -v --restart
  log=$FPX_LOG
  mkdir "$m/fio"
  rm -f "$FP_TMP/stop"
  if [ "$mode" = crash ]; then
    deadline=$(( $(date +%s%N) + secs * 1000000000 ))
    rec_held "$m/held" "$FP_TMP/stop" > "$FP_TMP/held.out" 2>&1 &
    hp=$!
    rec_meta "$m/meta" "-$deadline" > "$FP_TMP/meta.out" 2>&1 &
    mp=$!
    (
      n=0
      while [ "$(date +%s%N)" -lt "$deadline" ]; do
        fio_once "$m" "$FP_TMP/fio.out" || { echo "fio failed in run $n"; exit 1; }
        n=$((n + 1))
      done
      echo "$n fio runs"
    ) > "$FP_TMP/fio.loop" 2>&1 &
    fp=$!
    k=0
    while [ "$(date +%s%N)" -lt "$deadline" ]; do
      sleep "$kill_s"
      if [ "$victim" = worker ]; then bp=$(rec_worker_pid); else bp=$(rec_backend_pid); fi
      if [ -n "$bp" ] && kill -KILL "$bp" 2>/dev/null; then k=$((k + 1)); fi
    done
    kills=$k
    wait "$mp" || { bad "metadata loop failed: $(tail -n 3 "$FP_TMP/meta.out")"; }
    rounds=$(tail -n 1 "$FP_TMP/meta.out")
    wait "$fp" || { bad "$(cat "$FP_TMP/fio.loop")"; grep -E 'err=|verify' "$FP_TMP/fio.out" >&2 || true
      cat "$FP_TMP/fio.out.err" >&2; }
    touch "$FP_TMP/stop"
    wait "$hp" || bad "the process holding a file open saw an error: $(cat "$FP_TMP/held.out")"
    fp_log "[$name] $kills kills in $secs s; workload: $rounds metadata rounds, $(cat "$FP_TMP/fio.loop"), held file $(cat "$FP_TMP/held.out") rounds"
    if [ "$victim" = worker ]; then
      restarts=$(grep -c "takeover: serving again" "$log" || true)
      [ "$restarts" = "$kills" ] ||
        bad "$restarts takeovers for $kills kills of the proxy worker"
      fp_log "[$name] takeover (worker death to serving again), ms: $(sed -n 's/.*takeover: serving again \([0-9.]*\) ms after.*/\1/p' "$log" |
        sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "median %s max %s", a[int((NR + 1) / 2)], a[NR] }'); requests resent by the kernel: $(grep -c "sent again by the kernel" "$log" || true); FORGETs taken from the read slots: $(sed -n 's/.* \([0-9]*\) FORGETs read and not journaled.*/\1/p' "$log" | awk '{ s += $1 } END { print s + 0 }')"
    else
      restarts=$(rec_status "$m" | sed -n 's/^restart: on ([a-z ]*); \([0-9]*\) restarts.*/\1/p')
      [ "$restarts" = "$kills" ] ||
        bad "$restarts restarts for $kills kills: the backend died by itself too"
    fi
    rec_status "$m" >&2
  else
    rec_meta "$m/meta" "$3" > "$FP_TMP/meta.out" 2>&1 || bad "clean metadata loop failed"
    fio_once "$m" "$FP_TMP/fio.out" || bad "clean fio failed"
    rec_held "$m/held" "$FP_TMP/stop" > "$FP_TMP/held.out" 2>&1 &
    hp=$!
    sleep 0.3
    touch "$FP_TMP/stop"
    wait "$hp" || bad "clean held file: $(cat "$FP_TMP/held.out")"
  fi
  tree "$1" "$m" > "$FP_TMP/$1.$mode.tree"
  rec_drop_caches
  read -r kl bl <<< "$(state_counts "$m")"
  if [ "${kl:-x}" = 0 ] && [ "${bl:-x}" = 0 ]; then
    fp_log "[$name] $mode: lookups balanced after dropping caches (kernel 0, backend 0)"
  else
    bad "$mode: after dropping caches the kernel holds ${kl:-?} lookups, the backend is owed ${bl:-?}"
    rec_status "$m" >&2
  fi
  fp_stop "$m" umount || bad "fuseproxy did not stop"
  [ "$FP_STATUS" = 0 ] || bad "fuseproxy exited with $FP_STATUS"
  if [ "$1" = diskfs ]; then
    grep -q "diskfs: DESTROY: 0 inodes still looked up" "$log" ||
      bad "diskfs reports lookups left: $(grep 'diskfs: DESTROY' "$log" | tail -n 1)"
  fi
}

for name in ${FP_BACKENDS:-passthrough diskfs overlay}; do
  case "$name" in
    diskfs) [ -n "${DISKFS:-}" ] && [ -x "$DISKFS" ] || { fp_log "diskfs not built: skipped"; continue; } ;;
    overlay) command -v fuse-overlayfs > /dev/null || { fp_log "no fuse-overlayfs: skipped"; continue; } ;;
  esac
  ran=$((ran + 1))
  run "$name" crash
  times=$(rec_times "$log")
  total=$(sed -n 's/.*recovery: done: .* answered \([0-9.]*\) ms after.*/\1/p' "$log" |
    sort -n | awk '{ a[NR] = $1 } END { if (NR) printf "median %s max %s", a[int((NR + 1) / 2)], a[NR] }')
  fp_log "[$name] recovery time (death to all answered, minus backend start), ms: $times; with backend start: $total"
  median=$(echo "$times" | sed -n 's/.*median=\([0-9.]*\).*/\1/p')
  if [ -z "$median" ]; then
    bad "no recovery times in the log"
  elif ! awk -v m="$median" 'BEGIN { exit !(m < 200) }'; then
    bad "median recovery time $median ms is not below 200 ms"
  fi
  crash_log=$log
  # which judgements the run exercised
  fp_log "[$name] judged: $(sed -n 's/.*recovery: \([A-Z0-9_]*\) #[0-9]* node [0-9]*.*: \(O_APPEND: [a-z]*\|EEXIST on replay\|the source is [a-z ]*\|gone\|still there\|re-injected\).*/\1 \2/p' "$log" |
    sort | uniq -c | sort -rn | awk '{ n = $1; $1 = ""; printf "%s%s x%d", sep, $0, n; sep = "," }')"
  run "$name" clean "$rounds"
  if diff -u "$FP_TMP/$name.clean.tree" "$FP_TMP/$name.crash.tree" > "$FP_TMP/$name.diff"; then
    fp_log "[$name] final tree equals the crash-free run's ($(wc -l < "$FP_TMP/$name.crash.tree") lines)"
  else
    head -n 40 "$FP_TMP/$name.diff" >&2
    bad "the final tree differs from the crash-free run's"
  fi
  grep -q "answering EIO\|answering ESTALE" "$crash_log" &&
    bad "fuseproxy failed requests: $(grep -m 3 'answering EIO\|answering ESTALE' "$crash_log")"
done

[ "$ran" -gt 0 ] || fp_skip "no backend available"
[ "$failed" = 0 ] || fp_fail "some checks failed (see the FAIL lines above)"
fp_log "PASS"
