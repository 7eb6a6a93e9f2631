/* dns_test_packets.h - helpers of the DNSBL unit tests: build query packets, decode replies.
 * Test-only code (a small independent decoder, so the writer is not checked by itself). */
#ifndef RELAYGUARD_TEST_DNS_TEST_PACKETS_H
#define RELAYGUARD_TEST_DNS_TEST_PACKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TEST_PACKET_MAX 65535
#define TEST_RR_MAX 80
#define TEST_TEXT_MAX 700

/* Options of a test query. */
struct test_query_options {
	uint16_t id;
	bool rd;
	bool edns;
	uint16_t edns_size;
	uint8_t edns_version;
	bool edns_do;
	uint8_t opcode;
};

/* One decoded record. */
struct test_rr {
	int section;		/* 0 answer, 1 authority, 2 additional */
	char owner[300];
	uint16_t type;
	uint16_t klass;
	uint32_t ttl;
	char data[TEST_TEXT_MAX];	/* A: dotted quad; TXT: the text; NS: name;
					 * SOA: "mname rname serial refresh retry expire min" */
};

struct test_reply {
	uint16_t id;
	bool qr, aa, tc, rd;
	unsigned opcode;
	unsigned rcode;		/* with the extended bits from OPT */
	unsigned qdcount;
	char qname[300];
	uint16_t qtype;
	unsigned counts[3];
	struct test_rr rr[TEST_RR_MAX];
	size_t rr_count;
	bool opt;
	uint16_t opt_size;
	bool opt_do;
	uint8_t opt_version;
};

/* test_put16 - big-endian 16 bits */
static inline void
test_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t
test_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
test_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* test_build_query - a query for name (text, case kept) and qtype; returns its length */
static inline size_t
test_build_query(uint8_t *out, const char *name, uint16_t qtype,
    const struct test_query_options *options)
{
	size_t at = 12;
	const char *label = name;

	memset(out, 0, 12);
	test_put16(out, options ? options->id : 0x1234);
	out[2] = (uint8_t)((options ? options->opcode : 0) << 3);
	if (options == NULL || options->rd)
		out[2] |= 0x01;
	test_put16(out + 4, 1);
	while (*label != '\0') {
		const char *dot = strchr(label, '.');
		size_t length = dot ? (size_t)(dot - label) : strlen(label);
		out[at++] = (uint8_t)length;
		memcpy(out + at, label, length);
		at += length;
		label += length;
		if (*label == '.')
			label++;
	}
	out[at++] = 0;
	test_put16(out + at, qtype);
	test_put16(out + at + 2, 1);
	at += 4;
	if (options != NULL && options->edns) {
		test_put16(out + 10, 1);
		out[at++] = 0;
		test_put16(out + at, 41);
		test_put16(out + at + 2, options->edns_size);
		out[at + 4] = 0;
		out[at + 5] = options->edns_version;
		test_put16(out + at + 6, options->edns_do ? 0x8000 : 0);
		test_put16(out + at + 8, 0);
		at += 10;
	}
	return at;
}

/* test_read_name - a possibly compressed name as text ("." for the root) */
static inline bool
test_read_name(const uint8_t *p, size_t length, size_t *offset, char *out, size_t out_size)
{
	size_t at = *offset;
	size_t written = 0;
	bool jumped = false;
	int hops = 0;

	out[0] = '\0';
	for (;;) {
		if (at >= length || hops > 64)
			return false;
		uint8_t c = p[at];
		if ((c & 0xc0) == 0xc0) {
			if (at + 2 > length)
				return false;
			if (!jumped)
				*offset = at + 2;
			jumped = true;
			at = ((size_t)(c & 0x3f) << 8) | p[at + 1];
			hops++;
			continue;
		}
		if (c == 0) {
			if (!jumped)
				*offset = at + 1;
			if (written == 0)
				snprintf(out, out_size, ".");
			return true;
		}
		if (at + 1 + c > length || written + c + 2 > out_size)
			return false;
		if (written > 0)
			out[written++] = '.';
		memcpy(out + written, p + at + 1, c);
		written += c;
		out[written] = '\0';
		at += 1 + c;
	}
}

