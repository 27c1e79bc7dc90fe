#!/usr/bin/env bash
# Description: daemons behind "fuseproxy --backend" behave exactly as when they are
# mounted on their own.  Each daemon is mounted twice, once on its own and once behind
# fuseproxy, and the same work runs on both; the outputs and resulting trees must be
# identical:
#   memfs (tests/daemons)  tests/conformance on conformance.sh's fixture, then the trees
#                          (describe_tree: types, modes, owners, links, xattrs, sums)
#                          and diff -r between the two mounts
#   fuse-overlayfs         one lower dir (the fixture) + an upper dir each: conformance,
#                          the merged trees, and after unmounting the upper dirs
#                          (copy-ups, whiteouts)
#   squashfuse(_ll)        an image of the fixture made here with mksquashfs: ls -lR,
#                          checksums, the conformance walk (read-only)
# Env: FUSEPROXY, MEMFS, CONFORMANCE.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-360}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
fp_require_cmd getfattr setfattr setfacl diff md5sum
fpx_require CONFORMANCE
fpx_load_conformance_helpers

failed=0
ran=0

# compare LABEL FILE_ALONE FILE_PROXIED
compare() {
  if diff -u --label "$1 on its own" --label "$1 behind fuseproxy" "$2" "$3" > "$FP_TMP/last.diff"; then
    fp_log "$1: identical ($(wc -l < "$2") lines)"
  else
    echo "==== $1 differs:" >&2
    head -n 200 "$FP_TMP/last.diff" >&2
    fp_log "FAIL: $1 differs"
    failed=1
  fi
}

# run_conformance DIR OUT: conformance exits 2 when it cannot make its work directory
# (read-only mounts); the walk before that is still worth comparing.
run_conformance() {
  local rc=0
  timeout 200 "$CONFORMANCE" "$1" > "$2" 2> "$2.err" || rc=$?
  case "$rc" in
    0|2) ;;
    *) cat "$2.err" >&2; fp_fail "conformance exited with $rc on $1" ;;
  esac
}

# stop_pair MNT_ALONE MNT_PROXIED: both must unmount and exit 0.
stop_pair() {
  local m
  for m in "$@"; do
    fp_stop "$m" umount || fp_fail "$m did not stop cleanly"
    [ "$FP_STATUS" = 0 ] || fp_fail "the daemon of $m exited with $FP_STATUS after umount"
  done
}

base=$FP_TMP/base
mkdir "$base"
make_fixture "$base"

# ---- memfs --------------------------------------------------------------------------
if [ -n "${MEMFS:-}" ] && [ -x "$MEMFS" ]; then
  ran=$((ran + 1))
  a=$FP_TMP/memfs-alone b=$FP_TMP/memfs-proxied
  # attribute timeout 0: what stat shows must not depend on how fast each run is
  fpx_mount_standalone "$a" "$MEMFS" -f --timeout=0 "$a"
  fpx_mount "$b" "$MEMFS -f --timeout=0"
  cp -a "$base/fixture" "$a/"
  cp -a "$base/fixture" "$b/"
  run_conformance "$a" "$FP_TMP/memfs-alone.out"
  run_conformance "$b" "$FP_TMP/memfs-proxied.out"
  compare "memfs: conformance output" "$FP_TMP/memfs-alone.out" "$FP_TMP/memfs-proxied.out"
  describe_tree "$a" > "$FP_TMP/memfs-alone.tree"
  describe_tree "$b" > "$FP_TMP/memfs-proxied.tree"
  compare "memfs: resulting tree" "$FP_TMP/memfs-alone.tree" "$FP_TMP/memfs-proxied.tree"
  cdiff=$(content_diff "$a" "$b")
  [ -z "$cdiff" ] || { echo "$cdiff" | head -n 50 >&2; fp_log "FAIL: memfs: diff -r differs"; failed=1; }
  stop_pair "$a" "$b"
else
  fp_log "memfs not built (libfuse3-dev missing?): skipping that part"
fi

