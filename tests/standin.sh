#!/usr/bin/env bash
# Stand-in for `fuseproxy [opts] --passthrough SRC MNT`, used only to prove the
# mount-test harness before (or independently of) the real proxy:
#   FUSEPROXY=$PWD/tests/standin.sh meson test -C build --suite mount
# It maps the fuseproxy CLI onto another FUSE passthrough daemon that runs in
# the foreground and exits 0 on SIGTERM/SIGINT/umount, like fuseproxy does.
#   FP_STANDIN=bindfs (default)   bindfs, high-level libfuse, path based
#   FP_STANDIN=/path/passthrough_ll   libfuse's low-level example (inode fds)
set -euo pipefail

opts=() src= mnt= debug=
while [ $# -gt 0 ]; do
  case "$1" in
    -o) opts+=("$2"); shift 2 ;;
    -o*) opts+=("${1#-o}"); shift ;;
    -d|--debug) debug=1; shift ;;
    -v|--verbose) shift ;;
    -j|--threads) shift 2 ;;
    --passthrough) src=$2 mnt=$3; shift 3 ;;
    *) echo "standin: unsupported argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$src" ] && [ -n "$mnt" ] || { echo "standin: need --passthrough SRC MNT" >&2; exit 2; }
o=$(IFS=,; echo "${opts[*]-}")

case "${FP_STANDIN:-bindfs}" in
  bindfs)
    exec bindfs -f --no-allow-other ${debug:+-d} ${o:+-o "$o"} "$src" "$mnt" ;;
  */passthrough_ll)
    exec "$FP_STANDIN" -f ${debug:+-d} -o "source=$src${o:+,$o}" "$mnt" ;;
  *) echo "standin: unknown FP_STANDIN=$FP_STANDIN" >&2; exit 2 ;;
esac
