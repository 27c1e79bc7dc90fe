-- fuse.lua: Wireshark/tshark dissector for fuseproxy pcap traces.
--
--   tshark -X lua_script:contrib/wireshark/fuse.lua -r trace.pcap
--   tshark -X lua_script:contrib/wireshark/fuse.lua -r trace.pcap -V -Y 'fuse.opcode == 1'
--   wireshark -X lua_script:contrib/wireshark/fuse.lua trace.pcap
--   (or copy it to ~/.local/lib/wireshark/plugins/)
--
-- Records are LINKTYPE_USER0 (147): our pseudo-header, then one raw FUSE
-- message (doc/trace-format.md has the layout byte by byte).  Decoded here:
-- the pseudo-header, fuse_in_header / fuse_out_header, opcode and errno
-- names, the arguments of the common operations (names, open flags,
-- read/write offset and size, setattr's valid mask, entry and attr
-- replies, INIT), notifications, events; replies are matched to their
-- requests by unique (fuse.request_in / fuse.response_in) and show the
-- exchange latency from the pseudo-header's timestamps.
--
-- Every read is bounds-checked against the captured bytes: snaplen-cut
-- messages decode as far as they go and are marked [truncated].

local FPT_HDR_LEN = 88

local fptr = Proto("fuseproxy", "fuseproxy trace record")
local fuse = Proto("fuse", "FUSE")

-- ---- value -> name tables (from abi/opcodes.c and abi/names.c) -------------

local opcodes = {
	[1]="LOOKUP", [2]="FORGET", [3]="GETATTR", [4]="SETATTR", [5]="READLINK",
	[6]="SYMLINK", [8]="MKNOD", [9]="MKDIR", [10]="UNLINK", [11]="RMDIR",
	[12]="RENAME", [13]="LINK", [14]="OPEN", [15]="READ", [16]="WRITE",
	[17]="STATFS", [18]="RELEASE", [20]="FSYNC", [21]="SETXATTR", [22]="GETXATTR",
	[23]="LISTXATTR", [24]="REMOVEXATTR", [25]="FLUSH", [26]="INIT", [27]="OPENDIR",
	[28]="READDIR", [29]="RELEASEDIR", [30]="FSYNCDIR", [31]="GETLK", [32]="SETLK",
	[33]="SETLKW", [34]="ACCESS", [35]="CREATE", [36]="INTERRUPT", [37]="BMAP",
	[38]="DESTROY", [39]="IOCTL", [40]="POLL", [41]="NOTIFY_REPLY",
	[42]="BATCH_FORGET", [43]="FALLOCATE", [44]="READDIRPLUS", [45]="RENAME2",
	[46]="LSEEK", [47]="COPY_FILE_RANGE", [48]="SETUPMAPPING", [49]="REMOVEMAPPING",
	[50]="SYNCFS", [51]="TMPFILE", [52]="STATX", [53]="COPY_FILE_RANGE_64",
	[4096]="CUSE_INIT",
}

local notify_codes = {
	[1]="POLL", [2]="INVAL_INODE", [3]="INVAL_ENTRY", [4]="STORE", [5]="RETRIEVE",
	[6]="DELETE", [7]="RESEND", [8]="INC_EPOCH", [9]="PRUNE",
}

local errnos = {
	[1]="EPERM", [2]="ENOENT", [3]="ESRCH", [4]="EINTR", [5]="EIO", [6]="ENXIO",
	[7]="E2BIG", [8]="ENOEXEC", [9]="EBADF", [10]="ECHILD", [11]="EAGAIN",
	[12]="ENOMEM", [13]="EACCES", [14]="EFAULT", [15]="ENOTBLK", [16]="EBUSY",
	[17]="EEXIST", [18]="EXDEV", [19]="ENODEV", [20]="ENOTDIR", [21]="EISDIR",
	[22]="EINVAL", [23]="ENFILE", [24]="EMFILE", [25]="ENOTTY", [26]="ETXTBSY",
	[27]="EFBIG", [28]="ENOSPC", [29]="ESPIPE", [30]="EROFS", [31]="EMLINK",
	[32]="EPIPE", [33]="EDOM", [34]="ERANGE", [35]="EDEADLK", [36]="ENAMETOOLONG",
	[37]="ENOLCK", [38]="ENOSYS", [39]="ENOTEMPTY", [40]="ELOOP", [42]="ENOMSG",
	[43]="EIDRM", [60]="ENOSTR", [61]="ENODATA", [62]="ETIME", [63]="ENOSR",
	[67]="ENOLINK", [71]="EPROTO", [74]="EBADMSG", [75]="EOVERFLOW", [84]="EILSEQ",
	[87]="EUSERS", [88]="ENOTSOCK", [90]="EMSGSIZE", [95]="EOPNOTSUPP",
	[98]="EADDRINUSE", [100]="ENETDOWN", [101]="ENETUNREACH", [103]="ECONNABORTED",
	[104]="ECONNRESET", [105]="ENOBUFS", [106]="EISCONN", [107]="ENOTCONN",
	[108]="ESHUTDOWN", [110]="ETIMEDOUT", [111]="ECONNREFUSED", [113]="EHOSTUNREACH",
	[114]="EALREADY", [115]="EINPROGRESS", [116]="ESTALE", [117]="EUCLEAN",
	[121]="EREMOTEIO", [122]="EDQUOT", [123]="ENOMEDIUM", [124]="EMEDIUMTYPE",
	[125]="ECANCELED", [126]="ENOKEY", [127]="EKEYEXPIRED", [128]="EKEYREVOKED",
	[129]="EKEYREJECTED", [130]="EOWNERDEAD", [131]="ENOTRECOVERABLE",
	[132]="ERFKILL", [133]="EHWPOISON",
}
local neg_errnos = { [0]="OK" }
for k, v in pairs(errnos) do neg_errnos[-k] = v end

local rec_types = { [1]="request", [2]="reply", [3]="notify", [4]="event",
		    [5]="session", [6]="end" }