# ---- fuse-overlayfs -----------------------------------------------------------------
if command -v fuse-overlayfs >/dev/null; then
  ran=$((ran + 1))
  lower=$FP_TMP/ovl-lower
  cp -a "$base" "$lower"
  for side in alone proxied; do
    mkdir -p "$FP_TMP/ovl-$side.upper" "$FP_TMP/ovl-$side.work"
  done
  ovl_opts() {
    echo "lowerdir=$lower,upperdir=$FP_TMP/ovl-$1.upper,workdir=$FP_TMP/ovl-$1.work"
  }
  a=$FP_TMP/ovl-alone b=$FP_TMP/ovl-proxied
  fpx_mount_standalone "$a" fuse-overlayfs -f -o "$(ovl_opts alone)" "$a"
  fpx_mount "$b" "fuse-overlayfs -f -o $(ovl_opts proxied)"
  run_conformance "$a" "$FP_TMP/ovl-alone.out"
  run_conformance "$b" "$FP_TMP/ovl-proxied.out"
  compare "fuse-overlayfs: conformance output" "$FP_TMP/ovl-alone.out" "$FP_TMP/ovl-proxied.out"
  describe_tree "$a" > "$FP_TMP/ovl-alone.tree"
  describe_tree "$b" > "$FP_TMP/ovl-proxied.tree"
  compare "fuse-overlayfs: merged tree" "$FP_TMP/ovl-alone.tree" "$FP_TMP/ovl-proxied.tree"
  stop_pair "$a" "$b"
  # what the daemon wrote to its upper dir: copy-ups, whiteouts, opaque dirs
  describe_tree "$FP_TMP/ovl-alone.upper" > "$FP_TMP/ovl-alone.uppertree"
  describe_tree "$FP_TMP/ovl-proxied.upper" > "$FP_TMP/ovl-proxied.uppertree"
  compare "fuse-overlayfs: upper dir" "$FP_TMP/ovl-alone.uppertree" "$FP_TMP/ovl-proxied.uppertree"
else
  fp_log "fuse-overlayfs not installed: skipping that part"
fi

# ---- squashfuse, squashfuse_ll --------------------------------------------------------
if command -v mksquashfs >/dev/null; then
  img=$FP_TMP/fixture.sqfs
  mksquashfs "$base" "$img" -noappend -quiet >"$FP_TMP/mksquashfs.log" 2>&1
  for sq in squashfuse squashfuse_ll; do
    command -v "$sq" >/dev/null || { fp_log "$sq not installed: skipping"; continue; }
    ran=$((ran + 1))
    a=$FP_TMP/$sq-alone b=$FP_TMP/$sq-proxied
    fpx_mount_standalone "$a" "$sq" -f "$img" "$a"
    fpx_mount "$b" "$sq -f $img"
    for side in alone proxied; do
      m=$FP_TMP/$sq-$side
      ( cd "$m" && ls -lRn --time-style=full-iso . ) > "$FP_TMP/$sq-$side.ls"
      ( cd "$m" && find . -type f -print0 | sort -z | xargs -0 md5sum ) > "$FP_TMP/$sq-$side.sums"
      run_conformance "$m" "$FP_TMP/$sq-$side.out"
    done
    compare "$sq: ls -lR" "$FP_TMP/$sq-alone.ls" "$FP_TMP/$sq-proxied.ls"
    compare "$sq: checksums" "$FP_TMP/$sq-alone.sums" "$FP_TMP/$sq-proxied.sums"
    compare "$sq: conformance walk" "$FP_TMP/$sq-alone.out" "$FP_TMP/$sq-proxied.out"
    # and the image really is the fixture
    ( cd "$base" && find . -type f -print0 | sort -z | xargs -0 md5sum ) > "$FP_TMP/base.sums"
    compare "$sq: checksums vs the source tree" "$FP_TMP/base.sums" "$FP_TMP/$sq-proxied.sums"
    stop_pair "$a" "$b"
  done
else
  fp_log "mksquashfs not installed: skipping squashfuse"
fi

[ "$ran" -gt 0 ] || fp_skip "none of memfs, fuse-overlayfs, squashfuse available"
[ "$failed" = 0 ] || fp_fail "some daemon behaves differently behind fuseproxy"
fp_log "PASS: $ran daemons identical on their own and behind fuseproxy"
