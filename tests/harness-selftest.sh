#!/usr/bin/env bash
# Description: proves tests/lib.sh against a stand-in daemon (bindfs via standin.sh):
# a clean test passes; a failing test, a daemon that hangs mid-request, a daemon that
# ignores unmount and a daemon that dies before mounting all end with a failure and
# without leaving a mount, a process or a temp dir behind; missing prerequisites skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
command -v bindfs >/dev/null || { echo "SKIP: bindfs not installed"; exit 77; }

work=$(mktemp -d /tmp/fp-selftest.XXXXXX)
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT
mkdir "$work/tmp"
failures=0

# case NAME EXPECTED-STATUS MAX-SECONDS BODY [env...]: runs BODY as a test script that
# sources lib.sh, then checks its status, its duration and that nothing was left behind.
case_() {
  local name=$1 want=$2 max=$3 body=$4 rc=0 t0=$SECONDS left
  shift 4
  printf '#!/usr/bin/env bash\nset -euo pipefail\n. %q/lib.sh\n%s\n' "$here" "$body" > "$work/$name.sh"
  env TMPDIR="$work/tmp" FUSEPROXY="$here/standin.sh" "$@" \
    bash "$work/$name.sh" > "$work/$name.log" 2>&1 || rc=$?
  local dt=$((SECONDS - t0)) ok=1
  [ "$rc" = "$want" ] || { echo "selftest $name: status $rc, expected $want"; ok=0; }
  [ "$dt" -le "$max" ] || { echo "selftest $name: took ${dt}s, expected <= ${max}s"; ok=0; }
  left=$(grep -F "$work/tmp/" /proc/self/mountinfo || true)
  [ -z "$left" ] || { echo "selftest $name: mount left behind: $left"; ok=0; }
  [ -z "$(ls -A "$work/tmp")" ] || { echo "selftest $name: temp dir left: $(ls "$work/tmp")"; ok=0; }
  if [ -n "$(cat "$work/daemon.pid" 2>/dev/null)" ] && kill -0 "$(cat "$work/daemon.pid")" 2>/dev/null; then
    echo "selftest $name: daemon $(cat "$work/daemon.pid") still running"
    ok=0
    kill -KILL "$(cat "$work/daemon.pid")" 2>/dev/null || true
  fi
  rm -f "$work/daemon.pid"
  if [ "$ok" = 1 ]; then
    echo "selftest $name: ok (status $rc in ${dt}s)"
  else
    sed 's/^/    | /' "$work/$name.log"
    failures=$((failures + 1))
  fi
}

mount_body='mkdir "$FP_TMP/src"; echo hi > "$FP_TMP/src/f"
fp_mount "$FP_TMP/src" "$FP_TMP/mnt"; echo "$FP_PID" > '"$work"'/daemon.pid'

case_ clean 0 20 "$mount_body
[ \"\$(cat \"\$FP_TMP/mnt/f\")\" = hi ]"

case_ failing-test 1 20 "$mount_body
false"

case_ fp-fail 1 20 "$mount_body
fp_fail 'on purpose'"

# daemon stopped while a read waits on it: only the watchdog's abort gets us out
case_ hung-daemon 1 60 "$mount_body
kill -STOP \"\$FP_PID\"
cat \"\$FP_TMP/mnt/f\"" FP_TIMEOUT=5

# daemon stopped: unmount works (the kernel does not ask it) but it never exits
case_ daemon-ignores-umount 1 40 "$mount_body
kill -STOP \"\$FP_PID\""

# fp_stop reports a daemon that does not react to SIGTERM
case_ ignores-sigterm 1 60 "$mount_body
kill -STOP \"\$FP_PID\"
fp_stop \"\$FP_TMP/mnt\" TERM || fp_fail 'did not stop on SIGTERM'"

case_ dies-before-mount 1 20 'mkdir "$FP_TMP/src"; fp_mount "$FP_TMP/src" "$FP_TMP/mnt"' FUSEPROXY=/bin/false

case_ no-fuseproxy 77 5 'true' FUSEPROXY=

case_ signal-interrupted 143 20 "$mount_body
kill -TERM \$\$; sleep 5"

echo "harness selftest: $failures failure(s)"
[ "$failures" = 0 ]