local dirs = { [0]="none", [1]="kernel->proxy", [2]="proxy->backend",
	       [3]="backend->proxy", [4]="proxy->kernel" }
local transports = { [0]="unknown", [1]="/dev/fuse", [2]="io_uring", [3]="backend" }
local event_kinds = { [0]="info", [1]="warning", [2]="error", [3]="backend_start",
		      [4]="backend_exit", [5]="backend_restart", [6]="drops" }
local session_tags = {
	[1]="format_version", [2]="start_wall_ns", [3]="start_mono_ns", [4]="argv",
	[5]="mountpoint", [6]="transport", [7]="backend", [8]="kernel", [9]="snaplen",
	[10]="filter", [11]="drop_policy", [12]="end_wall_ns", [13]="end_mono_ns",
	[14]="records", [15]="dropped", [16]="lost",
}
local text_tags = { [4]=true, [5]=true, [6]=true, [7]=true, [8]=true, [10]=true, [11]=true }

-- flag words: { {bit, name}, ... } in bit order
local fattr_bits = { {0x1,"MODE"}, {0x2,"UID"}, {0x4,"GID"}, {0x8,"SIZE"}, {0x10,"ATIME"},
	{0x20,"MTIME"}, {0x40,"FH"}, {0x80,"ATIME_NOW"}, {0x100,"MTIME_NOW"},
	{0x200,"LOCKOWNER"}, {0x400,"CTIME"}, {0x800,"KILL_SUIDGID"} }
local o_bits = { {0x40,"O_CREAT"}, {0x80,"O_EXCL"}, {0x100,"O_NOCTTY"}, {0x200,"O_TRUNC"},
	{0x400,"O_APPEND"}, {0x800,"O_NONBLOCK"}, {0x1000,"O_DSYNC"}, {0x2000,"O_ASYNC"},
	{0x4000,"O_DIRECT"}, {0x8000,"O_LARGEFILE"}, {0x10000,"O_DIRECTORY"},
	{0x20000,"O_NOFOLLOW"}, {0x40000,"O_NOATIME"}, {0x80000,"O_CLOEXEC"},
	{0x100000,"O_SYNC"}, {0x200000,"O_PATH"}, {0x400000,"O_TMPFILE"} }
local fopen_bits = { {0x1,"DIRECT_IO"}, {0x2,"KEEP_CACHE"}, {0x4,"NONSEEKABLE"},
	{0x8,"CACHE_DIR"}, {0x10,"STREAM"}, {0x20,"NOFLUSH"}, {0x40,"PARALLEL_DIRECT_WRITES"},
	{0x80,"PASSTHROUGH"} }
local init_bits = { {0x1,"ASYNC_READ"}, {0x2,"POSIX_LOCKS"}, {0x4,"FILE_OPS"},
	{0x8,"ATOMIC_O_TRUNC"}, {0x10,"EXPORT_SUPPORT"}, {0x20,"BIG_WRITES"},
	{0x40,"DONT_MASK"}, {0x80,"SPLICE_WRITE"}, {0x100,"SPLICE_MOVE"},
	{0x200,"SPLICE_READ"}, {0x400,"FLOCK_LOCKS"}, {0x800,"HAS_IOCTL_DIR"},
	{0x1000,"AUTO_INVAL_DATA"}, {0x2000,"DO_READDIRPLUS"}, {0x4000,"READDIRPLUS_AUTO"},
	{0x8000,"ASYNC_DIO"}, {0x10000,"WRITEBACK_CACHE"}, {0x20000,"NO_OPEN_SUPPORT"},
	{0x40000,"PARALLEL_DIROPS"}, {0x80000,"HANDLE_KILLPRIV"}, {0x100000,"POSIX_ACL"},
	{0x200000,"ABORT_ERROR"}, {0x400000,"MAX_PAGES"}, {0x800000,"CACHE_SYMLINKS"},
	{0x1000000,"NO_OPENDIR_SUPPORT"}, {0x2000000,"EXPLICIT_INVAL_DATA"},
	{0x4000000,"MAP_ALIGNMENT"}, {0x8000000,"SUBMOUNTS"}, {0x10000000,"HANDLE_KILLPRIV_V2"},
	{0x20000000,"SETXATTR_EXT"}, {0x40000000,"INIT_EXT"}, {0x80000000,"INIT_RESERVED"} }
local init_bits2 = { {0x1,"SECURITY_CTX"}, {0x2,"HAS_INODE_DAX"}, {0x4,"CREATE_SUPP_GROUP"},
	{0x8,"HAS_EXPIRE_ONLY"}, {0x10,"DIRECT_IO_ALLOW_MMAP"}, {0x20,"PASSTHROUGH"},
	{0x40,"NO_EXPORT_SUPPORT"}, {0x80,"HAS_RESEND"}, {0x100,"ALLOW_IDMAP"},
	{0x200,"OVER_IO_URING"}, {0x400,"REQUEST_TIMEOUT"} }
local trace_flag_bits = { {0x1,"INTERRUPTED"}, {0x2,"RESENT"}, {0x4,"NOREPLY"},
	{0x8,"PENDING"}, {0x10,"REQ_TRUNC"}, {0x20,"REPLY_TRUNC"}, {0x40,"INVALID"},
	{0x80,"BACKEND"} }

