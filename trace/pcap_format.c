/* \summary: packing and checking the pcap pseudo-header (pcap_format.h). */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include "pcap_format.h"
#include "trace_i.h"

static void put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

void fpt_hdr_pack(const struct fpt_hdr *h, uint8_t out[FPT_HDR_LEN])
{
	memset(out, 0, FPT_HDR_LEN);
	memcpy(out, FPT_MAGIC, 4);
	out[4] = FPT_VERSION;
	out[5] = FPT_HDR_LEN;
	out[6] = h->type;
	out[7] = h->dir;
	out[8] = h->transport;
	put16(out + 10, h->worker);
	put32(out + 12, h->flags);
	put32(out + 16, h->orig_len);
	put32(out + 20, h->opcode);
	put32(out + 24, (uint32_t)h->error);
	put64(out + 32, h->unique);
	put64(out + 40, h->t_read);
	put64(out + 48, h->t_sent);
	put64(out + 56, h->t_reply);
	put64(out + 64, h->t_written);
	memcpy(out + 72, h->comm, 16);
}

int fpt_hdr_unpack(const uint8_t *p, uint32_t len, struct fpt_hdr *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof *h);
	if (len < 6)
		return trace_err(err, errlen, -EINVAL, "%u bytes, shorter than the pseudo-header", len);
	if (memcmp(p, FPT_MAGIC, 4))
		return trace_err(err, errlen, -EINVAL, "not a fuseproxy record (pseudo-header magic "
				 "%02x%02x%02x%02x, want \"FPTR\")", p[0], p[1], p[2], p[3]);
	h->version = p[4];
	h->hdr_len = p[5];
	if (h->version != FPT_VERSION)
		return trace_err(err, errlen, -EINVAL, "unsupported record version %u (this reader "
				 "knows version %u)", h->version, FPT_VERSION);
	if (h->hdr_len < FPT_HDR_LEN || h->hdr_len > len)
		return trace_err(err, errlen, -EINVAL, "pseudo-header length %u invalid (record has "
				 "%u bytes, version %u needs %u)", h->hdr_len, len, FPT_VERSION,
				 FPT_HDR_LEN);
	h->type = p[6];
	h->dir = p[7];
	h->transport = p[8];
	h->worker = get16(p + 10);
	h->flags = get32(p + 12);
	h->orig_len = get32(p + 16);
	h->opcode = get32(p + 20);
	h->error = (int32_t)get32(p + 24);
	h->unique = get64(p + 32);
	h->t_read = get64(p + 40);
	h->t_sent = get64(p + 48);
	h->t_reply = get64(p + 56);
	h->t_written = get64(p + 64);
	memcpy(h->comm, p + 72, 16);
	return 0;
}

uint8_t fpt_transport_id(const char *name)
{
	static const struct { const char *s; uint8_t id; } names[] = {
		{ "fusedev", FPT_TRANSPORT_FUSEDEV }, { "dev", FPT_TRANSPORT_FUSEDEV },
		{ "/dev/fuse", FPT_TRANSPORT_FUSEDEV },
		{ "io_uring", FPT_TRANSPORT_URING }, { "uring", FPT_TRANSPORT_URING },
		{ "backend", FPT_TRANSPORT_BACKEND },
	};

	for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
		if (!strcasecmp(name, names[i].s))
			return names[i].id;
	return FPT_TRANSPORT_UNKNOWN;
}
