#!/usr/bin/env bash
# Description: fio with crc32c verification through the mount: psync, mmap, libaio with
# O_DIRECT, an fsync-heavy writer and two concurrent jobs. Every job writes its file and
# then reads it back checking every block. Afterwards the mount must still answer
# (ls + a read). FP_SLOW=1: 1 GiB per job plus a 5-minute mixed random workload.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-570}
. "$(dirname "$0")/lib.sh"
fp_require_cmd fio

size=${FP_FIO_SIZE:-128M}     # scripts/test uses less in the (slower) ASan run
[ -z "${FP_SLOW:-}" ] || size=1G
src=$FP_TMP/src mnt=$FP_TMP/mnt
mkdir "$src"
echo "still here" > "$src/canary"
fp_mount "$src" "$mnt"
cd "$FP_TMP"   # fio leaves verify state files in the working directory

# run_fio NAME fio-args...: one job in its own directory. Pass 1 writes and verifies
# (mostly from the page cache); pass 2 (--verify_only) drops the file's cached pages
# (fio's default invalidate=1) and reads everything back through the daemon.
run_fio() {
  local name=$1 t0 pass rc
  shift
  mkdir -p "$mnt/$name"
  t0=$SECONDS
  for pass in write verify; do
    rc=0
    fio --name="$name" --directory="$mnt/$name" --size="$size" \
        --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
        $([ "$pass" = write ] && echo --verify_backlog=1024 || echo --verify_only) \
        --output="$FP_TMP/fio-$name-$pass.out" "$@" || rc=$?
    if [ "$rc" != 0 ] || grep -q 'verify: bad' "$FP_TMP/fio-$name-$pass.out"; then
      head -n 60 "$FP_TMP/fio-$name-$pass.out" >&2
      fp_fail "fio $name ($pass pass) failed (status $rc)"
    fi
    # FP_INJECT=corrupt (harness self-test): damage the data behind the daemon's back
    if [ "$pass" = write ] && [ "${FP_INJECT:-}" = corrupt ]; then
      f=$(find "$src/$name" -type f | head -n 1)
      printf 'CORRUPT' | dd of="$f" bs=1 seek=12345 conv=notrunc status=none
    fi
  done
  # the mount must still answer after each job
  ls "$mnt/$name" >/dev/null || fp_fail "ls after $name failed"
  [ "$(cat "$mnt/canary")" = "still here" ] || fp_fail "read after $name failed"
  fp_log "fio $name: ok in $((SECONDS - t0)) s ($(grep -Eho '(READ|WRITE): bw=[^ ]+' "$FP_TMP/fio-$name-"*.out | tr '\n' ' '))"
  rm -rf "${mnt:?}/$name"
}

run_fio psync  --ioengine=psync --rw=randwrite --bs=4k
run_fio seq    --ioengine=psync --rw=write --bs=1M
run_fio mmap   --ioengine=mmap --rw=randwrite --bs=4k
run_fio libaio-direct --ioengine=libaio --direct=1 --iodepth=16 --rw=randwrite --bs=4k
run_fio fsync  --ioengine=psync --rw=randwrite --bs=4k --fsync=8 --size=16M
run_fio two-jobs --ioengine=psync --rw=randwrite --bs=16k --numjobs=2 --size=64M
if [ -n "${FP_SLOW:-}" ]; then
  run_fio soak-randrw --ioengine=libaio --iodepth=8 --rw=randrw --bs=4k --numjobs=2 \
    --time_based --runtime=300
fi
# through the passthrough the removals must reach the source (fuse-overlayfs keeps
# emptied upper directories of its own, on its own as behind fuseproxy)
if [ "${FP_MOUNT_MODE:-passthrough}" = passthrough ]; then
  [ -z "$(ls -A "$src" | grep -v canary)" ] || fp_fail "leftovers in source: $(ls "$src")"
fi
fp_log "PASS"
