# shellcheck shell=bash
# tests/record-lib.sh: helpers of the recording tests (tests/record-*.sh), sourced after
# tests/lib.sh and tests/daemons/proxy-lib.sh.
#
#   rec_require                 skip unless TRACE_DUMP (tests/trace-dump.c) and sqlite3
#   rec_dlog LOG > OUT          the exchanges of a -d log: "unique OPNAME" per line,
#                               sorted by unique (both the passthrough's and the
#                               forwarder's lines: "[  t] OPNAME #unique ..."),
#                               without NOTIFY_REPLY (a notification in the trace)
#   rec_sq DB SQL               sqlite3 -batch, '|' separated, with a busy timeout
#   rec_dump [-k] FILE > OUT    trace-dump of FILE (our reader), X lines only
#   rec_exchanges DUMP > OUT    "unique OPNAME" of a dump, sorted by unique
#   rec_missing A B             lines of file A that file B does not have (any order)
#   rec_dups FILE               uniques that occur more than once in a "unique ..." file
#   rec_order_violations DUMP   X lines whose timestamps are not
#                               t_read <= t_sent <= t_reply <= t_written (absent ones
#                               skipped) or that lack t_read, or t_written with a reply
#   rec_same LABEL A B          diff two files; logs and returns 1 when they differ
#   rec_status MNT              fuseproxy status MNT, bounded by a timeout

rec_require() {
  fp_require_cmd sqlite3
  fpx_require TRACE_DUMP
}

rec_dlog() {
  # NOTIFY_REPLY is recorded as a notification, not an exchange
  sed -n 's/^\[ *[0-9][0-9]*\.[0-9]*\] \([A-Z][A-Z0-9_]*\) #\([0-9][0-9]*\) .*/\2 \1/p' "$1" |
    grep -v ' NOTIFY_REPLY$' | sort -n -k1,1 -k2
}

rec_sq() {
  sqlite3 -batch -cmd '.timeout 5000' "$1" "$2"
}

rec_dump() {
  local flags=()
  [ "$1" = -k ] && { flags=(-k); shift; }
  "$TRACE_DUMP" "${flags[@]}" "$1" | grep '^X ' || true
}

rec_exchanges() {
  awk '{ print $2, $3 }' "$1" | sort -n -k1,1 -k2
}

rec_missing() {
  awk 'NR == FNR { have[$0] = 1; next } !($0 in have)' "$2" "$1"
}

rec_dups() {
  awk '{ print $1 }' "$1" | sort | uniq -d
}

rec_order_violations() {
  awk '
    {
      # X unique opname opcode req_len reply_len t_read t_sent t_reply t_written ...
      why = ""
      if ($7 == "-") why = "no t_read"
      else if ($6 != "-" && $10 == "-") why = "reply without t_written"
      last = $7
      for (i = 8; why == "" && i <= 10; i++) {
        if ($i == "-") continue
        # equal-length decimal strings compare like the numbers, with no float
        # rounding of ns values
        a = sprintf("%20s", last); b = sprintf("%20s", $i)
        if (b < a) why = "timestamp " i - 6 " of 4 before the one preceding it"
        last = $i
      }
      if (why != "") print why ": " $0
    }' "$1"
}

rec_same() {
  if diff -u --label "$2" --label "$3" "$2" "$3" > "$FP_TMP/rec_same.diff"; then
    return 0
  fi
  echo "==== $1 differ (- $2, + $3):" >&2
  head -n 40 "$FP_TMP/rec_same.diff" >&2
  fp_log "FAIL: $1 differ ($(grep -c '^[-+][^-+]' "$FP_TMP/rec_same.diff") lines)"
  return 1
}

rec_status() {
  timeout 10 "$FUSEPROXY" status "$1"
}
