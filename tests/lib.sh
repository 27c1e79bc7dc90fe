# shellcheck shell=bash
# tests/lib.sh: sourced by every mount test.
#
# Sourcing it:
#   - skips the test (exit 77) without root, /dev/fuse or an executable $FUSEPROXY;
#   - creates a private temp dir $FP_TMP (0755, so other uids can reach mounts in it);
#   - installs fp_teardown on EXIT/INT/TERM;
#   - starts a watchdog: after $FP_TIMEOUT seconds (default 300) it aborts every FUSE
#     connection the test made (which unsticks anything blocked on the mount), then
#     stops the test, so a hung daemon can never hang CI.
#
# Mount helpers:
#   fp_mount SRC MNT [fuseproxy args...]  start "$FUSEPROXY args --passthrough SRC MNT" in
#                                         the background; sets FP_PID, FP_CONN.
#   fp_stop MNT umount|TERM|INT           stop it that way; sets FP_STATUS (exit status);
#                                         returns 1 if it did not end within 10 s.
#   fp_conn_id MNT                        fusectl connection id (minor of dev, mountinfo f3)
#   fp_abort_conn ID                      write /sys/fs/fuse/connections/ID/abort
#   fp_fd_count PID                       number of open fds of PID
#   fp_wait_exit PID SECS                 wait for PID to end; sets FP_STATUS for children
#   fp_is_mounted MNT                     true if MNT is a fuse mount point now
#   fp_umount MNT [umount args]           umount, retrying while busy for 5 s
# Failing: fp_fail MSG (exit 1), fp_skip MSG (exit 77), fp_log MSG.

fp_log()  { printf '[%s %s] %s\n' "$(date +%T)" "${FP_NAME:-test}" "$*" >&2; }
fp_fail() { fp_log "FAIL: $*"; exit 1; }
fp_skip() { fp_log "SKIP: $*"; exit 77; }

FP_NAME=$(basename "$0" .sh)
FP_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fp_require_cmd() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null || fp_skip "$c not installed"; done
}

[ "$(id -u)" = 0 ] || fp_skip "needs root"
[ -c /dev/fuse ] || fp_skip "no /dev/fuse"
[ -n "${FUSEPROXY:-}" ] || fp_skip "FUSEPROXY is not set (fuseproxy not built?)"
[ -x "$FUSEPROXY" ] || fp_skip "FUSEPROXY=$FUSEPROXY is not executable"

FP_PIDS=() FP_MNTS=() FP_CONNS=() FP_LOGS=() FP_DONE=()
FP_PID= FP_CONN= FP_STATUS= FP_TORN_DOWN= FP_WATCHDOG_PID=

FP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fp-$FP_NAME.XXXXXX")
chmod 0755 "$FP_TMP"
: > "$FP_TMP/.conns"

# Field 5 is the mount point, field 3 major:minor, fstype follows the " - " separator.
fp__mountinfo_field3() {
  awk -v m="$1" '$5 == m { for (i = 7; $i != "-"; i++) ; if ($(i + 1) ~ /^fuse/) print $3 }' \
    /proc/self/mountinfo | tail -n 1
}

fp_is_mounted() { [ -n "$(fp__mountinfo_field3 "$1")" ]; }

fp_conn_id() {
  local dev
  dev=$(fp__mountinfo_field3 "$1")
  [ -n "$dev" ] || return 1
  echo "${dev#*:}"
}

fp_abort_conn() {
  local d=/sys/fs/fuse/connections
  [ -n "$1" ] || return 1
  if ! grep -q " $d " /proc/self/mountinfo; then
    mount -t fusectl none "$d" 2>/dev/null || true
  fi
  [ -e "$d/$1/abort" ] || return 1
  fp_log "aborting FUSE connection $1"
  echo 1 > "$d/$1/abort"
}

fp_fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# Waits up to SECS for PID to end. For a child of this shell FP_STATUS gets its exit
# status (128+N for a signal). Returns 1 on timeout.
fp_wait_exit() {
  local pid=$1 end=$((SECONDS + $2)) state
  while kill -0 "$pid" 2>/dev/null; do
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ "$state" = Z ] && break
    # stopped (SIGSTOP) it cannot exit until continued: no point waiting. Not "t":
    # LeakSanitizer ptrace-stops its own threads while it checks at exit.
    [ "$state" != T ] || return 1
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.05
  done
  FP_STATUS=0
  wait "$pid" 2>/dev/null || FP_STATUS=$?
  return 0
}

