#!/usr/bin/env bash
# Description: requests pending when the backend crashes get the right answer after
# "fuseproxy --restart" brings it back.  The backend is tests/daemons/diskfs (a
# passthrough of a directory on disk) with a crash point: it performs the operation and
# kills itself before replying (--crash-after), or kills itself before performing it
# (--crash-before), once (--crash-marker).  A blind replay would give the application
# the wrong answer in every "after" case (EEXIST, ENOENT, data twice, a lock nobody
# should have); the proxy must judge instead.
#   mkdir         crash after mkdir: mkdir(2) succeeds, the directory is there once
#   create-excl   crash after an O_CREAT|O_EXCL create: open(2) succeeds
#   unlink        crash after unlink: unlink(2) succeeds
#   rename        crash after rename: rename(2) succeeds, the data moved
#   rename-before crash before rename: replayed, succeeds
#   append        crash after an O_APPEND write: write(2) succeeds, the data is there once
#   append-before crash before it: replayed, the data is there once
#   setlkw        A holds a lock, B waits (SETLKW); A unlocks, diskfs grants B and
#                 crashes: B gets the lock, and holds it (C cannot take it)
#   timeout       the backend stops answering a READ (--hang-before); with
#                 --backend-timeout 1 the proxy kills and restarts it, the READ is
#                 re-injected and cat(1) gets the data
#   setlkw-kill   A holds a lock, B waits; the backend is killed (SIGKILL): A's lock is
#                 re-taken before B's SETLKW is replayed, so B gets it only after A
#                 unlocks, and C cannot take it meanwhile
# Each case checks the application's result, the files, that the backend did crash
# and restart, and what fuseproxy -v says it decided.
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

# start CASE [FILL-COMMANDS [fuseproxy args]]: fresh source dir $src, mount $m
start() {
  case=$1
  src=$FP_TMP/src.$case m=$FP_TMP/mnt.$case
  mkdir -p "$src"
  [ -z "${2:-}" ] || { fill=$2; eval "$fill"; }
  shift 2 || shift $#
  fpx_mount "$m" "$DISKFS -f --timeout=0 ${crash} --crash-marker=$FP_TMP/marker.$case $src" \
    -v --restart "$@"
}

# finish: the backend crashed (or was killed) once and the proxy recovered; unmount
finish() {
  local what=${1:-crash}
  if [ "$what" = crash ] && ! grep -q "diskfs: crashing" "$FPX_LOG"; then
    bad "diskfs did not crash"
  fi
  grep -q "recovery: done" "$FPX_LOG" || bad "fuseproxy logged no finished recovery"
  fp_stop "$m" umount || bad "fuseproxy did not stop cleanly"
  [ "$FP_STATUS" = 0 ] || bad "fuseproxy exited with $FP_STATUS"
}

# wait_for FILE PATTERN: up to 10 s for a locker's line
wait_for() {
  local i
  for i in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  bad "no '$2' in $(basename "$1") after 10 s"
}

# wait_setlkw MNT: up to 10 s until a SETLKW waits at the backend
wait_setlkw() {
  local i
  for i in $(seq 200); do
    rec_status "$1" | grep -q ' SETLKW .* backend$' && return 0
    sleep 0.05
  done
  bad "no SETLKW waiting at the backend after 10 s"
}

verdict() {
  if grep -Eq "recovery: .*($1)" "$FPX_LOG"; then
    ok "fuseproxy: $(grep -Eo "recovery: .*($1).*" "$FPX_LOG" | head -n 1 | cut -c11-170)"
  else
    bad "fuseproxy -v does not say '$1'"
    grep "recovery:" "$FPX_LOG" >&2 || true
  fi
}

# ---- mkdir ----------------------------------------------------------------------
crash=--crash-after=mkdir:newdir
start mkdir
if mkdir "$m/newdir" 2>"$FP_TMP/err"; then ok "mkdir succeeded"; else bad "mkdir failed: $(cat "$FP_TMP/err")"; fi
[ -d "$src/newdir" ] && [ "$(ls "$src" | wc -l)" = 1 ] || bad "source has $(ls "$src")"
stat "$m/newdir" > /dev/null || bad "stat newdir through the mount failed"
verdict "MKDIR .*EEXIST on replay, and the object there is the one asked for"
finish

# ---- create O_EXCL ------------------------------------------------------------------
crash=--crash-after=create:excl
start create-excl
if python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_CREAT|os.O_EXCL|os.O_WRONLY, 0o640); os.write(fd, b"mine\n"); os.close(fd)' "$m/excl" 2>"$FP_TMP/err"; then
  ok "open(O_CREAT|O_EXCL) succeeded"
else
  bad "open(O_CREAT|O_EXCL) failed: $(tail -n 1 "$FP_TMP/err")"
fi
[ "$(cat "$src/excl" 2>/dev/null)" = mine ] || bad "excl does not hold what was written"
verdict "CREATE .*EEXIST on replay, and the object there is the one asked for"
finish

# ---- unlink ------------------------------------------------------------------------
crash=--crash-after=unlink:victim
start unlink 'echo v > "$src/victim"; echo keep > "$src/keep"'
cat "$m/victim" > /dev/null
if rm "$m/victim" 2>"$FP_TMP/err"; then ok "unlink succeeded"; else bad "unlink failed: $(cat "$FP_TMP/err")"; fi
[ ! -e "$src/victim" ] && [ -e "$src/keep" ] || bad "source has $(ls "$src")"
verdict "UNLINK .*gone: the crashed backend had done it"
finish

