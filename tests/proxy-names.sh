#!/usr/bin/env bash
# Description: long names reach the backend and get its answer.  The kernel (6.18, FUSE
# 7.45) sends names of up to PATH_MAX-1 bytes in LOOKUP, MKNOD/CREATE, MKDIR, ... and
# leaves the verdict to the daemon; memfs refuses more than 255 with ENAMETOOLONG.  For
# names of 255, 256, 1024, 1025, 2000 and 4095 bytes, stat, create and mkdir must fail or
# succeed with the same errno behind fuseproxy as with memfs mounted on its own.
# Env: FUSEPROXY, MEMFS.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-90}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
fpx_require MEMFS
export LC_ALL=C

# probe MNT: one line per operation and name length, with the error text
probe() {
  local m=$1 len name r
  for len in 255 256 1024 1025 2000 4095; do
    name=$(head -c "$len" /dev/zero | tr '\0' n)
    r=$( { stat "$m/$name" >/dev/null; } 2>&1 | sed 's/.*: //') || true
    echo "stat $len: ${r:-ok}"
    r=$( { : > "$m/$name"; } 2>&1 | sed 's/.*: //') || true
    echo "create $len: ${r:-ok}"
    r=$( { mkdir "$m/d$name"; } 2>&1 | sed 's/.*: //') || true
    echo "mkdir $len: ${r:-ok}"
  done
}

a=$FP_TMP/alone b=$FP_TMP/proxied
fpx_mount_standalone "$a" "$MEMFS" -f "$a"
fpx_mount "$b" "$MEMFS -f"
probe "$a" > "$FP_TMP/alone.out"
probe "$b" > "$FP_TMP/proxied.out"
for m in "$a" "$b"; do
  fp_stop "$m" umount || fp_fail "$m did not stop cleanly"
done
if ! diff -u --label "memfs on its own" --label "memfs behind fuseproxy" \
     "$FP_TMP/alone.out" "$FP_TMP/proxied.out" >&2; then
  fp_dump_log "${FP_LOGS[1]}"
  fp_fail "long names are answered differently behind fuseproxy"
fi
grep -q "File name too long" "$FP_TMP/alone.out" || fp_fail "memfs accepted every name: the probe proves nothing"
fp_log "PASS: $(wc -l < "$FP_TMP/alone.out") operations answered alike"
