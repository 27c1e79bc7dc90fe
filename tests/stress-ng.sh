#!/usr/bin/env bash
# Description: stress-ng filesystem stressors through the mount, with --verify where the
# stressor supports it, in three concurrent groups (data, namespace, locks) of about
# 15 s each. Any stressor failure, a non-zero exit or a mount that no longer answers
# fails the test. Every stressor here passes on the local fs (checked on ext4).
# FP_SLOW=1: 5 minutes per group.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-570}
. "$(dirname "$0")/lib.sh"
fp_require_cmd stress-ng

secs=${FP_STRESS_SECS:-15}
[ -z "${FP_SLOW:-}" ] || secs=300
src=$FP_TMP/src mnt=$FP_TMP/mnt
mkdir "$src"
echo "still here" > "$src/canary"
fp_mount "$src" "$mnt"

data=(--hdd 2 --hdd-bytes 64M --hdd-opts wr-rnd,rd-rnd,fsync
      --seek 1 --seek-size 16M --fallocate 1 --fallocate-bytes 16M --fpunch 1
      --sync-file 1 --sync-file-bytes 16M --copy-file 1 --copy-file-bytes 128M
      --readahead 1 --readahead-bytes 16M --aio 1 --aiol 1 --iomix 1 --iomix-bytes 16M
      --mmap 1 --mmap-file --mmap-bytes 16M --sendfile 1 --splice 1 --fsize 1)
names=(--dir 1 --dentry 1 --link 1 --symlink 1 --rename 1 --filename 1 --chmod 1
       --chown 1 --utime 1 --mknod 1 --dirdeep 1 --dirdeep-dirs 1 --fstat 1 --open 1
       --xattr 1)
locks=(--lockf 1 --flock 1 --fcntl 1 --locka 1 --lockofd 1 --lease 1)

run_group() {
  local name=$1 rc=0 t0=$SECONDS
  shift
  mkdir -p "$mnt/$name"
  stress-ng --temp-path "$mnt/$name" --timeout "${secs}s" --verify --metrics-brief \
    "$@" > "$FP_TMP/stress-$name.log" 2>&1 || rc=$?
  if [ "$rc" != 0 ] || grep -Eq ' (fail|error):' "$FP_TMP/stress-$name.log"; then
    { grep -Ev ' info: ' "$FP_TMP/stress-$name.log" || true; } | head -n 60 >&2
    fp_fail "stress-ng group $name failed (status $rc)"
  fi
  ls "$mnt" >/dev/null || fp_fail "ls after $name failed"
  [ "$(cat "$mnt/canary")" = "still here" ] || fp_fail "read after $name failed"
  fp_log "stress-ng $name: ok in $((SECONDS - t0)) s"
  rm -rf "${mnt:?}/$name"
}

run_group data "${data[@]}"
run_group names "${names[@]}"
run_group locks "${locks[@]}"
fp_log "PASS"