# ---- rename (after, and before) ----------------------------------------------------------
for when in after before; do
  crash=--crash-$when=rename:dst
  label=rename; [ "$when" = after ] || label=rename-before
  start "$label" 'echo "moved data" > "$src/src"; mkdir "$src/sub"'
  cat "$m/src" > /dev/null; ls "$m/sub" > /dev/null
  if mv "$m/src" "$m/sub/dst" 2>"$FP_TMP/err"; then ok "rename succeeded"; else bad "rename failed: $(cat "$FP_TMP/err")"; fi
  [ ! -e "$src/src" ] && [ "$(cat "$src/sub/dst" 2>/dev/null)" = "moved data" ] ||
    bad "after the rename the source has: $(cd "$src" && find . | tr '\n' ' ')"
  [ "$(cat "$m/sub/dst")" = "moved data" ] || bad "dst through the mount is wrong"
  if [ "$when" = after ]; then verdict "RENAME.*the source is at the target: answering success"
  else verdict "RENAME.*the source is still there: replayed"; fi
  finish
done

# ---- O_APPEND write (after, and before) --------------------------------------------------
for when in after before; do
  crash=--crash-$when=write:log
  label=append; [ "$when" = after ] || label=append-before
  start "$label" 'printf "line 1\n" > "$src/log"'
  cat "$m/log" > /dev/null
  if printf "line 2\n" >> "$m/log" 2>"$FP_TMP/err"; then ok "append succeeded"; else bad "append failed: $(cat "$FP_TMP/err")"; fi
  if [ "$(cat "$src/log")" = "$(printf 'line 1\nline 2')" ]; then
    ok "the appended line is there once"
  else
    bad "log holds: $(od -c "$src/log" | head -n 5)"
  fi
  if [ "$when" = after ]; then verdict "WRITE .*O_APPEND: size 14 = 7 \+ 7, data read back: the crashed backend wrote it"
  else verdict "WRITE .*O_APPEND: size 7 as before: replayed"; fi
  finish
done

# ---- a backend that stops answering ---------------------------------------------------
crash=--hang-before=read:slow
start timeout 'echo "slow data" > "$src/slow"' --backend-timeout 1
t0=$SECONDS
if out=$(timeout 30 cat "$m/slow" 2>"$FP_TMP/err"); then
  [ "$out" = "slow data" ] && ok "read answered after the hung backend was replaced ($((SECONDS - t0)) s)" ||
    bad "read returned '$out'"
else
  bad "read failed: $(cat "$FP_TMP/err")"
fi
grep -q "diskfs: hanging before read slow" "$FPX_LOG" || bad "diskfs did not hang"
verdict "stopped answering: a request has waited more than --backend-timeout"
finish killed

# ---- SETLKW: granted, then the crash -------------------------------------------------
crash=--crash-after=setlkw:lockme
start setlkw 'echo x > "$src/lockme"'
# A takes it without waiting (SETLK): only B's SETLKW meets the crash point
rec_locker "$m/lockme" 1 A nb > "$FP_TMP/A" &
a=$!
wait_for "$FP_TMP/A" "A locked"
rec_locker "$m/lockme" 2 B > "$FP_TMP/B" &
b=$!
wait_for "$FP_TMP/B" "B locked"  # A unlocked, diskfs granted B and crashed, B was replayed
rec_locker "$m/lockme" 0 C nb > "$FP_TMP/C"
wait "$a" "$b" || bad "a locker failed"
cat "$FP_TMP/A" "$FP_TMP/B" "$FP_TMP/C" >&2
grep -q "B locked" "$FP_TMP/B" || bad "B never got the lock"
grep -q "C busy" "$FP_TMP/C" && ok "B holds the lock after the restart: C could not take it" ||
  bad "C took the lock B was granted"
verdict "SETLKW .*re-injected after the locks were re-taken"
finish

# ---- SETLKW: the backend killed while B waits ------------------------------------------
crash=
start setlkw-kill 'echo x > "$src/lockme"'
rec_locker "$m/lockme" "until:$FP_TMP/release" A > "$FP_TMP/A" &
a=$!
wait_for "$FP_TMP/A" "A locked"
rec_locker "$m/lockme" 0 B > "$FP_TMP/B" &
b=$!
wait_setlkw "$m"
kill -KILL "$(rec_backend_pid)"
for _ in $(seq 100); do rec_status "$m" | grep -q "last recovery" && break; sleep 0.05; done
sleep 0.3
grep -q "B locked" "$FP_TMP/B" && bad "B got the lock while A held it"
rec_locker "$m/lockme" 0 C nb > "$FP_TMP/C"
touch "$FP_TMP/release"
wait "$a" "$b" || bad "a locker failed"
cat "$FP_TMP/A" "$FP_TMP/B" "$FP_TMP/C" >&2
ta=$(awk '/A unlocked/ { print $3 }' "$FP_TMP/A")
tb=$(awk '/B locked/ { print $3 }' "$FP_TMP/B")
if [ -n "$ta" ] && [ -n "$tb" ] && awk -v a="$ta" -v b="$tb" 'BEGIN { exit !(b >= a) }'; then
  ok "B got the lock after A unlocked ($tb >= $ta)"
else
  bad "B got the lock at ${tb:-never}, A unlocked at ${ta:-never}"
fi
grep -q "C busy" "$FP_TMP/C" && ok "A's lock was re-taken: C could not take it" ||
  bad "C took a lock A holds"
verdict "POSIX lock write .* re-taken"
finish killed

[ "$failed" = 0 ] || fp_fail "some pending request got the wrong answer after a restart"
fp_log "PASS"
