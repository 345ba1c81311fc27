/*
 * roce_pcap.c - a minimal reader of classic libpcap files, so tests can
 * check captures (tshark/dumpcap `-F pcap`, tcpdump -w) with Loom's own
 * frame parser (roce_frame_parse).
 *
 * File: a 24-byte header (magic 0xa1b2c3d4 for microsecond or 0xa1b23c4d
 * for nanosecond time stamps, written in the writer's byte order; version
 * 2.4; snap length; link type in the low 16 bits), then records of a
 * 16-byte header (seconds, fraction, captured length, original length)
 * and the captured bytes.  Not supported: pcapng (refused with a message),
 * link types other than those of enum roce_link.  Streams from a FILE, so
 * captures of any size read in constant memory.
 */
#include "loom/roce.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loom/err.h"
#include "roce_bytes.h"

enum {
	PCAP_HDR_BYTES = 24,
	PCAP_REC_HDR_BYTES = 16,
	/* Larger than any snap length dumpcap or tcpdump use (262144). */
	PCAP_REC_MAX_BYTES = 262144,
	PCAP_MAGIC_USEC = 0xa1b2c3d4u,
	PCAP_MAGIC_NSEC = 0xa1b23c4du,
	PCAPNG_MAGIC = 0x0a0d0d0au,
};

struct roce_pcap {
	FILE *fp;
	bool owned;		/* fclose on roce_pcap_close */
	bool swap;		/* written big-endian */
	bool nsec;		/* nanosecond time stamps */
	enum roce_link link;
	uint64_t index;		/* records read so far */
	uint8_t *buf;		/* the current record's data */
	size_t cap;
	char name[128];
};

static uint32_t rd32(const struct roce_pcap *p, const uint8_t *b)
{
	return p->swap ? get_be32(b) : get_le32(b);
}

static bool link_supported(uint32_t link)
{
	switch (link) {
	case ROCE_LINK_ETHERNET:
	case ROCE_LINK_RAW:
	case ROCE_LINK_LINUX_SLL:
	case ROCE_LINK_IPV4:
	case ROCE_LINK_LINUX_SLL2:
		return true;
	default:
		return false;
	}
}

/* The file header: byte order, time stamp unit, version, link type. */
static int pcap_hdr_parse(struct roce_pcap *p, const uint8_t *h)
{
	uint32_t magic = get_le32(h);

	if (magic == PCAP_MAGIC_USEC || magic == PCAP_MAGIC_NSEC) {
		p->swap = false;
	} else if (get_be32(h) == PCAP_MAGIC_USEC || get_be32(h) == PCAP_MAGIC_NSEC) {
		p->swap = true;
	} else if (magic == PCAPNG_MAGIC) {
		return loom_err_set(EPROTONOSUPPORT, "pcap: %s is pcapng; capture with -F pcap",
				    p->name);
	} else {
		return loom_err_set(EBADMSG, "pcap: %s: magic 0x%08x is not pcap", p->name, magic);
	}
	p->nsec = rd32(p, h) == PCAP_MAGIC_NSEC;
	uint16_t major = p->swap ? get_be16(h + 4) : get_le16(h + 4);
	if (major != 2)
		return loom_err_set(EBADMSG, "pcap: %s: version %u, not 2", p->name, major);
	uint32_t link = rd32(p, h + 20) & 0xffff;	/* upper bits: FCS info */
	if (!link_supported(link))
		return loom_err_set(EPROTONOSUPPORT, "pcap: %s: link type %u is not Ethernet (1), "
				    "raw IP (101, 228) or Linux SLL/SLL2 (113, 276)", p->name, link);
	p->link = (enum roce_link)link;
	return 0;
}

struct roce_pcap *roce_pcap_open_file(FILE *fp, bool owned, const char *name)
{
	uint8_t h[PCAP_HDR_BYTES];

	if (!fp) {
		loom_err_set(EINVAL, "pcap: NULL file");
		return NULL;
	}
	struct roce_pcap *p = calloc(1, sizeof(*p));
	if (!p) {
		loom_err_set(ENOMEM, "pcap: out of memory");
		return NULL;
	}
	p->fp = fp;
	p->owned = owned;
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "(file)");
	size_t got = fread(h, 1, sizeof(h), fp);
	if (got < sizeof(h)) {
		loom_err_set(EBADMSG, "pcap: %s: %zu bytes, shorter than a pcap header", p->name, got);
		goto err_free;
	}
	if (pcap_hdr_parse(p, h))
		goto err_free;
	return p;

err_free:
	free(p);	/* fp stays with the caller, owned or not */
	return NULL;
}

struct roce_pcap *roce_pcap_open(const char *path)
{
	if (!path) {
		loom_err_set(EINVAL, "pcap: NULL path");
		return NULL;
	}
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		loom_err_set(errno, "pcap: %s: %s", path, strerror(errno));
		return NULL;
	}
	struct roce_pcap *p = roce_pcap_open_file(fp, true, path);
	if (!p)
		fclose(fp);
	return p;
}

enum roce_link roce_pcap_link(const struct roce_pcap *p) { return p->link; }

/* Room for n bytes of record data. */
static int buf_reserve(struct roce_pcap *p, size_t n)
{
	if (n <= p->cap)
		return 0;
	uint8_t *b = realloc(p->buf, n);
	if (!b)
		return loom_err_set(ENOMEM, "pcap: %s: out of memory for a %zu-byte record", p->name, n);
	p->buf = b;
	p->cap = n;
	return 0;
}

int roce_pcap_next(struct roce_pcap *p, struct roce_pcap_rec *rec)
{
	uint8_t h[PCAP_REC_HDR_BYTES];

	if (!p || !rec)
		return loom_err_set(EINVAL, "pcap: NULL argument");
	size_t got = fread(h, 1, sizeof(h), p->fp);
	if (got == 0 && !ferror(p->fp))
		return 0;
	if (got < sizeof(h))
		return ferror(p->fp) ? loom_err_set(EIO, "pcap: %s: read error", p->name)
				     : loom_err_set(EBADMSG, "pcap: %s: record %llu: header cut "
						    "after %zu bytes", p->name,
						    (unsigned long long)p->index, got);
	uint32_t caplen = rd32(p, h + 8);
	if (caplen > PCAP_REC_MAX_BYTES)
		return loom_err_set(EBADMSG, "pcap: %s: record %llu: %u captured bytes > %d",
				    p->name, (unsigned long long)p->index, caplen, PCAP_REC_MAX_BYTES);
	int err = buf_reserve(p, caplen ? caplen : 1);
	if (err)
		return err;
	if (fread(p->buf, 1, caplen, p->fp) != caplen)
		return loom_err_set(EBADMSG, "pcap: %s: record %llu: data cut short of %u bytes",
				    p->name, (unsigned long long)p->index, caplen);
	uint64_t frac = rd32(p, h + 4);
	rec->ts_ns = (uint64_t)rd32(p, h) * 1000000000u + (p->nsec ? frac : frac * 1000u);
	rec->caplen = caplen;
	rec->origlen = rd32(p, h + 12);
	rec->data = p->buf;
	p->index++;
	return 1;
}

void roce_pcap_close(struct roce_pcap *p)
{
	if (!p)
		return;
	if (p->owned)
		fclose(p->fp);
	free(p->buf);
	free(p);
}