# Unmounts MNT, retrying for up to 5 s while it is busy (a passing reference from some
# other process); on failure says who holds it. Returns 0 once MNT is not mounted.
fp_umount() {
  local mnt=$1 end=$((SECONDS + 5)) err busy=0
  while :; do
    if err=$(timeout 10 umount -c "$@" 2>&1); then
      [ "$busy" = 0 ] || fp_log "umount $mnt: busy $busy time(s) before it worked"
      return 0
    fi
    fp_is_mounted "$mnt" || return 0     # gone meanwhile: the daemon unmounted it
    case "$err" in *busy*)
      busy=$((busy + 1))
      [ "$busy" = 1 ] && { timeout 5 fuser -vm "$mnt" >&2 2>&1 || true; }
      [ "$SECONDS" -lt "$end" ] && { sleep 0.2; continue; } ;;
    esac
    break
  done
  fp_log "umount $*: ${err:-timed out}"
  case "$err" in *busy*) timeout 5 fuser -vm "$mnt" >&2 2>&1 || true ;; esac
  return 1
}

fp__index_of_mnt() {
  local i
  for ((i = ${#FP_MNTS[@]} - 1; i >= 0; i--)); do
    [ "${FP_MNTS[i]}" = "$1" ] && { echo "$i"; return 0; }
  done
  return 1
}

fp_dump_log() {
  local log=$1
  [ -s "$log" ] || return 0
  echo "---- last 40 lines of $(basename "$log") ----" >&2
  tail -n 40 "$log" >&2
  echo "----" >&2
}

fp_mount() {
  local src=$1 mnt=$2 i pid end conn
  shift 2
  mkdir -p "$mnt"
  i=${#FP_PIDS[@]}
  local log="$FP_TMP/fuseproxy.$i.log"
  # A non-interactive shell starts background jobs with SIGINT ignored; give the
  # daemon default dispositions so SIGINT really tests its handler.
  # FP_MOUNT_MODE picks what serves SRC (the suites run unchanged in each mode):
  #   passthrough (default)  fuseproxy --passthrough SRC
  #   backend-overlay        fuseproxy in front of fuse-overlayfs (upper = SRC)
  #   overlay-alone          the same fuse-overlayfs mounted on its own
  local ovl="lowerdir=$FP_TMP/.ovl-lower,upperdir=$src,workdir=$FP_TMP/.ovl-work.$i"
  case "${FP_MOUNT_MODE:-passthrough}" in
    passthrough) set -- "$FUSEPROXY" "$@" --passthrough "$src" "$mnt" ;;
    backend-overlay)
      mkdir -p "$FP_TMP/.ovl-lower" "$FP_TMP/.ovl-work.$i"
      set -- "$FUSEPROXY" "$@" --backend "fuse-overlayfs -f -o $ovl" "$mnt" ;;
    overlay-alone)
      mkdir -p "$FP_TMP/.ovl-lower" "$FP_TMP/.ovl-work.$i"
      set -- fuse-overlayfs -f -o "$ovl" "$mnt" ;;
    *) fp_fail "FP_MOUNT_MODE=$FP_MOUNT_MODE: passthrough, backend-overlay or overlay-alone" ;;
  esac
  env --default-signal=INT,QUIT,TERM "$@" </dev/null >"$log" 2>&1 &
  pid=$!
  FP_PIDS[i]=$pid FP_MNTS[i]=$mnt FP_LOGS[i]=$log FP_CONNS[i]= FP_DONE[i]=
  FP_PID=$pid FP_CONN=
  end=$((SECONDS + 10))
  while :; do
    conn=$(fp_conn_id "$mnt") && break
    if ! kill -0 "$pid" 2>/dev/null; then
      fp_wait_exit "$pid" 1
      FP_DONE[i]=1
      fp_dump_log "$log"
      fp_fail "fuseproxy exited with status $FP_STATUS before mounting $mnt"
    fi
    [ "$SECONDS" -lt "$end" ] || { fp_dump_log "$log"; fp_fail "$mnt not mounted after 10 s"; }
    sleep 0.05
  done
  FP_CONNS[i]=$conn FP_CONN=$conn
  echo "$conn $mnt" >> "$FP_TMP/.conns"
  # mount(2) returns before INIT is answered; make sure the daemon serves requests.
  timeout 10 stat -f "$mnt" >/dev/null || { fp_dump_log "$log"; fp_fail "$mnt does not answer statfs"; }
  fp_log "mounted $src on $mnt (pid $pid, conn $conn)"
}

# fp_stop MNT umount|TERM|INT: ends the daemon of MNT that way and waits up to 10 s.
# Sets FP_STATUS; returns 0 when the process ended and nothing is mounted on MNT.
fp_stop() {
  local mnt=$1 how=$2 i pid
  i=$(fp__index_of_mnt "$mnt") || fp_fail "fp_stop: $mnt was not mounted by fp_mount"
  pid=${FP_PIDS[i]}
  case "$how" in
    umount) fp_umount "$mnt" || return 1 ;;
    TERM|INT) kill -s "$how" "$pid" ;;
    *) fp_fail "fp_stop: bad method $how" ;;
  esac
  if ! fp_wait_exit "$pid" 10; then
    fp_log "fuseproxy (pid $pid) still running 10 s after $how"
    return 1
  fi
  FP_DONE[i]=1
  if fp_is_mounted "$mnt"; then
    fp_log "$mnt still mounted after $how (fuseproxy exited with $FP_STATUS)"
    return 1
  fi
  return 0
}

