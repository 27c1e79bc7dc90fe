#!/bin/sh
# Description: the Wireshark dissector (contrib/wireshark/fuse.lua) against
# the sqlite trace of the same run.  test_trace_sample writes both files;
# tshark decodes the pcap with the dissector and the per-opcode request
# counts, reply and error counts, LOOKUP names, latencies, request/reply
# matching, notifications and events must equal what sqlite says.  Also
# decodes snaplen-cut traces without a Lua error.  Exit 77 (skip) without
# tshark or sqlite3.
#
#   test_trace_tshark.sh SAMPLE_PROGRAM FUSE_LUA
set -eu

SAMPLE=$1
LUA=$2
command -v tshark >/dev/null 2>&1 || { echo "tshark not installed: skip"; exit 77; }
command -v sqlite3 >/dev/null 2>&1 || { echo "sqlite3 not installed: skip"; exit 77; }

# Does the dissector load?  A Lua error fails the test; Lua being switched
# off (e.g. for root, see run_user_scripts_when_superuser in init.lua) skips.
loaderr=$(tshark -G fields -X "lua_script:$LUA" 2>&1 >/dev/null | grep -i 'lua' || true)
if [ -n "$loaderr" ]; then
	echo "FAIL the dissector does not load: $loaderr"
	exit 1
fi
if ! tshark -G fields -X "lua_script:$LUA" 2>/dev/null | grep -q "	fuse\.opcode	"; then
	echo "tshark runs no Lua scripts here (Lua disabled, or disabled for root): skip"
	exit 77
fi

dir=$(mktemp -d /tmp/test_trace_tshark.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
export LC_ALL=C

fail=0
ts() {   # tshark with the dissector; its "running as root" note goes away
	timeout 120 tshark -X "lua_script:$LUA" -r "$dir/t.pcap" "$@" 2>"$dir/tshark.err"
}
sq() {
	sqlite3 -batch "$dir/t.db" "$1"
}
same() { # name, expected, got
	if [ "$2" = "$3" ]; then
		echo "ok   $1: $3"
	else
		echo "FAIL $1: sqlite says '$2', tshark says '$3'"
		fail=1
	fi
}

timeout 60 "$SAMPLE" "$dir/t.db" "$dir/t.pcap"

# per-opcode request counts
ts -Y 'fuseproxy.type == 1' -T fields -e fuse.opcode | sort -n | uniq -c |
	awk '{ print $2 "|" $1 }' >"$dir/tshark-ops.txt"
sq "SELECT op, count(*) FROM requests GROUP BY op ORDER BY op" >"$dir/sqlite-ops.txt"
if diff -u "$dir/sqlite-ops.txt" "$dir/tshark-ops.txt"; then
	echo "ok   per-opcode counts: $(wc -l <"$dir/sqlite-ops.txt") opcodes, $(sq 'SELECT count(*) FROM requests') requests"
else
	echo "FAIL per-opcode counts differ (above: - sqlite, + tshark)"
	fail=1
fi

# opcode names as the dissector prints them
names_t=$(ts -Y 'fuseproxy.type == 1' | sed -n 's/.* FUSE [0-9]* \([A-Z_0-9]*\) #.*/\1/p' | sort | uniq -c |
	awk '{ print $2 "=" $1 }' | tr '\n' ' ')
names_s=$(sq "SELECT opname || '=' || count(*) FROM requests_v GROUP BY opname ORDER BY opname" | tr '\n' ' ')
same "opcode names in the Info column" "$names_s" "$names_t"

same "replies" "$(sq 'SELECT count(*) FROM requests WHERE reply_len IS NOT NULL')" \
	"$(ts -Y 'fuseproxy.type == 2' | wc -l)"
same "error replies" "$(sq 'SELECT count(*) FROM requests WHERE reply_len IS NOT NULL AND error != 0')" \
	"$(ts -Y 'fuseproxy.type == 2 && fuse.error < 0' | wc -l)"
same "ENOENT replies" "$(sq "SELECT count(*) FROM requests_v WHERE errname = 'ENOENT'")" \
	"$(ts -Y 'fuse.error == -2' -T fields -e fuse.error | wc -l)"
same "replies matched to their request" "$(sq 'SELECT count(*) FROM requests WHERE reply_len IS NOT NULL')" \
	"$(ts -Y 'fuse.request_in' -T fields -e fuse.request_in | wc -l)"
same "LOOKUP names" "$(sq 'SELECT name FROM requests WHERE op = 1 ORDER BY name' | md5sum)" \
	"$(ts -Y 'fuseproxy.type == 1 && fuse.opcode == 1' -T fields -e fuse.name | sort | md5sum)"
same "READ/WRITE offset+size" \
	"$(sq 'SELECT op, offset, size FROM requests WHERE op IN (15, 16) ORDER BY op, offset, size' | md5sum)" \
	"$(ts -Y 'fuseproxy.type == 1 && (fuse.opcode == 15 || fuse.opcode == 16)' -T fields -E separator='|' \
		-e fuse.opcode -e fuse.offset -e fuse.size | sort -t'|' -k1,1n -k2,2n -k3,3n | md5sum)"
same "open(2) flags of CREATE" "$(sq 'SELECT count(*) FROM requests WHERE op = 35')" \
	"$(ts -Y 'fuse.open.flags_str == "O_WRONLY|O_CREAT|O_TRUNC"' | wc -l)"
same "SETATTR valid masks" "$(sq 'SELECT count(*) FROM requests WHERE op = 4')" \
	"$(ts -Y 'fuse.setattr.valid_str == "SIZE|FH"' | wc -l)"
same "entry replies' nodes" \
	"$(sq 'SELECT out_nodeid FROM requests WHERE out_nodeid IS NOT NULL ORDER BY 1' | md5sum)" \
	"$(ts -Y 'fuseproxy.type == 2' -T fields -e fuse.entry.nodeid | grep -v '^$' | sort -n | md5sum)"
same "summed latency of replied requests (ns)" \
	"$(sq 'SELECT sum(t_written - t_read) FROM requests WHERE reply_len IS NOT NULL')" \
	"$(ts -Y 'fuseproxy.type == 2' -T fields -e fuseproxy.latency | awk '{ s += $1 } END { print s }')"
same "notifications" "$(sq 'SELECT count(*) FROM notifications')" \
	"$(ts -Y 'fuseproxy.type == 3 && fuse.notify_code == 3' | wc -l)"
same "events" "$(sq 'SELECT count(*) FROM events')" "$(ts -Y 'fuseproxy.type == 4' | wc -l)"
same "pending requests" "$(sq 'SELECT count(*) FROM requests WHERE flags & 8')" \
	"$(ts -Y 'fuseproxy.flags.pending == 1' | wc -l)"

# the whole file, every field, and snaplen-cut variants: no Lua errors
for snap in all 0 5 100; do
	if [ "$snap" != all ]; then
		rm -f "$dir/t.db" "$dir/t.pcap"
		timeout 60 "$SAMPLE" "$dir/t.db" "$dir/t.pcap" "$snap"
	fi
	ts -V >"$dir/verbose.txt"
	n=$(grep -c 'Lua Error' "$dir/verbose.txt" || true)
	same "Lua errors decoding (snaplen $snap)" 0 "$n"
	if [ "$n" != 0 ]; then grep -m3 'Lua Error' "$dir/verbose.txt"; fi
	if grep -v 'Running as user' "$dir/tshark.err" | grep -q .; then
		echo "FAIL tshark said:"; cat "$dir/tshark.err"; fail=1
	fi
done

exit $fail
