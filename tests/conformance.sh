#!/usr/bin/env bash
# Description: runs tests/conformance natively on one copy of a fixture tree and through
# "fuseproxy --passthrough" on another copy; the printed results and the resulting trees
# (contents, types, modes, owners, link counts, xattrs) must be identical.
#
#   conformance.sh root [fuseproxy args...]   as root, plain mount
#   conformance.sh user [fuseproxy args...]   as uid/gid 65534 with
#                                             -o allow_other,default_permissions
# Env: FUSEPROXY, CONFORMANCE (the compiled tests/conformance.c).
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-300}
. "$(dirname "$0")/lib.sh"
fp_require_cmd getfattr setfattr setfacl diff

mode=${1:-root}
shift || true
[ -x "${CONFORMANCE:-}" ] || fp_skip "CONFORMANCE (compiled conformance.c) not set"
case "$mode" in
  root) as=() mount_args=("$@") ;;
  user) as=(--as-uid 65534:65534) mount_args=(-o allow_other,default_permissions "$@") ;;
  *) fp_fail "usage: conformance.sh root|user [fuseproxy args...]" ;;
esac
FP_NAME="conformance-$mode"
# The writeback cache legitimately delays block allocation (see conformance.c).
case " ${mount_args[*]-} " in *writeback*) as=(--ignore-blocks "${as[@]}") ;; esac

# The fixture: one of everything the walk and the permission checks look at.
make_fixture() {
  local f=$1/fixture
  mkdir -p "$f"
  printf 'small text\n' > "$f/small.txt"
  head -c 3000000 /dev/urandom > "$f/big.bin"
  : > "$f/empty"
  mkdir -p "$f/tree/a/b/c" "$f/tree/empty-dir"
  echo deep > "$f/tree/a/b/c/deep.txt"
  ln -s small.txt "$f/link-to-small"
  ln -s /nonexistent/target "$f/dangling"
  ln -s tree/a "$f/link-to-dir"
  ln "$f/big.bin" "$f/hardlink-big"
  mkfifo "$f/fifo"
  mknod "$f/chrdev" c 1 3
  truncate -s 10M "$f/sparse"
  printf 'in the middle' | dd of="$f/sparse" bs=1 seek=5000000 conv=notrunc status=none
  printf '#!/bin/sh\necho hi\n' > "$f/script.sh"
  chmod 0755 "$f/script.sh"
  setfattr -n user.fixture -v fixval "$f/small.txt"
  setfattr -n user.binary -v 0x00ff10 "$f/small.txt"
  setfattr -n trusted.fixture -v t "$f/small.txt"
  setfattr -n user.dir -v d "$f/tree"
  echo acl > "$f/acl-file"
  setfacl -m u:1234:rw,g:5678:r "$f/acl-file"
  mkdir "$f/acl-dir"
  setfacl -d -m u:1234:rwx "$f/acl-dir"
  echo owned > "$f/owned"
  chown 1234:5678 "$f/owned"
  echo setuid > "$f/setuid"
  chmod 04755 "$f/setuid"
  # permission targets (root-owned): t_perms() in conformance.c
  echo secret > "$f/secret"
  chmod 0000 "$f/secret"
  mkdir "$f/ro-dir"
  echo file > "$f/ro-dir/file"
  chmod 0555 "$f/ro-dir"
  mkdir "$f/sticky"
  chmod 1777 "$f/sticky"
  echo root > "$f/sticky/rootfile"
  echo rootfile > "$f/rootfile"
  setfattr -n user.fixture -v root "$f/rootfile"
  mkdir "$f/noexec-dir"
  echo x > "$f/noexec-dir/file"
  chmod 0600 "$f/noexec-dir"
  chmod 0755 "$f"
}

