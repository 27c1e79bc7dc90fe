#!/usr/bin/env bash
# Description: READ replies that a daemon splice()s into its socket arrive in pieces
# (the kernel sends 16 pipe buffers per message into a SEQPACKET socket); fuseproxy
# joins them.  fuse-overlayfs asks libfuse for FUSE_CAP_SPLICE_WRITE whatever the
# kernel offers, so large reads through it are spliced: concurrent buffered readers
# and 1 MiB O_DIRECT reads must see exactly the bytes on disk, with no EIO.
# Env: FUSEPROXY.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-170}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
fp_require_cmd fuse-overlayfs md5sum dd cmp

d=$FP_TMP
mkdir -p "$d/lower" "$d/upper" "$d/work"
head -c 48M /dev/urandom > "$d/upper/big"
want=$(md5sum < "$d/upper/big")

fpx_mount "$d/mnt" "fuse-overlayfs -f -o lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work"

pids=
for i in 1 2 3; do
  md5sum < "$d/mnt/big" > "$d/sum.$i" &
  pids="$pids $!"
done
# not a bare wait: fuseproxy is a background job of this script too
for p in $pids; do wait "$p" || fp_fail "a concurrent reader failed"; done
for i in 1 2 3; do
  [ "$(cat "$d/sum.$i")" = "$want" ] || fp_fail "concurrent reader $i saw other bytes"
done
fp_log "3 concurrent buffered readers: identical to the file on disk"

dd if="$d/mnt/big" of="$d/direct" bs=1M iflag=direct status=none ||
  fp_fail "1 MiB O_DIRECT reads failed"
cmp "$d/direct" "$d/upper/big" || fp_fail "1 MiB O_DIRECT reads returned other bytes"
fp_log "1 MiB O_DIRECT reads: identical"

if grep -q "malformed\|spliced" "$FPX_LOG"; then
  fp_dump_log "$FPX_LOG"
  fp_fail "fuseproxy reported broken replies"
fi
fp_log "PASS"