local function bits_str(v, tab)
	if v == 0 then return "0" end
	local out, rest = {}, v
	for _, b in ipairs(tab) do
		if bit.band(v, b[1]) ~= 0 then
			out[#out + 1] = b[2]
			rest = bit.band(rest, bit.bnot(b[1]))
		end
	end
	if rest ~= 0 then out[#out + 1] = string.format("0x%x", rest) end
	return table.concat(out, "|")
end

local function open_flags_str(v)
	local acc = ({ [0]="O_RDONLY", [1]="O_WRONLY", [2]="O_RDWR", [3]="O_ACCMODE" })[bit.band(v, 3)]
	local rest = bit.band(v, bit.bnot(3))
	if rest == 0 then return acc end
	return acc .. "|" .. bits_str(rest, o_bits)
end

-- ---- fields --------------------------------------------------------------------

local P = {
	magic     = ProtoField.string("fuseproxy.magic", "Magic"),
	version   = ProtoField.uint8("fuseproxy.version", "Version"),
	hdr_len   = ProtoField.uint8("fuseproxy.hdr_len", "Header length"),
	type      = ProtoField.uint8("fuseproxy.type", "Record type", base.DEC, rec_types),
	dir       = ProtoField.uint8("fuseproxy.dir", "Direction", base.DEC, dirs),
	transport = ProtoField.uint8("fuseproxy.transport", "Transport", base.DEC, transports),
	worker    = ProtoField.uint16("fuseproxy.worker", "Worker/queue"),
	flags     = ProtoField.uint32("fuseproxy.flags", "Flags", base.HEX),
	f_intr    = ProtoField.bool("fuseproxy.flags.interrupted", "Interrupted", 32, nil, 0x1),
	f_resent  = ProtoField.bool("fuseproxy.flags.resent", "Resent", 32, nil, 0x2),
	f_noreply = ProtoField.bool("fuseproxy.flags.noreply", "No reply", 32, nil, 0x4),
	f_pending = ProtoField.bool("fuseproxy.flags.pending", "Pending at end", 32, nil, 0x8),
	f_rqtrunc = ProtoField.bool("fuseproxy.flags.req_trunc", "Request truncated", 32, nil, 0x10),
	f_rptrunc = ProtoField.bool("fuseproxy.flags.reply_trunc", "Reply truncated", 32, nil, 0x20),
	f_invalid = ProtoField.bool("fuseproxy.flags.invalid", "Rejected by the proxy", 32, nil, 0x40),
	f_backend = ProtoField.bool("fuseproxy.flags.backend", "Served by a backend", 32, nil, 0x80),
	orig_len  = ProtoField.uint32("fuseproxy.orig_len", "Original message length"),
	opcode    = ProtoField.uint32("fuseproxy.opcode", "Opcode / code / kind"),
	error     = ProtoField.int32("fuseproxy.error", "Exchange error", base.DEC, neg_errnos),
	unique    = ProtoField.uint64("fuseproxy.unique", "Unique"),
	t_read    = ProtoField.uint64("fuseproxy.t_read", "Read from kernel (ns, monotonic)"),
	t_sent    = ProtoField.uint64("fuseproxy.t_sent", "Sent to backend (ns)"),
	t_reply   = ProtoField.uint64("fuseproxy.t_reply", "Backend replied (ns)"),
	t_written = ProtoField.uint64("fuseproxy.t_written", "Reply written (ns)"),
	comm      = ProtoField.stringz("fuseproxy.comm", "Command"),
	latency   = ProtoField.uint64("fuseproxy.latency", "Latency (ns, read to written)"),
	event     = ProtoField.string("fuseproxy.event", "Event"),
	tag       = ProtoField.uint16("fuseproxy.session.tag", "Tag", base.DEC, session_tags),
	tag_text  = ProtoField.string("fuseproxy.session.text", "Value"),
	tag_num   = ProtoField.uint64("fuseproxy.session.value", "Value"),
}

local F = {
	len       = ProtoField.uint32("fuse.len", "Length"),
	opcode    = ProtoField.uint32("fuse.opcode", "Opcode", base.DEC, opcodes),
	unique    = ProtoField.uint64("fuse.unique", "Unique"),
	nodeid    = ProtoField.uint64("fuse.nodeid", "Node ID"),
	uid       = ProtoField.uint32("fuse.uid", "UID"),
	gid       = ProtoField.uint32("fuse.gid", "GID"),
	pid       = ProtoField.uint32("fuse.pid", "PID"),
	extlen    = ProtoField.uint16("fuse.total_extlen", "Extension length (8-byte units)"),
	error     = ProtoField.int32("fuse.error", "Error", base.DEC, neg_errnos),
	ncode     = ProtoField.int32("fuse.notify_code", "Notification", base.DEC, notify_codes),
	request_in  = ProtoField.framenum("fuse.request_in", "Request in frame", base.NONE, frametype.REQUEST),
	response_in = ProtoField.framenum("fuse.response_in", "Reply in frame", base.NONE, frametype.RESPONSE),
	latency_us = ProtoField.double("fuse.latency_us", "Latency (us)"),
	name      = ProtoField.stringz("fuse.name", "Name"),
	name2     = ProtoField.stringz("fuse.name2", "Second name"),
	fh        = ProtoField.uint64("fuse.fh", "File handle", base.HEX),
	offset    = ProtoField.uint64("fuse.offset", "Offset"),
	size      = ProtoField.uint32("fuse.size", "Size"),
	size64    = ProtoField.uint64("fuse.length", "Length"),
	oflags    = ProtoField.uint32("fuse.open.flags", "open(2) flags", base.HEX),
	oflags_s  = ProtoField.string("fuse.open.flags_str", "open(2) flags"),
	fopen     = ProtoField.uint32("fuse.open.fopen", "FOPEN flags", base.HEX),
	fopen_s   = ProtoField.string("fuse.open.fopen_str", "FOPEN flags"),
	mode      = ProtoField.uint32("fuse.mode", "Mode", base.OCT),
	umask     = ProtoField.uint32("fuse.umask", "Umask", base.OCT),
	valid     = ProtoField.uint32("fuse.setattr.valid", "Valid", base.HEX),
	valid_s   = ProtoField.string("fuse.setattr.valid_str", "Valid"),
	nlookup   = ProtoField.uint64("fuse.nlookup", "Lookups to forget"),
	newdir    = ProtoField.uint64("fuse.newdir", "New parent"),
	oldnode   = ProtoField.uint64("fuse.oldnodeid", "Existing node"),
	mask      = ProtoField.uint32("fuse.access.mask", "Access mask", base.OCT),
	intr      = ProtoField.uint64("fuse.interrupt.unique", "Interrupted unique"),
	lock_owner = ProtoField.uint64("fuse.lock_owner", "Lock owner", base.HEX),
	data      = ProtoField.bytes("fuse.data", "Data"),
	data_len  = ProtoField.uint32("fuse.data_len", "Data bytes"),
	-- entry_out / attr
	e_nodeid  = ProtoField.uint64("fuse.entry.nodeid", "Entry node ID"),
	e_gen     = ProtoField.uint64("fuse.entry.generation", "Generation"),
	e_valid   = ProtoField.uint64("fuse.entry.entry_valid", "Entry valid (s)"),
	a_valid   = ProtoField.uint64("fuse.attr_valid", "Attr valid (s)"),
	a_ino     = ProtoField.uint64("fuse.attr.ino", "Inode"),
	a_size    = ProtoField.uint64("fuse.attr.size", "Size"),
	a_blocks  = ProtoField.uint64("fuse.attr.blocks", "Blocks"),
	a_atime   = ProtoField.uint64("fuse.attr.atime", "atime"),
	a_mtime   = ProtoField.uint64("fuse.attr.mtime", "mtime"),
	a_ctime   = ProtoField.uint64("fuse.attr.ctime", "ctime"),
	a_mode    = ProtoField.uint32("fuse.attr.mode", "Mode", base.OCT),
	a_nlink   = ProtoField.uint32("fuse.attr.nlink", "Links"),
	a_uid     = ProtoField.uint32("fuse.attr.uid", "UID"),
	a_gid     = ProtoField.uint32("fuse.attr.gid", "GID"),
	a_rdev    = ProtoField.uint32("fuse.attr.rdev", "rdev"),
	a_blksize = ProtoField.uint32("fuse.attr.blksize", "Block size"),
	w_size    = ProtoField.uint32("fuse.write.written", "Bytes written"),
	x_size    = ProtoField.uint32("fuse.xattr.size", "Xattr size"),
	-- INIT
	i_major   = ProtoField.uint32("fuse.init.major", "Major"),
	i_minor   = ProtoField.uint32("fuse.init.minor", "Minor"),
	i_ra      = ProtoField.uint32("fuse.init.max_readahead", "Max readahead"),
	i_flags   = ProtoField.uint32("fuse.init.flags", "Flags", base.HEX),
	i_flags2  = ProtoField.uint32("fuse.init.flags2", "Flags2", base.HEX),
	i_flags_s = ProtoField.string("fuse.init.flags_str", "Flags"),
	i_maxbg   = ProtoField.uint16("fuse.init.max_background", "Max background"),
	i_cong    = ProtoField.uint16("fuse.init.congestion_threshold", "Congestion threshold"),
	i_maxw    = ProtoField.uint32("fuse.init.max_write", "Max write"),
	i_gran    = ProtoField.uint32("fuse.init.time_gran", "Time granularity"),
	i_pages   = ProtoField.uint16("fuse.init.max_pages", "Max pages"),
	-- directories, statfs, notifications
	d_count   = ProtoField.uint32("fuse.dirent.count", "Entries"),
	d_name    = ProtoField.string("fuse.dirent.name", "Entry"),
	s_blocks  = ProtoField.uint64("fuse.statfs.blocks", "Blocks"),
	s_bfree   = ProtoField.uint64("fuse.statfs.bfree", "Free blocks"),
	s_files   = ProtoField.uint64("fuse.statfs.files", "Files"),
	s_bsize   = ProtoField.uint32("fuse.statfs.bsize", "Block size"),
	n_parent  = ProtoField.uint64("fuse.notify.parent", "Parent"),
	n_child   = ProtoField.uint64("fuse.notify.child", "Child"),
	n_namelen = ProtoField.uint32("fuse.notify.namelen", "Name length"),
	n_ino     = ProtoField.uint64("fuse.notify.ino", "Inode"),
	n_off     = ProtoField.int64("fuse.notify.off", "Offset"),
	n_len     = ProtoField.int64("fuse.notify.len", "Length"),
	truncated = ProtoField.none("fuse.truncated", "[truncated: the trace kept fewer bytes]"),
}

local pf, ff = {}, {}
for _, v in pairs(P) do pf[#pf + 1] = v end
for _, v in pairs(F) do ff[#ff + 1] = v end
fptr.fields = pf
fuse.fields = ff

-- ---- helpers -------------------------------------------------------------------

-- The bytes [off, off+n) of tvb if all were kept, else nil.
local function r(tvb, off, n)
	if off + n <= tvb:len() then return tvb(off, n) end
	return nil
end

local function u32(tvb, off) local x = r(tvb, off, 4); return x and x:le_uint() end
local function u64(tvb, off) local x = r(tvb, off, 8); return x and x:le_uint64() end

-- Add a little-endian field if its bytes are there.
local function add(tree, field, tvb, off, n)
	local x = r(tvb, off, n)
	if x then return tree:add_le(field, x) end
	return nil
end

-- NUL-terminated string at off: returns the tvb range (with NUL) and the text.
local function cstr(tvb, off)
	local len = tvb:len()
	if off >= len then return nil end
	for i = off, len - 1 do
		if tvb(i, 1):uint() == 0 then
			return tvb(off, i - off + 1), tvb(off, i - off):string()
		end
	end
	return nil
end

local function add_name(tree, field, tvb, off)
	local range, s = cstr(tvb, off)
	if not range then return nil, off end
	tree:add(field, range)
	return s, off + range:len()
end

-- ---- request arguments (off = first byte after fuse_in_header) --------------

local function name_only(tvb, off, tree)
	local s = add_name(tree, F.name, tvb, off)
	return s and string.format('"%s"', s) or nil
end

local function fh_off_size(tvb, off, tree)
	add(tree, F.fh, tvb, off, 8)
	add(tree, F.offset, tvb, off + 8, 8)
	add(tree, F.size, tvb, off + 16, 4)
	add(tree, F.lock_owner, tvb, off + 24, 8)
	local fh, o, sz = u64(tvb, off), u64(tvb, off + 8), u32(tvb, off + 16)
	if not sz then return nil end
	return string.format("fh=0x%s off=%s size=%d", fh:tohex():gsub("^0+(.)", "%1"), tostring(o), sz)
end

local function open_flags(tvb, off, tree)
	local fl = u32(tvb, off)
	if not fl then return nil end
	add(tree, F.oflags, tvb, off, 4)
	tree:add(F.oflags_s, tvb(off, 4), open_flags_str(fl))
	return open_flags_str(fl)
end

local req = {}
req[1] = name_only                                  -- LOOKUP
req[10] = name_only                                 -- UNLINK
req[11] = name_only                                 -- RMDIR
req[24] = name_only                                 -- REMOVEXATTR
req[2] = function(tvb, off, tree)                   -- FORGET
	add(tree, F.nlookup, tvb, off, 8)
	local n = u64(tvb, off)
	return n and ("nlookup=" .. tostring(n)) or nil
end
req[3] = function(tvb, off, tree)                   -- GETATTR
	local fl = u32(tvb, off)
	if fl and bit.band(fl, 1) ~= 0 then add(tree, F.fh, tvb, off + 8, 8) end
	return nil
end
req[4] = function(tvb, off, tree)                   -- SETATTR
	local valid = u32(tvb, off)
	if not valid then return nil end
	add(tree, F.valid, tvb, off, 4)
	tree:add(F.valid_s, tvb(off, 4), bits_str(valid, fattr_bits))
	local info = "valid=" .. bits_str(valid, fattr_bits)
	if bit.band(valid, 0x40) ~= 0 then add(tree, F.fh, tvb, off + 8, 8) end
	if bit.band(valid, 0x8) ~= 0 then
		add(tree, F.size64, tvb, off + 16, 8)
		local sz = u64(tvb, off + 16)
		if sz then info = info .. " size=" .. tostring(sz) end
	end
	if bit.band(valid, 0x1) ~= 0 then add(tree, F.mode, tvb, off + 68, 4) end
	if bit.band(valid, 0x2) ~= 0 then add(tree, F.uid, tvb, off + 76, 4) end
	if bit.band(valid, 0x4) ~= 0 then add(tree, F.gid, tvb, off + 80, 4) end
	return info
end
req[6] = function(tvb, off, tree)                   -- SYMLINK: name, target
	local n, o = add_name(tree, F.name, tvb, off)
	local t = n and add_name(tree, F.name2, tvb, o)
	return n and string.format('"%s" -> "%s"', n, t or "?") or nil
end
req[8] = function(tvb, off, tree)                   -- MKNOD
	add(tree, F.mode, tvb, off, 4)
	add(tree, F.umask, tvb, off + 8, 4)
	return name_only(tvb, off + 16, tree)
end
req[9] = function(tvb, off, tree)                   -- MKDIR
	add(tree, F.mode, tvb, off, 4)
	add(tree, F.umask, tvb, off + 4, 4)
	return name_only(tvb, off + 8, tree)
end
local function rename(tvb, off, tree, argsize)
	add(tree, F.newdir, tvb, off, 8)
	local n, o = add_name(tree, F.name, tvb, off + argsize)
	local m = n and add_name(tree, F.name2, tvb, o)
	local nd = u64(tvb, off)
	if not m then return nil end
	return string.format('"%s" -> %s/"%s"', n, tostring(nd), m)
end
req[12] = function(tvb, off, tree) return rename(tvb, off, tree, 8) end    -- RENAME
req[45] = function(tvb, off, tree) return rename(tvb, off, tree, 16) end   -- RENAME2
req[13] = function(tvb, off, tree)                  -- LINK
	add(tree, F.oldnode, tvb, off, 8)
	return name_only(tvb, off + 8, tree)
end
req[14] = open_flags                                -- OPEN
req[27] = open_flags                                -- OPENDIR
req[15] = fh_off_size                               -- READ
req[28] = fh_off_size                               -- READDIR
req[44] = fh_off_size                               -- READDIRPLUS
req[16] = function(tvb, off, tree)                  -- WRITE
	local info = fh_off_size(tvb, off, tree)
	local sz = u32(tvb, off + 16)
	if sz then
		tree:add(F.data_len, tvb(off + 16, 4), sz)
		local kept = tvb:len() - (off + 40)
		if kept > 0 then tree:add(F.data, tvb(off + 40, math.min(kept, sz))) end
	end
	return info
end
local function fh_only(tvb, off, tree)
	add(tree, F.fh, tvb, off, 8)
	local fh = u64(tvb, off)
	return fh and ("fh=0x" .. fh:tohex():gsub("^0+(.)", "%1")) or nil
end
req[18] = fh_only                                   -- RELEASE
req[29] = fh_only                                   -- RELEASEDIR
req[25] = fh_only                                   -- FLUSH
req[20] = fh_only                                   -- FSYNC
req[30] = fh_only                                   -- FSYNCDIR
req[22] = function(tvb, off, tree)                  -- GETXATTR
	add(tree, F.x_size, tvb, off, 4)
	return name_only(tvb, off + 8, tree)
end
req[23] = function(tvb, off, tree)                  -- LISTXATTR
	add(tree, F.x_size, tvb, off, 4)
	return nil
end
local setxattr_ext = true                            -- learnt from INIT below
req[21] = function(tvb, off, tree)                  -- SETXATTR
	add(tree, F.x_size, tvb, off, 4)
	return name_only(tvb, off + (setxattr_ext and 16 or 8), tree)
end
req[34] = function(tvb, off, tree)                  -- ACCESS
	add(tree, F.mask, tvb, off, 4)
	return nil
end
req[35] = function(tvb, off, tree)                  -- CREATE
	local fl = open_flags(tvb, off, tree)
	add(tree, F.mode, tvb, off + 4, 4)
	add(tree, F.umask, tvb, off + 8, 4)
	local n = name_only(tvb, off + 16, tree)
	return n and (n .. " " .. (fl or "")) or fl
end
req[51] = req[35]                                   -- TMPFILE
req[36] = function(tvb, off, tree)                  -- INTERRUPT
	add(tree, F.intr, tvb, off, 8)
	local u = u64(tvb, off)
	return u and ("unique=" .. tostring(u)) or nil
end
req[43] = function(tvb, off, tree)                  -- FALLOCATE
	add(tree, F.fh, tvb, off, 8)
	add(tree, F.offset, tvb, off + 8, 8)
	add(tree, F.size64, tvb, off + 16, 8)
	return nil
end
req[46] = function(tvb, off, tree)                  -- LSEEK
	add(tree, F.fh, tvb, off, 8)
	add(tree, F.offset, tvb, off + 8, 8)
	return nil
end
local function init_flags(tvb, off, tree, flags_at, flags2_at)
	local fl = u32(tvb, off + flags_at)
	if not fl then return nil end
	add(tree, F.i_flags, tvb, off + flags_at, 4)
	local s = bits_str(fl, init_bits)
	local fl2 = bit.band(fl, 0x40000000) ~= 0 and u32(tvb, off + flags2_at)
	if fl2 then
		add(tree, F.i_flags2, tvb, off + flags2_at, 4)
		if fl2 ~= 0 then s = s .. "|" .. bits_str(fl2, init_bits2) end
	end
	tree:add(F.i_flags_s, tvb(off + flags_at, 4), s)
	return fl
end
req[26] = function(tvb, off, tree)                  -- INIT
	add(tree, F.i_major, tvb, off, 4)
	add(tree, F.i_minor, tvb, off + 4, 4)
	add(tree, F.i_ra, tvb, off + 8, 4)
	init_flags(tvb, off, tree, 12, 16)
	local ma, mi = u32(tvb, off), u32(tvb, off + 4)
	return ma and string.format("%d.%d", ma, mi) or nil
end

-- ---- reply payloads (off = first byte after fuse_out_header) -----------------

local function attr(tvb, off, tree)
	if not r(tvb, off, 88) then
		if off < tvb:len() then tree:add(F.truncated, tvb(off)) end
		return nil
	end
	local t = tree:add(fuse, tvb(off, 88), "Attributes")
	add(t, F.a_ino, tvb, off, 8)
	add(t, F.a_size, tvb, off + 8, 8)
	add(t, F.a_blocks, tvb, off + 16, 8)
	add(t, F.a_atime, tvb, off + 24, 8)
	add(t, F.a_mtime, tvb, off + 32, 8)
	add(t, F.a_ctime, tvb, off + 40, 8)
	add(t, F.a_mode, tvb, off + 60, 4)
	add(t, F.a_nlink, tvb, off + 64, 4)
	add(t, F.a_uid, tvb, off + 68, 4)
	add(t, F.a_gid, tvb, off + 72, 4)
	add(t, F.a_rdev, tvb, off + 76, 4)
	add(t, F.a_blksize, tvb, off + 80, 4)
	return string.format("ino=%s size=%s mode=0%o", tostring(u64(tvb, off)),
			     tostring(u64(tvb, off + 8)), u32(tvb, off + 60))
end

local function entry(tvb, off, tree)
	add(tree, F.e_nodeid, tvb, off, 8)
	add(tree, F.e_gen, tvb, off + 8, 8)
	add(tree, F.e_valid, tvb, off + 16, 8)
	add(tree, F.a_valid, tvb, off + 24, 8)
	attr(tvb, off + 40, tree)
	local n = u64(tvb, off)
	return n and ("node=" .. tostring(n)) or nil
end

local function open_out(tvb, off, tree)
	add(tree, F.fh, tvb, off, 8)
	local fl = u32(tvb, off + 8)
	if fl then
		add(tree, F.fopen, tvb, off + 8, 4)
		tree:add(F.fopen_s, tvb(off + 8, 4), bits_str(fl, fopen_bits))
	end
	local fh = u64(tvb, off)
	return fh and ("fh=0x" .. fh:tohex():gsub("^0+(.)", "%1")) or nil
end

local function data(tvb, off, tree, total)
	local n = total - off
	tree:add(F.data_len, n)
	if tvb:len() > off then tree:add(F.data, tvb(off)) end
	return string.format("%d bytes", n)
end

local function dirents(tvb, off, tree, total, plus)
	local count, o, names = 0, off, {}
	local rec = plus and 128 or 0          -- READDIRPLUS: entry_out first
	while r(tvb, o + rec, 24) do
		local namelen = u32(tvb, o + rec + 16)
		local nr = r(tvb, o + rec + 24, namelen)
		if not nr then break end
		tree:add(F.d_name, nr)
		count = count + 1
		if count <= 3 then names[#names + 1] = nr:string() end
		o = o + rec + 24 + bit.band(namelen + 7, bit.bnot(7))
	end
	tree:add(F.d_count, count)
	if o < total and tvb:len() < total then tree:add(F.truncated, tvb(0, 0)) end
	return string.format("%d entries%s", count,
			     #names > 0 and (" " .. table.concat(names, ",") .. (count > 3 and ",..." or "")) or "")
end

local rep = {}
for _, op in ipairs({ 1, 6, 8, 9, 13 }) do rep[op] = entry end
rep[3] = function(tvb, off, tree)                   -- GETATTR / SETATTR: attr_out
	add(tree, F.a_valid, tvb, off, 8)
	return attr(tvb, off + 16, tree)
end
rep[4] = rep[3]
rep[14] = open_out
rep[27] = open_out
rep[35] = function(tvb, off, tree)                  -- CREATE / TMPFILE
	local e = entry(tvb, off, tree)
	local o = open_out(tvb, off + 128, tree)
	return (e or "") .. " " .. (o or "")
end
rep[51] = rep[35]
rep[15] = function(tvb, off, tree, total) return data(tvb, off, tree, total) end
rep[5] = function(tvb, off, tree, total)            -- READLINK
	if tvb:len() > off then
		tree:add(F.name, tvb(off))
		return string.format('"%s"', tvb(off):string())
	end
	return nil
end
rep[16] = function(tvb, off, tree)                  -- WRITE
	add(tree, F.w_size, tvb, off, 4)
	local n = u32(tvb, off)
	return n and (n .. " bytes written") or nil
end
rep[47] = rep[16]
rep[28] = function(tvb, off, tree, total) return dirents(tvb, off, tree, total, false) end
rep[44] = function(tvb, off, tree, total) return dirents(tvb, off, tree, total, true) end
rep[22] = function(tvb, off, tree, total)           -- GETXATTR / LISTXATTR
	if total - off == 8 then
		add(tree, F.x_size, tvb, off, 4)
		return "size=" .. (u32(tvb, off) or "?")
	end
	return data(tvb, off, tree, total)
end
rep[23] = rep[22]
rep[17] = function(tvb, off, tree)                  -- STATFS
	add(tree, F.s_blocks, tvb, off, 8)
	add(tree, F.s_bfree, tvb, off + 8, 8)
	add(tree, F.s_files, tvb, off + 24, 8)
	add(tree, F.s_bsize, tvb, off + 40, 4)
	return nil
end
rep[46] = function(tvb, off, tree)                  -- LSEEK
	add(tree, F.offset, tvb, off, 8)
	return nil
end
rep[26] = function(tvb, off, tree)                  -- INIT
	add(tree, F.i_major, tvb, off, 4)
	add(tree, F.i_minor, tvb, off + 4, 4)
	add(tree, F.i_ra, tvb, off + 8, 4)
	local fl = init_flags(tvb, off, tree, 12, 32)
	add(tree, F.i_maxbg, tvb, off + 16, 2)
	add(tree, F.i_cong, tvb, off + 18, 2)
	add(tree, F.i_maxw, tvb, off + 20, 4)
	add(tree, F.i_gran, tvb, off + 24, 4)
	add(tree, F.i_pages, tvb, off + 28, 2)
	if fl then setxattr_ext = bit.band(fl, 0x20000000) ~= 0 end
	local ma, mi = u32(tvb, off), u32(tvb, off + 4)
	return ma and string.format("%d.%d max_write=%s", ma, mi, tostring(u32(tvb, off + 20))) or nil
end

-- ---- notifications (off = after fuse_out_header) --------------------------------

local note = {}
note[2] = function(tvb, off, tree)                  -- INVAL_INODE
	add(tree, F.n_ino, tvb, off, 8)
	add(tree, F.n_off, tvb, off + 8, 8)
	add(tree, F.n_len, tvb, off + 16, 8)
	local ino = u64(tvb, off)
	return ino and ("ino=" .. tostring(ino)) or nil
end
local function inval_entry(tvb, off, tree, child)
	add(tree, F.n_parent, tvb, off, 8)
	local o = off + 8
	if child then add(tree, F.n_child, tvb, o, 8); o = o + 8 end
	add(tree, F.n_namelen, tvb, o, 4)
	local s = add_name(tree, F.name, tvb, o + 8)
	local p = u64(tvb, off)
	return p and string.format('parent=%s "%s"', tostring(p), s or "?") or nil
end
note[3] = function(tvb, off, tree) return inval_entry(tvb, off, tree, false) end
note[6] = function(tvb, off, tree) return inval_entry(tvb, off, tree, true) end
note[4] = function(tvb, off, tree)                  -- STORE
	add(tree, F.nodeid, tvb, off, 8)
	add(tree, F.offset, tvb, off + 8, 8)
	add(tree, F.size, tvb, off + 16, 4)
	return nil
end

-- ---- request/reply matching ----------------------------------------------------

local req_frame, rep_frame = {}, {}

function fptr.init()
	req_frame, rep_frame = {}, {}
	setxattr_ext = true
end

-- ---- the dissector -------------------------------------------------------------

local function in_header(tvb, tree, total)
	add(tree, F.len, tvb, 0, 4)
	add(tree, F.opcode, tvb, 4, 4)
	add(tree, F.unique, tvb, 8, 8)
	add(tree, F.nodeid, tvb, 16, 8)
	add(tree, F.uid, tvb, 24, 4)
	add(tree, F.gid, tvb, 28, 4)
	add(tree, F.pid, tvb, 32, 4)
	add(tree, F.extlen, tvb, 36, 2)
end

local function out_header(tvb, tree, notify)
	add(tree, F.len, tvb, 0, 4)
	add(tree, notify and F.ncode or F.error, tvb, 4, 4)
	add(tree, F.unique, tvb, 8, 8)
end

local function session_tlvs(tvb, tree)
	local o = 0
	while r(tvb, o, 8) do
		local tag, len = tvb(o, 2):le_uint(), tvb(o + 4, 4):le_uint()
		if not r(tvb, o + 8, len) then break end
		local t = tree:add(fptr, tvb(o, 8 + len), session_tags[tag] or ("tag " .. tag))
		t:add_le(P.tag, tvb(o, 2))
		if text_tags[tag] then
			if len > 0 then t:add(P.tag_text, tvb(o + 8, len)) end
			t:append_text(": " .. (len > 0 and tvb(o + 8, len):string() or ""))
		elseif len == 8 then
			t:add_le(P.tag_num, tvb(o + 8, 8))
			t:append_text(": " .. tostring(tvb(o + 8, 8):le_uint64()))
		elseif len == 4 then
			t:add_le(P.tag_num, tvb(o + 8, 4))
			t:append_text(": " .. tvb(o + 8, 4):le_uint())
		end
		o = o + 8 + len
	end
end

function fptr.dissector(tvb, pinfo, tree)
	if tvb:len() < FPT_HDR_LEN or tvb(0, 4):string() ~= "FPTR" then return 0 end
	local version, hdr_len = tvb(4, 1):uint(), tvb(5, 1):uint()
	local rtype, dir = tvb(6, 1):uint(), tvb(7, 1):uint()
	local flags = tvb(12, 4):le_uint()
	local orig_len = tvb(16, 4):le_uint()
	local opcode = tvb(20, 4):le_uint()
	local xerr = tvb(24, 4):le_int()
	local unique = tvb(32, 8):le_uint64()
	local t_read, t_written = tvb(40, 8):le_uint64(), tvb(64, 8):le_uint64()

	pinfo.cols.protocol = "FUSE"
	local ph = tree:add(fptr, tvb(0, math.min(hdr_len, tvb:len())))
	ph:add(P.magic, tvb(0, 4))
	ph:add(P.version, tvb(4, 1))
	ph:add(P.hdr_len, tvb(5, 1))
	ph:add(P.type, tvb(6, 1))
	ph:add(P.dir, tvb(7, 1))
	ph:add(P.transport, tvb(8, 1))
	ph:add_le(P.worker, tvb(10, 2))
	local fl = ph:add_le(P.flags, tvb(12, 4))
	fl:append_text(" (" .. bits_str(flags, trace_flag_bits) .. ")")
	for _, f in ipairs({ P.f_intr, P.f_resent, P.f_noreply, P.f_pending, P.f_rqtrunc,
			     P.f_rptrunc, P.f_invalid, P.f_backend }) do
		fl:add_le(f, tvb(12, 4))
	end
	ph:add_le(P.orig_len, tvb(16, 4))
	ph:add_le(P.opcode, tvb(20, 4))
	ph:add_le(P.error, tvb(24, 4))
	ph:add_le(P.unique, tvb(32, 8))
	ph:add_le(P.t_read, tvb(40, 8))
	ph:add_le(P.t_sent, tvb(48, 8))
	ph:add_le(P.t_reply, tvb(56, 8))
	ph:add_le(P.t_written, tvb(64, 8))
	ph:add(P.comm, tvb(72, 16))
	if version ~= 1 then
		ph:append_text(" [unknown version " .. version .. ": not decoded]")
		pinfo.cols.info = "fuseproxy record version " .. version
		return tvb:len()
	end
	if hdr_len < FPT_HDR_LEN or hdr_len > tvb:len() then
		ph:append_text(" [bad header length]")
		return tvb:len()
	end

	local msg = tvb(hdr_len):tvb()
	local total = orig_len
	local key = tostring(unique)
	local lat_ns = nil
	if (rtype == 1 or rtype == 2) and t_written > t_read and t_read > UInt64(0) then
		lat_ns = t_written - t_read
	end

	if rtype == 4 then                              -- EVENT
		local text = msg:len() > 0 and msg(0):string() or ""
		ph:add(P.event, msg(0, msg:len()), text)
		pinfo.cols.info = string.format("event %s: %s", event_kinds[opcode] or opcode, text)
		return tvb:len()
	elseif rtype == 5 or rtype == 6 then            -- SESSION / END
		session_tlvs(msg, ph)
		pinfo.cols.info = rtype == 5 and "session start" or "session end"
		return tvb:len()
	end

	local ft = tree:add(fuse, msg(0, msg:len()))
	local info
	if rtype == 1 or (rtype == 3 and (dir == 1 or dir == 2)) then
		-- a message with fuse_in_header: request or NOTIFY_REPLY
		in_header(msg, ft, total)
		local op = u32(msg, 4) or opcode
		local name = opcodes[op] or ("opcode " .. op)
		local args = req[op] and req[op](msg, 40, ft)
		local node = u64(msg, 16)
		info = string.format("%s #%s node=%s", name, key, node and tostring(node) or "?")
		if args then info = info .. " " .. args end
		local comm = tvb(72, 16):stringz()
		local pid = u32(msg, 32)
		if pid and pid ~= 0 then
			info = info .. string.format(" pid=%d%s", pid, comm ~= "" and ("(" .. comm .. ")") or "")
		end
		if rtype == 1 then
			if not pinfo.visited then req_frame[key] = pinfo.number end
			if rep_frame[key] then ft:add(F.response_in, rep_frame[key]) end
			if bit.band(flags, 0x4) ~= 0 then info = info .. " [no reply]" end
			if bit.band(flags, 0x8) ~= 0 then info = info .. " [pending]" end
		else
			info = "notify reply: " .. info
		end
	else
		-- a message with fuse_out_header: reply or notification
		local notify = rtype == 3
		out_header(msg, ft, notify)
		if notify then
			local code = u32(msg, 4) or opcode
			local args = note[code] and note[code](msg, 16, ft)
			info = "notify " .. (notify_codes[code] or ("code " .. code))
			if args then info = info .. " " .. args end
		else
			local e = msg:len() >= 8 and msg(4, 4):le_int() or xerr
			local name = opcodes[opcode] or ("opcode " .. opcode)
			if not pinfo.visited then rep_frame[key] = pinfo.number end
			if req_frame[key] then ft:add(F.request_in, req_frame[key]) end
			info = string.format("reply #%s %s", key, name)
			if e ~= 0 then
				info = info .. " " .. (errnos[-e] or ("error " .. e))
			else
				local args = rep[opcode] and rep[opcode](msg, 16, ft, total)
				if args then info = info .. " " .. args end
			end
		end
	end
	if lat_ns then
		ph:add(P.latency, lat_ns)
		local us = lat_ns:tonumber() / 1000.0
		ft:add(F.latency_us, us)
		if rtype == 2 then
			info = info .. (us < 10 and string.format(" (%.2f us)", us)
					or string.format(" (%.0f us)", us))
		end
	end
	if msg:len() < total then
		ft:add(F.truncated, tvb(0, 0))
		info = info .. " [truncated]"
	end
	pinfo.cols.info = info
	return tvb:len()
end

DissectorTable.get("wtap_encap"):add(wtap_encaps.USER0, fptr)
