#!/usr/bin/env bash
# Description: 150,000 files are created, stat'ed, read, listed and unlinked through
# the mount (tests/many-files.c). Meanwhile fuseproxy's open file descriptors are
# sampled; the test fails on any error (EMFILE in particular) or if the daemon ever
# holds more than FP_MAX_FDS (12000) descriptors. FP_SLOW=1: 1,000,000 files.
# Env: FUSEPROXY, MANY_FILES (compiled tests/many-files.c).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-840}
. "$(dirname "$0")/lib.sh"
[ -x "${MANY_FILES:-}" ] || fp_skip "MANY_FILES (compiled many-files.c) not set"

count=${FP_FILES:-150000}
[ -z "${FP_SLOW:-}" ] || count=1000000
max_fds=${FP_MAX_FDS:-12000}

src=$FP_TMP/src mnt=$FP_TMP/mnt
mkdir "$src"
fp_mount "$src" "$mnt"
pid=$FP_PID
base=$(fp_fd_count "$pid")
fp_log "fuseproxy holds $base fds at start; $count files, limit $max_fds fds"

# Sampler: the highest fd count seen, written to a file that survives the subshell.
echo "$base" > "$FP_TMP/maxfd"
(
  max=$base
  while kill -0 "$pid" 2>/dev/null && [ ! -e "$FP_TMP/stop-sampler" ]; do
    n=$(fp_fd_count "$pid")
    if [ "$n" -gt "$max" ]; then max=$n; echo "$max" > "$FP_TMP/maxfd"; fi
    sleep 0.2
  done
) &
sampler=$!

rc=0
"$MANY_FILES" "$mnt" "$count" || rc=$?
touch "$FP_TMP/stop-sampler"
wait "$sampler" || true
max=$(cat "$FP_TMP/maxfd")
end=$(fp_fd_count "$pid")
fp_log "fuseproxy fds: start $base, max $max, end $end"

[ "$rc" = 0 ] || fp_fail "many-files failed (status $rc)"
[ "$max" -le "$max_fds" ] || fp_fail "fuseproxy held $max fds (limit $max_fds)"
[ -z "$(ls -A "$src")" ] || fp_fail "source not empty after unlinking everything"
ls "$mnt" >/dev/null || fp_fail "mount no longer answers"
fp_log "PASS"