# Brings one mount down whatever state it is in. Prints what it had to do; returns 1 if
# the daemon did not exit cleanly (0) or force was needed.
fp__teardown_one() {
  local i=$1 mnt=${FP_MNTS[$1]} pid=${FP_PIDS[$1]} conn=${FP_CONNS[$1]} bad=0
  if fp_is_mounted "$mnt" && ! fp_umount "$mnt"; then
    bad=1
    fp_abort_conn "$conn" || true
    fp_umount "$mnt" || fp_umount "$mnt" -l || fp_log "could not unmount $mnt"
  fi
  if [ -z "${FP_DONE[i]}" ]; then
    if fp_wait_exit "$pid" 10; then
      if [ "$FP_STATUS" != 0 ]; then
        fp_log "fuseproxy (pid $pid) exited with status $FP_STATUS at teardown"
        bad=1
      fi
    else
      bad=1
      fp_log "fuseproxy (pid $pid) did not exit after unmount; aborting and killing it"
      # only while it is still ours: a released id may belong to another test now
      [ "$(fp_conn_id "$mnt" 2>/dev/null)" != "$conn" ] || fp_abort_conn "$conn" || true
      kill -TERM "$pid" 2>/dev/null
      fp_wait_exit "$pid" 5 || { kill -KILL "$pid" 2>/dev/null; fp_wait_exit "$pid" 5; }
    fi
    FP_DONE[i]=1
  fi
  [ "$bad" = 0 ] || fp_dump_log "${FP_LOGS[i]}"
  return "$bad"
}

fp_teardown() {
  local rc=$1 i left
  [ -z "$FP_TORN_DOWN" ] || return "$rc"
  FP_TORN_DOWN=1
  set +e
  trap - ERR
  # A late signal (from the watchdog or the user) must not cut the cleanup short; every
  # step below is bounded by its own timeout.
  trap '' INT TERM
  if [ -n "$FP_WATCHDOG_PID" ]; then
    kill -TERM "$FP_WATCHDOG_PID" 2>/dev/null
    wait "$FP_WATCHDOG_PID" 2>/dev/null
  fi
  if [ -e "$FP_TMP/.timed-out" ]; then
    fp_log "FAIL: timed out after ${FP_TIMEOUT}s"
    rc=1
  fi
  cd / || true
  for ((i = ${#FP_PIDS[@]} - 1; i >= 0; i--)); do
    fp__teardown_one "$i" || { [ "$rc" != 0 ] || rc=1; }
  done
  if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
    for i in "${!FP_LOGS[@]}"; do fp_dump_log "${FP_LOGS[i]}"; done
  fi
  # Never rm -rf through a mount that is still there: it would delete the source tree.
  left=$(awk -v p="$FP_TMP/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo)
  if [ -n "$left" ]; then
    fp_log "FAIL: still mounted, leaving $FP_TMP: $left"
    rc=1
  else
    rm -rf --one-file-system "$FP_TMP"
  fi
  return "$rc"
}

fp__watchdog() {
  local secs=$1 main=$2 sp c p
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$secs" </dev/null >/dev/null 2>&1 &
  sp=$!
  wait "$sp"
  touch "$FP_TMP/.timed-out"
  fp_log "watchdog: over ${secs}s, aborting FUSE connections and stopping the test"
  # only connections still mounted where this test mounted them: an id whose mount
  # is gone may have been reused by another test's mount meanwhile
  local m
  while read -r c m; do
    [ "$(fp_conn_id "$m" 2>/dev/null)" = "$c" ] && { fp_abort_conn "$c" || true; }
  done < "$FP_TMP/.conns"
  kill -TERM "$main" 2>/dev/null
  for p in $(ps -o pid= --ppid "$main"); do
    [ "$p" = "$BASHPID" ] || kill -TERM "$p" 2>/dev/null
  done
  sleep 60 </dev/null >/dev/null 2>&1 &
  sp=$!
  wait "$sp"
  kill -KILL "$main" 2>/dev/null
  exit 0
}

# With set -e a failing command ends the test; say which one.
set -o errtrace
trap 'fp_log "command failed with status $? at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR
trap 'fp_teardown $?; exit $?' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
FP_TIMEOUT=${FP_TIMEOUT:-300}
fp__watchdog "$FP_TIMEOUT" "$$" &
FP_WATCHDOG_PID=$!