# A normalized description of a tree: one line per entry (no times, inodes, dir sizes),
# contents by checksum, and every xattr.
describe_tree() {
  (
    cd "$1"
    find . -printf '%y %m %U %G %n %s %l %p\n' |
      awk '$1 == "d" { $6 = "-" } { print }' | sort -k8
    find . -type f -print0 | sort -z | xargs -0 -r md5sum
    { getfattr -R -P -d -m - -e hex . 2>/dev/null || true; } |
      awk '/^# file: / { f = substr($0, 9); next } NF { print f ": " $0 }' | sort
  )
}

# diff -r would report same-type special files as differences; only real ones remain.
content_diff() {
  diff -r --no-dereference "$1" "$2" |
    grep -Ev '^File .* is a (fifo|character special file|socket) while file .* is a (fifo|character special file|socket)$' ||
    true
}

base=$FP_TMP/base
mkdir "$base"
make_fixture "$base"
for copy in A A2 B; do
  cp -a "$base" "$FP_TMP/$copy"
  [ "$mode" = user ] && chown 65534:65534 "$FP_TMP/$copy"
done
[ "$(describe_tree "$FP_TMP/A")" = "$(describe_tree "$FP_TMP/B")" ] ||
  fp_fail "harness: cp -a did not produce identical copies"

run_conformance() {
  local dir=$1 out=$2 rc=0
  "$CONFORMANCE" "${as[@]}" "$dir" > "$out" 2> "$out.err" || rc=$?
  if [ "$rc" != 0 ]; then
    cat "$out.err" >&2
    fp_fail "conformance exited with $rc on $dir"
  fi
}

run_conformance "$FP_TMP/A" "$FP_TMP/A.out"
run_conformance "$FP_TMP/A2" "$FP_TMP/A2.out"
if ! diff -u "$FP_TMP/A.out" "$FP_TMP/A2.out" > "$FP_TMP/native.diff"; then
  head -n 100 "$FP_TMP/native.diff" >&2
  fp_fail "harness: two native runs differ; conformance.c is not deterministic"
fi
fp_log "native run: $(wc -l < "$FP_TMP/A.out") lines, deterministic"

mnt=$FP_TMP/mnt
fp_mount "$FP_TMP/B" "$mnt" "${mount_args[@]}"
run_conformance "$mnt" "$FP_TMP/B.out"
fp_stop "$mnt" umount || fp_fail "fuseproxy did not stop cleanly after the run"
[ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy exited with $FP_STATUS"

failed=0
if ! diff -u --label native --label "through fuseproxy" "$FP_TMP/A.out" "$FP_TMP/B.out" > "$FP_TMP/out.diff"; then
  echo "==== conformance output differs (native vs through fuseproxy):" >&2
  head -n 300 "$FP_TMP/out.diff" >&2
  failed=1
fi
describe_tree "$FP_TMP/A" > "$FP_TMP/A.tree"
describe_tree "$FP_TMP/B" > "$FP_TMP/B.tree"
if ! diff -u --label native --label "through fuseproxy" "$FP_TMP/A.tree" "$FP_TMP/B.tree" > "$FP_TMP/tree.diff"; then
  echo "==== resulting trees differ (types/modes/owners/links/xattrs/checksums):" >&2
  head -n 200 "$FP_TMP/tree.diff" >&2
  failed=1
fi
cdiff=$(content_diff "$FP_TMP/A" "$FP_TMP/B")
if [ -n "$cdiff" ]; then
  echo "==== diff -r of the resulting trees:" >&2
  echo "$cdiff" | head -n 100 >&2
  failed=1
fi
if [ -n "${FP_ARTIFACTS:-}" ]; then
  mkdir -p "$FP_ARTIFACTS"
  cp "$FP_TMP"/*.out "$FP_TMP"/*.diff "$FP_TMP"/*.tree "$FP_ARTIFACTS/" 2>/dev/null || true
fi
[ "$failed" = 0 ] || fp_fail "$mode: through-mount behaviour differs from native ($(grep -c '^[-+][^-+]' "$FP_TMP/out.diff" || true) output lines)"
fp_log "PASS: $(wc -l < "$FP_TMP/B.out") operations identical, trees identical"
