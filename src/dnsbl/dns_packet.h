/* dns_packet.h - DNS wire format for the DNSBL server: parse one query, write one reply.
 * Pure: bytes in, struct or reply bytes out; no I/O, no allocation, no globals. */
#ifndef RELAYGUARD_DNSBL_DNS_PACKET_H
#define RELAYGUARD_DNSBL_DNS_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_SIZE 12
/* Longest name in wire form, root label included (RFC 1035 3.1). */
#define DNS_NAME_WIRE_MAX 255
/* Longest label (RFC 1035 2.3.4). */
#define DNS_LABEL_MAX 63
/* Most labels a name of DNS_NAME_WIRE_MAX octets can hold, root not counted. */
#define DNS_LABELS_MAX 127
/* Room for a name in text form ("a.b.c", no trailing dot) and its NUL. */
#define DNS_NAME_TEXT_MAX 254
/* UDP payload every client accepts without EDNS (RFC 1035 4.2.1). */
#define DNS_UDP_PAYLOAD_MIN 512
/* Largest DNS message (TCP length prefix is 16 bits). */
#define DNS_MESSAGE_MAX 65535
/* Bytes of an OPT record without options (RFC 6891 6.1.2). */
#define DNS_OPT_RECORD_SIZE 11
/* Longest character-string of a TXT record. */
#define DNS_TXT_STRING_MAX 255

enum dns_type {
	DNS_TYPE_A = 1,
	DNS_TYPE_NS = 2,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_SOA = 6,
	DNS_TYPE_PTR = 12,
	DNS_TYPE_MX = 15,
	DNS_TYPE_TXT = 16,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_OPT = 41,
	DNS_TYPE_IXFR = 251,
	DNS_TYPE_AXFR = 252,
	DNS_TYPE_ANY = 255,
	DNS_TYPE_CAA = 257,
};

enum dns_class {
	DNS_CLASS_IN = 1,
	DNS_CLASS_CH = 3,
	DNS_CLASS_ANY = 255,
};

enum dns_opcode {
	DNS_OPCODE_QUERY = 0,
};

/* Response codes; BADVERS (16) is an extended code carried partly in the OPT record. */
enum dns_rcode {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
	DNS_RCODE_BADVERS = 16,
};

enum dns_section {
	DNS_SECTION_ANSWER,
	DNS_SECTION_AUTHORITY,
	DNS_SECTION_ADDITIONAL,
};

/* What dns_query_parse() made of a packet, and so what the server must do with it. */
enum dns_parse_status {
	DNS_PARSE_OK,		/* a query to answer */
	DNS_PARSE_IGNORE,	/* shorter than a header, or a response (QR set): send nothing */
	DNS_PARSE_FORMERR,	/* malformed: answer FORMERR with the header fields below */
	DNS_PARSE_NOTIMP,	/* an opcode other than QUERY: answer NOTIMP */
	DNS_PARSE_BADVERS,	/* EDNS version above 0: answer BADVERS (RFC 6891 6.1.3) */
};

/* A parsed query. question points into the packet: keep the packet while it is used. */
struct dns_query {
	uint16_t id;
	uint8_t opcode;
	bool recursion_desired;
	bool checking_disabled;
	uint16_t qtype;
	uint16_t qclass;
	/* the question (name, type, class) as received, echoed in the reply */
	const uint8_t *question;
	size_t question_length;
	/* the name lower-cased, in wire form with the root label; label i starts at
	 * name[labels[i]] (its length byte), i = 0 is the leftmost label */
	uint8_t name[DNS_NAME_WIRE_MAX];
	size_t name_length;
	size_t label_count;
	uint8_t labels[DNS_LABELS_MAX];
	/* EDNS (RFC 6891): valid when edns is true */
	bool edns;
	uint8_t edns_version;
	uint16_t edns_udp_size;
	bool edns_dnssec_ok;
};

/* A reply being written into a caller's buffer (see dns_reply_start). */
struct dns_reply {
	uint8_t *buffer;
	size_t limit;		/* largest message allowed: UDP payload size or 65535 */
	size_t length;		/* bytes written so far */
	size_t reserved;	/* room kept at the end for the OPT record */
	const struct dns_query *query;
	size_t question_end;
	uint16_t counts[3];	/* answer, authority, additional records written */
	enum dns_section section;
	uint16_t rcode;
	bool authoritative;
	bool truncated;		/* an answer or authority record did not fit */
};

/* An SOA record's data; names in wire form, lower case. */
struct dns_soa {
	const uint8_t *mname;
	size_t mname_length;
	const uint8_t *rname;
	size_t rname_length;
	uint32_t serial, refresh, retry, expire, minimum;
};

/* dns_query_parse - parse a packet received over UDP or TCP. Fills what it could read even
 * when the status is not OK (id, opcode and flags for an error reply). Rules: exactly one
 * question, no compression in it (nothing to point at), a name of at most 255 octets,
 * at most one OPT record (owner: root) among the additional records; bytes after the
 * announced records are ignored. */
