/* \summary: the pcap trace layout: file header, record header and our
 * pseudo-header (doc/trace-format.md, "pcap"), shared by the writer, the
 * reader and the tests.
 *
 *   pcap file header (24)  magic a1b23c4d (ns), 2.4, snaplen, linktype 147
 *   per record:
 *     pcap record header (16)  ts_sec, ts_nsec, caplen, len
 *     pseudo-header (hdr_len, 88 in version 1), little-endian:
 *        0  4  magic "FPTR"        24  4  error (s32)
 *        4  1  version (1)         28  4  reserved (0)
 *        5  1  hdr_len (88)        32  8  unique
 *        6  1  type                40  8  t_read   (or t for notify/event)
 *        7  1  dir                 48  8  t_sent
 *        8  1  transport           56  8  t_reply
 *        9  1  reserved (0)        64  8  t_written
 *       10  2  worker (0xffff)     72 16  comm (NUL-padded)
 *       12  4  flags
 *       16  4  orig_len
 *       20  4  opcode (notify: code, event: kind)
 *     then the FUSE message (or event text / session TLVs), cut to caplen
 */
#ifndef FP_PCAP_FORMAT_H
#define FP_PCAP_FORMAT_H

#include <stdint.h>

#define PCAP_MAGIC_US       0xa1b2c3d4u
#define PCAP_MAGIC_NS       0xa1b23c4du
#define PCAP_LINKTYPE_USER0 147
/* Wireshark and libpcap refuse records longer than this. */
#define FPT_PCAP_MAX_RECORD 262144u

#define FPT_MAGIC     "FPTR"
#define FPT_VERSION   1
#define FPT_HDR_LEN   88

enum fpt_type {
	FPT_REQUEST = 1,       /* a request; all four exchange timestamps */
	FPT_REPLY   = 2,       /* its reply; same pseudo-header fields */
	FPT_NOTIFY  = 3,       /* notification or notification reply */
	FPT_EVENT   = 4,       /* text; opcode = event kind */
	FPT_SESSION = 5,       /* TLVs describing the session (first record) */
	FPT_END     = 6,       /* TLVs with the end counters (last record) */
};

enum fpt_transport {
	FPT_TRANSPORT_UNKNOWN = 0,
	FPT_TRANSPORT_FUSEDEV = 1,
	FPT_TRANSPORT_URING   = 2,
	FPT_TRANSPORT_BACKEND = 3,
};

/* SESSION/END TLV: u16 tag, u16 reserved (0), u32 len, len bytes. */
enum fpt_tag {
	FPT_TAG_FORMAT_VERSION = 1,    /* u32 */
	FPT_TAG_START_WALL     = 2,    /* u64 ns */
	FPT_TAG_START_MONO     = 3,    /* u64 ns */
	FPT_TAG_ARGV           = 4,    /* text: JSON array */
	FPT_TAG_MOUNTPOINT     = 5,    /* text */
	FPT_TAG_TRANSPORT      = 6,    /* text */
	FPT_TAG_BACKEND        = 7,    /* text */
	FPT_TAG_KERNEL         = 8,    /* text */
	FPT_TAG_SNAPLEN        = 9,    /* u32 */
	FPT_TAG_FILTER         = 10,   /* text */
	FPT_TAG_DROP_POLICY    = 11,   /* text */
	FPT_TAG_END_WALL       = 12,   /* u64 ns (END) */
	FPT_TAG_END_MONO       = 13,   /* u64 ns (END) */
	FPT_TAG_RECORDS        = 14,   /* u64 (END) */
	FPT_TAG_DROPPED        = 15,   /* u64 (END) */
	FPT_TAG_LOST           = 16,   /* u64 (END) */
};

struct fpt_pcap_filehdr {
	uint32_t magic;
	uint16_t version_major, version_minor;
	int32_t thiszone;
	uint32_t sigfigs;
	uint32_t snaplen;
	uint32_t linktype;
};

struct fpt_pcap_rechdr {
	uint32_t ts_sec, ts_frac, caplen, len;
};

/* Pseudo-header in host order; pack/unpack convert to/from little-endian. */
struct fpt_hdr {
	uint8_t version, hdr_len, type, dir, transport;
	uint16_t worker;
	uint32_t flags, orig_len, opcode;
	int32_t error;
	uint64_t unique, t_read, t_sent, t_reply, t_written;
	char comm[16];
};

void fpt_hdr_pack(const struct fpt_hdr *h, uint8_t out[FPT_HDR_LEN]);
/* Returns 0, or -EINVAL with a reason (bad magic, version, hdr_len). */
int fpt_hdr_unpack(const uint8_t *p, uint32_t len, struct fpt_hdr *h,
		   char *err, size_t errlen);

uint8_t fpt_transport_id(const char *name);

#endif