/* test_decode_reply - decode a whole reply; false when it is malformed */
static inline bool
test_decode_reply(const uint8_t *p, size_t length, struct test_reply *out)
{
	size_t at = 12;

	memset(out, 0, sizeof(*out));
	if (length < 12)
		return false;
	out->id = test_get16(p);
	out->qr = (p[2] & 0x80) != 0;
	out->opcode = (p[2] >> 3) & 0x0f;
	out->aa = (p[2] & 0x04) != 0;
	out->tc = (p[2] & 0x02) != 0;
	out->rd = (p[2] & 0x01) != 0;
	out->rcode = p[3] & 0x0f;
	out->qdcount = test_get16(p + 4);
	for (int s = 0; s < 3; s++)
		out->counts[s] = test_get16(p + 6 + 2 * s);
	if (out->qdcount > 1)
		return false;
	if (out->qdcount == 1) {
		if (!test_read_name(p, length, &at, out->qname, sizeof(out->qname)) ||
		    at + 4 > length)
			return false;
		out->qtype = test_get16(p + at);
		at += 4;
	}
	for (int s = 0; s < 3; s++) {
		for (unsigned i = 0; i < out->counts[s]; i++) {
			struct test_rr *rr = &out->rr[out->rr_count];
			if (out->rr_count == TEST_RR_MAX)
				return false;
			rr->section = s;
			if (!test_read_name(p, length, &at, rr->owner, sizeof(rr->owner)) ||
			    at + 10 > length)
				return false;
			rr->type = test_get16(p + at);
			rr->klass = test_get16(p + at + 2);
			rr->ttl = test_get32(p + at + 4);
			size_t rdlength = test_get16(p + at + 8);
			at += 10;
			if (at + rdlength > length)
				return false;
			size_t rd = at;
			if (rr->type == 41) {
				out->opt = true;
				out->opt_size = rr->klass;
				out->rcode |= (unsigned)(rr->ttl >> 24) << 4;
				out->opt_version = (uint8_t)(rr->ttl >> 16);
				out->opt_do = (rr->ttl & 0x8000) != 0;
			} else if (rr->type == 1 && rdlength == 4) {
				snprintf(rr->data, sizeof(rr->data), "%u.%u.%u.%u", p[rd], p[rd + 1],
				    p[rd + 2], p[rd + 3]);
			} else if (rr->type == 16 && rdlength >= 1 && p[rd] + 1u == rdlength) {
				memcpy(rr->data, p + rd + 1, p[rd]);
				rr->data[p[rd]] = '\0';
			} else if (rr->type == 2) {
				size_t name_at = rd;
				if (!test_read_name(p, length, &name_at, rr->data, sizeof(rr->data)) ||
				    name_at != rd + rdlength)
					return false;
			} else if (rr->type == 6) {
				char mname[300], rname[300];
				size_t name_at = rd;
				if (!test_read_name(p, length, &name_at, mname, sizeof(mname)) ||
				    !test_read_name(p, length, &name_at, rname, sizeof(rname)) ||
				    name_at + 20 != rd + rdlength)
					return false;
				snprintf(rr->data, sizeof(rr->data), "%s %s %u %u %u %u %u", mname,
				    rname, test_get32(p + name_at), test_get32(p + name_at + 4),
				    test_get32(p + name_at + 8), test_get32(p + name_at + 12),
				    test_get32(p + name_at + 16));
			} else {
				return false;
			}
			at += rdlength;
			out->rr_count++;
		}
	}
	return at == length;
}

/* test_count_type - records of type in section */
static inline size_t
test_count_type(const struct test_reply *reply, int section, uint16_t type)
{
	size_t count = 0;

	for (size_t i = 0; i < reply->rr_count; i++)
		if (reply->rr[i].section == section && reply->rr[i].type == type)
			count++;
	return count;
}

/* test_find_type - the first record of type in section, or NULL */
static inline const struct test_rr *
test_find_type(const struct test_reply *reply, int section, uint16_t type)
{
	for (size_t i = 0; i < reply->rr_count; i++)
		if (reply->rr[i].section == section && reply->rr[i].type == type)
			return &reply->rr[i];
	return NULL;
}

#endif
