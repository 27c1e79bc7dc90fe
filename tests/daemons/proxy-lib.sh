# shellcheck shell=bash
# tests/daemons/proxy-lib.sh: sourced by the proxy-mode tests (tests/proxy-*.sh) after
# tests/lib.sh, whose skip rules, temp dir, watchdog and teardown it builds on.
#
#   fpx_mount MNT 'CMD ARGS' [fuseproxy args...]
#        start "$FUSEPROXY args --backend 'CMD ARGS' MNT" in the background and wait
#        until MNT answers statfs; sets FP_PID, FP_CONN, FPX_LOG.  Torn down by
#        lib.sh's teardown like fp_mount's mounts.
#   fpx_mount_standalone MNT CMD ARGS...
#        the same for a daemon mounting MNT itself (its command line must contain MNT),
#        e.g. fpx_mount_standalone "$m" "$MEMFS" -f "$m".
#   fpx_tagged_pids     pids of every process started through the two above that is
#                       still alive (backends included, even ones that daemonized)
#   fpx_require VAR...  skip unless each named variable is an executable
#
# Every process started here carries FPX_TAG=$FP_TMP in its environment, so leftovers
# (a backend that outlived fuseproxy, a daemon that forked away) are found and killed
# at teardown; a leftover fails the test.

FPX_TAG=$FP_TMP
FPX_LOG=

fpx_require() {
  local v
  for v in "$@"; do
    [ -n "${!v:-}" ] && [ -x "${!v}" ] || fp_skip "$v is not set or not executable (not built?)"
  done
}

fpx_tagged_pids() {
  local e pid
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}
    pid=${pid%/environ}
    [ "$pid" = "$$" ] && continue
    if grep -qzxF "FPX_TAG=$FPX_TAG" "$e" 2>/dev/null; then
      # zombies still have an environ but are no process any more
      [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] || echo "$pid"
    fi
  done
}

# fpx__start LOGNAME MNT CMD...: runs CMD in the background with the test's tag and
# waits for MNT to become a FUSE mount that answers.
fpx__start() {
  local name=$1 mnt=$2 i pid end conn
  shift 2
  mkdir -p "$mnt"
  i=${#FP_PIDS[@]}
  local log="$FP_TMP/$name.$i.log"
  # default dispositions: a background job of a script starts with SIGINT ignored
  env --default-signal=INT,QUIT,TERM FPX_TAG="$FPX_TAG" "$@" </dev/null >"$log" 2>&1 &
  pid=$!
  FP_PIDS[i]=$pid FP_MNTS[i]=$mnt FP_LOGS[i]=$log FP_CONNS[i]= FP_DONE[i]=
  FP_PID=$pid FP_CONN= FPX_LOG=$log
  end=$((SECONDS + 10))
  while :; do
    conn=$(fp_conn_id "$mnt") && break
    if ! kill -0 "$pid" 2>/dev/null; then
      fp_wait_exit "$pid" 1
      FP_DONE[i]=1
      fp_dump_log "$log"
      fp_fail "$name exited with status $FP_STATUS before mounting $mnt"
    fi
    [ "$SECONDS" -lt "$end" ] || { fp_dump_log "$log"; fp_fail "$mnt not mounted after 10 s"; }
    sleep 0.05
  done
  FP_CONNS[i]=$conn FP_CONN=$conn
  echo "$conn $mnt" >> "$FP_TMP/.conns"
  timeout 10 stat -f "$mnt" >/dev/null || { fp_dump_log "$log"; fp_fail "$mnt does not answer statfs"; }
  fp_log "$name: mounted $mnt (pid $pid, conn $conn)"
}

fpx_mount() {
  local mnt=$1 cmd=$2
  shift 2
  fpx__start fuseproxy "$mnt" "$FUSEPROXY" "$@" --backend "$cmd" "$mnt"
}

fpx_mount_standalone() {
  local mnt=$1
  shift
  fpx__start "$(basename "$1")" "$mnt" "$@"
}

# Waits up to SECS for every tagged process to be gone; prints the ones left.
fpx_wait_untagged() {
  local end=$((SECONDS + $1)) left
  while left=$(fpx_tagged_pids) && [ -n "$left" ]; do
    [ "$SECONDS" -lt "$end" ] || { echo "$left"; return 1; }
    sleep 0.05
  done
  return 0
}

fpx_teardown() {
  local rc=$1 left p
  fp_teardown "$rc"
  rc=$?
  if ! left=$(fpx_wait_untagged 5); then
    for p in $left; do
      fp_log "FAIL: leftover process $p: $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"
      kill -TERM "$p" 2>/dev/null
    done
    sleep 1
    for p in $left; do kill -KILL "$p" 2>/dev/null; done
    [ "$rc" != 0 ] || rc=1
  fi
  return "$rc"
}
trap 'fpx_teardown $?; exit $?' EXIT

# conformance.sh's fixture and tree description, taken from that script so the proxy
# tests always use exactly the same ones.
fpx_load_conformance_helpers() {
  local src=$FP_TESTS_DIR/conformance.sh f
  for f in make_fixture describe_tree content_diff; do
    eval "$(sed -n "/^$f() {/,/^}/p" "$src")"
    declare -F "$f" >/dev/null || fp_fail "cannot load $f() from $src"
  done
}

# fpx_expect_exit MNT SECS: waits up to SECS for the process that serves MNT to end on
# its own (crash, timeout); sets FP_STATUS; returns 1 if it is still running.
fpx_expect_exit() {
  local i
  i=$(fp__index_of_mnt "$1") || fp_fail "fpx_expect_exit: $1 was not mounted here"
  fp_wait_exit "${FP_PIDS[i]}" "$2" || return 1
  FP_DONE[i]=1
}

# How many times anyone ran "echo N > /proc/sys/vm/drop_caches" since boot.  Tests whose
# checks rely on what the kernel keeps cached compare it before and after: another test
# or a benchmark on the machine may drop the caches under them.
fpx_drop_count() {
  awk '$1 == "drop_pagecache" || $1 == "drop_slab" { s += $2 } END { print s + 0 }' /proc/vmstat
}