enum dns_parse_status dns_query_parse(const uint8_t *packet, size_t length,
    struct dns_query *out);

/* dns_reply_start - begin a reply to query in buffer (buffer_size bytes). limit is the
 * largest message the client takes (it is clamped to buffer_size); the question is echoed
 * when query->question is set. rcode may be DNS_RCODE_BADVERS. Records that would not fit
 * are refused (false) and an answer or authority record that does not fit makes the
 * reply truncated. buffer_size must be at least DNS_UDP_PAYLOAD_MIN. */
void dns_reply_start(struct dns_reply *reply, const struct dns_query *query, uint8_t *buffer,
    size_t buffer_size, size_t limit, uint16_t rcode, bool authoritative);
/* dns_reply_udp_limit - the reply size a UDP client accepts: 512 without EDNS, else its
 * advertised payload size (at least 512), never above server_max. */
size_t dns_reply_udp_limit(const struct dns_query *query, size_t server_max);
/* dns_reply_add_a - an A record; owner is the offset of a name in the reply (the question
 * name starts at DNS_HEADER_SIZE; see dns_reply_owner) */
bool dns_reply_add_a(struct dns_reply *reply, enum dns_section section, uint16_t owner,
    uint32_t ttl, uint32_t address);
/* dns_reply_add_txt - a TXT record of one character-string (text longer than 255 octets
 * is cut to 255) */
bool dns_reply_add_txt(struct dns_reply *reply, enum dns_section section, uint16_t owner,
    uint32_t ttl, const char *text, size_t length);
/* dns_reply_add_ns - an NS record; name in wire form (compressed against the question) */
bool dns_reply_add_ns(struct dns_reply *reply, enum dns_section section, uint16_t owner,
    uint32_t ttl, const uint8_t *name, size_t name_length);
/* dns_reply_add_soa - an SOA record (names compressed against the question) */
bool dns_reply_add_soa(struct dns_reply *reply, enum dns_section section, uint16_t owner,
    uint32_t ttl, const struct dns_soa *soa);
/* dns_reply_finish - write the header and counts, add OPT when the query had EDNS (our
 * payload size is udp_size), and return the reply's length. A truncated reply keeps only
 * the header, the question and OPT, with TC set (RFC 2181 9, RFC 7766). */
size_t dns_reply_finish(struct dns_reply *reply, uint16_t udp_size);
/* dns_reply_owner - offset in the reply of the question name's suffix that starts at
 * label index (0 = whole name): an owner for dns_reply_add_*. */
uint16_t dns_reply_owner(const struct dns_query *query, size_t label);

/* dns_error_reply - a header-only reply with rcode for a query that could not be parsed
 * (FORMERR) or whose opcode we do not serve (NOTIMP); returns its length (12) or 0 when
 * buffer_size is too small. */
size_t dns_error_reply(const struct dns_query *query, uint16_t rcode, uint8_t *buffer,
    size_t buffer_size);

/* dns_name_from_text - "relays.bl.example.org" or with a trailing dot (or "." for the
 * root) into lower-case wire form; false for empty labels, labels over 63 octets, names
 * over 255 octets or bytes other than letters, digits, '-', '_' and '*'. */
bool dns_name_from_text(const char *text, uint8_t *out, size_t out_size, size_t *length);
/* dns_name_to_text - wire form to "a.b.c" ("." for the root); returns the text length or
 * 0 when it does not fit. Bytes outside [!-~] other than '.' are written as \DDD. */
size_t dns_name_to_text(const uint8_t *name, size_t length, char *out, size_t out_size);
/* dns_type_name - "A", "TXT", ... for the types counted in metrics; NULL for others */
const char *dns_type_name(uint16_t type);
/* dns_rcode_name - "NOERROR", "NXDOMAIN", ...; "RCODE<n>" style names are not made here:
 * NULL for codes without a name */
const char *dns_rcode_name(uint16_t rcode);

/* dns_name_skip - step over a possibly compressed name at *offset; false past the end. */
bool dns_name_skip(const uint8_t *packet, size_t length, size_t *offset);

/* dns_get16 / dns_get32 / dns_put16 / dns_put32 - big-endian (network order) integers in
 * packets; shared by the packet, transfer and NOTIFY code. */
static inline uint16_t
dns_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
dns_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void
dns_put16(uint8_t *p, uint16_t value)
{
	p[0] = (uint8_t)(value >> 8);
	p[1] = (uint8_t)value;
}

static inline void
dns_put32(uint8_t *p, uint32_t value)
{
	p[0] = (uint8_t)(value >> 24);
	p[1] = (uint8_t)(value >> 16);
	p[2] = (uint8_t)(value >> 8);
	p[3] = (uint8_t)value;
}

#endif
