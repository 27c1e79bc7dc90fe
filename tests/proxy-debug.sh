#!/usr/bin/env bash
# Description: "fuseproxy -d --backend" shows both sides of every exchange: each request
# line carries the backend's reply ("-> ...") and the time the backend took
# ("[backend Nus]"), once: a LOOKUP that finds a node (-> node=), one that fails (-> -ENOENT),
# CREATE, WRITE, READ (-> N bytes), GETATTR, MKDIR, INIT (both versions); requests
# without a reply (FORGET) say they were forwarded; a malformed reply (badfs) shows the
# EIO the kernel got.
# Env: FUSEPROXY, MEMFS, BADFS.
set -euo pipefail
FP_TIMEOUT=${FP_TIMEOUT:-90}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemons/proxy-lib.sh"
fpx_require MEMFS BADFS

failed=0
# expect LOG LABEL REGEX
expect() {
  if grep -qE "$3" "$1"; then
    fp_log "ok: $2: $(grep -E "$3" "$1" | head -n 1 | cut -c1-160)"
  else
    fp_log "FAIL: $2: no line matching '$3'"
    failed=1
  fi
}

t='^\[ *[0-9]+\.[0-9]+\] '	# the timestamp each -d line starts with
back='\[backend [0-9]+us\] \([0-9]+us\)$'

m=$FP_TMP/memfs
fpx_mount "$m" "$MEMFS -f --timeout=0" -d	# no caching: stat asks the backend
log=$FPX_LOG
echo hello > "$m/file"
mkdir "$m/dir"
echo 2 > /proc/sys/vm/drop_caches	# forget: the next stat must LOOKUP
sleep 0.3
stat "$m/file" > /dev/null
cat "$m/file" > /dev/null
stat "$m/missing" 2>/dev/null || true
fp_stop "$m" TERM || fp_fail "fuseproxy did not stop on SIGTERM"
[ "$FP_STATUS" = 0 ] || fp_fail "fuseproxy exited with $FP_STATUS"

expect "$log" "INIT: kernel's offer and the answer" "${t}INIT #[0-9]+ 7\.[0-9]+ flags=.* -> 7\.[0-9]+ flags=.* max_write="
expect "$log" "LOOKUP that finds a node" "${t}LOOKUP #[0-9]+ node=1 \"file\" .* -> node=[0-9]+ .*$back"
expect "$log" "LOOKUP that fails" "${t}LOOKUP #[0-9]+ node=1 \"missing\" .* -> -ENOENT $back"
expect "$log" "CREATE" "${t}CREATE #[0-9]+ node=1 \"file\" .* -> node=[0-9]+ .*fh=[0-9]+ $back"
expect "$log" "WRITE" "${t}WRITE #[0-9]+ node=[0-9]+ fh=[0-9]+ off=0 size=6 .* -> 6 bytes $back"
expect "$log" "READ" "${t}READ #[0-9]+ node=[0-9]+ fh=[0-9]+ off=0 size=[0-9]+ .* -> 6 bytes $back"
expect "$log" "MKDIR" "${t}MKDIR #[0-9]+ node=1 \"dir\" .* -> node=[0-9]+ .*$back"
expect "$log" "GETATTR" "${t}GETATTR #[0-9]+ node=[0-9]+ .* -> attr mode=[0-7]+ .*$back"
expect "$log" "FORGET forwarded" "${t}(BATCH_)?FORGET #[0-9]+ .* -> \(no reply\)"

# every request that has a reply shows the reply and the backend's time
unpaired=$(grep -E "$t[A-Z_]+ #" "$log" |
  grep -vE "^\[ *[0-9.]+\] (INIT|FORGET|BATCH_FORGET|INTERRUPT|NOTIFY_REPLY) " |
  grep -vE -- "-> .*$back" || true)
if [ -n "$unpaired" ]; then
  fp_log "FAIL: request lines without a reply or backend time:"
  echo "$unpaired" | head -n 20 >&2
  failed=1
else
  fp_log "ok: all $(grep -cE "$t[A-Z_]+ #" "$log") request lines show a reply"
fi

# one line per request: no unique shows up twice
twice=$(grep -oE "$t[A-Z_]+ #[0-9]+ " "$log" | sed -E 's/^\[[^]]*\] //' | sort | uniq -d)
if [ -n "$twice" ]; then
  fp_log "FAIL: requests logged more than once: $(echo $twice | head -c 200)"
  failed=1
else
  fp_log "ok: every request logged once"
fi

# a malformed reply: the line shows what the kernel got
m=$FP_TMP/badfs
fpx_mount "$m" "$BADFS -f" -d
log=$FPX_LOG
cat "$m/bad-length" 2>/dev/null && fp_fail "bad-length opened"
fp_stop "$m" TERM || fp_fail "fuseproxy did not stop on SIGTERM"
expect "$log" "malformed reply shown as EIO" "${t}OPEN #[0-9]+ node=[0-9]+ .* -> -EIO $back"

[ "$failed" = 0 ] || { fp_dump_log "${FP_LOGS[0]}"; fp_fail "-d does not show both sides"; }
fp_log "PASS"
