/* dns_packet.c - DNS wire format for the DNSBL server: query parser and reply writer.
 * Pure and allocation-free (it runs for every packet); never reads past the given length. */
#include "dnsbl/dns_packet.h"

#include <stdio.h>
#include <string.h>

/* Header flag bits (RFC 1035 4.1.1, RFC 4035 for CD). */
#define DNS_FLAG_QR 0x8000u
#define DNS_FLAG_AA 0x0400u
#define DNS_FLAG_TC 0x0200u
#define DNS_FLAG_RD 0x0100u
#define DNS_FLAG_CD 0x0010u
#define DNS_OPCODE_SHIFT 11
#define DNS_OPCODE_MASK 0x0fu
#define DNS_RCODE_MASK 0x0fu
/* EDNS: DO bit in the OPT TTL field, extended rcode in its top octet (RFC 6891 6.1.3). */
#define DNS_EDNS_DO 0x8000u
#define DNS_EDNS_RCODE_SHIFT 24
#define DNS_EDNS_VERSION_SHIFT 16
/* Label length octets with either top bit set are pointers or extended labels. */
#define DNS_LABEL_TYPE_MASK 0xc0u
#define DNS_POINTER 0xc000u
/* Fixed part of a resource record after its owner name: type, class, TTL, RDLENGTH. */
#define DNS_RR_FIXED_SIZE 10
#define DNS_POINTER_SIZE 2
/* SOA RDATA after the two names: five 32-bit numbers. */
#define DNS_SOA_NUMBERS_SIZE 20
#define DNS_QUESTION_FIXED_SIZE 4




/* lower - ASCII lower case of one octet (DNS names compare case-insensitively) */
static uint8_t
lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* dns_name_skip - step over a possibly compressed name; false when it runs past the end */
bool
dns_name_skip(const uint8_t *packet, size_t length, size_t *offset)
{
	size_t at = *offset;

	for (;;) {
		if (at >= length)
			return false;
		uint8_t octet = packet[at];
		if ((octet & DNS_LABEL_TYPE_MASK) == DNS_LABEL_TYPE_MASK) {
			if (at + DNS_POINTER_SIZE > length)
				return false;
			*offset = at + DNS_POINTER_SIZE;
			return true;
		}
		if ((octet & DNS_LABEL_TYPE_MASK) != 0)
			return false;
		at += 1 + (size_t)octet;
		if (octet == 0) {
			*offset = at;
			return true;
		}
	}
}

/* parse_question_name - the uncompressed question name, lower-cased into out */
static bool
parse_question_name(const uint8_t *packet, size_t length, size_t *offset, struct dns_query *out)
{
	size_t at = *offset;
	size_t written = 0;

	out->label_count = 0;
	for (;;) {
		if (at >= length)
			return false;
		uint8_t label_length = packet[at];
		if ((label_length & DNS_LABEL_TYPE_MASK) != 0)
			return false;	/* no pointers in a question: nothing precedes it */
		if (written + 1 + (size_t)label_length > DNS_NAME_WIRE_MAX)
			return false;
		if (at + 1 + (size_t)label_length > length)
			return false;
		if (label_length == 0) {
			out->name[written++] = 0;
			out->name_length = written;
			*offset = at + 1;
			return true;
		}
		if (out->label_count == DNS_LABELS_MAX)
			return false;
		out->labels[out->label_count++] = (uint8_t)written;
		out->name[written++] = label_length;
		for (size_t i = 0; i < label_length; i++)
			out->name[written++] = lower(packet[at + 1 + i]);
		at += 1 + (size_t)label_length;
	}
}

/* parse_opt - the OPT record whose fixed part starts at rr (after its root owner) */
static bool
parse_opt(const uint8_t *rr, const uint8_t *rdata, size_t rdata_length, struct dns_query *out)
{
	size_t at = 0;

	if (out->edns)
		return false;	/* more than one OPT: FORMERR (RFC 6891 6.1.1) */
	out->edns = true;
	out->edns_udp_size = dns_get16(rr + 2);
	out->edns_version = rr[5];
	out->edns_dnssec_ok = (dns_get16(rr + 6) & DNS_EDNS_DO) != 0;
	/* Options are ignored, but must be well formed. */
	while (at < rdata_length) {
		if (at + 4 > rdata_length)
			return false;
		size_t option_length = dns_get16(rdata + at + 2);
		at += 4 + option_length;
		if (at > rdata_length)
			return false;
	}
	return true;
}

/* parse_records - step over count records, noting the OPT record among additionals */
static bool
parse_records(const uint8_t *packet, size_t length, size_t *offset, size_t count,
    bool additional, struct dns_query *out)
{
	for (size_t i = 0; i < count; i++) {
		size_t owner = *offset;
		if (!dns_name_skip(packet, length, offset))
			return false;
		if (*offset + DNS_RR_FIXED_SIZE > length)
			return false;
		const uint8_t *rr = packet + *offset;
		size_t rdata_length = dns_get16(rr + 8);
		if (*offset + DNS_RR_FIXED_SIZE + rdata_length > length)
			return false;
		if (additional && dns_get16(rr) == DNS_TYPE_OPT) {
			if (*offset != owner + 1 || packet[owner] != 0)
				return false;	/* OPT owner must be the root */
			if (!parse_opt(rr, rr + DNS_RR_FIXED_SIZE, rdata_length, out))
				return false;
		}
		*offset += DNS_RR_FIXED_SIZE + rdata_length;
	}
	return true;
}

enum dns_parse_status
dns_query_parse(const uint8_t *packet, size_t length, struct dns_query *out)
{
	size_t offset = DNS_HEADER_SIZE;

	out->question = NULL;
	out->question_length = 0;
	out->name_length = 0;
	out->label_count = 0;
	out->qtype = 0;
	out->qclass = 0;
	out->edns = false;
	out->edns_version = 0;
	out->edns_udp_size = 0;
	out->edns_dnssec_ok = false;
	if (length < DNS_HEADER_SIZE)
		return DNS_PARSE_IGNORE;
	uint16_t flags = dns_get16(packet + 2);
	out->id = dns_get16(packet);
	out->opcode = (uint8_t)((flags >> DNS_OPCODE_SHIFT) & DNS_OPCODE_MASK);
	out->recursion_desired = (flags & DNS_FLAG_RD) != 0;
	out->checking_disabled = (flags & DNS_FLAG_CD) != 0;
	if (flags & DNS_FLAG_QR)
		return DNS_PARSE_IGNORE;	/* never answer a response: no reflection loops */
	if (out->opcode != DNS_OPCODE_QUERY)
		return DNS_PARSE_NOTIMP;
	if (dns_get16(packet + 4) != 1)
		return DNS_PARSE_FORMERR;
	if (!parse_question_name(packet, length, &offset, out))
		return DNS_PARSE_FORMERR;
	if (offset + DNS_QUESTION_FIXED_SIZE > length)
		return DNS_PARSE_FORMERR;
	out->qtype = dns_get16(packet + offset);
	out->qclass = dns_get16(packet + offset + 2);
	offset += DNS_QUESTION_FIXED_SIZE;
	out->question = packet + DNS_HEADER_SIZE;
	out->question_length = offset - DNS_HEADER_SIZE;
	if (!parse_records(packet, length, &offset, dns_get16(packet + 6), false, out) ||
	    !parse_records(packet, length, &offset, dns_get16(packet + 8), false, out) ||
	    !parse_records(packet, length, &offset, dns_get16(packet + 10), true, out)) {
		out->edns = false;	/* a FORMERR reply carries no OPT (RFC 6891 7) */
		return DNS_PARSE_FORMERR;
	}
	if (out->edns && out->edns_version != 0)
		return DNS_PARSE_BADVERS;
	return DNS_PARSE_OK;
}

size_t
dns_reply_udp_limit(const struct dns_query *query, size_t server_max)
{
	size_t limit = DNS_UDP_PAYLOAD_MIN;

	if (query->edns && query->edns_udp_size > DNS_UDP_PAYLOAD_MIN)
		limit = query->edns_udp_size;
	if (limit > server_max)
		limit = server_max;
	if (limit < DNS_UDP_PAYLOAD_MIN)
		limit = DNS_UDP_PAYLOAD_MIN;
	return limit;
}

void
dns_reply_start(struct dns_reply *reply, const struct dns_query *query, uint8_t *buffer,
    size_t buffer_size, size_t limit, uint16_t rcode, bool authoritative)
{
	memset(reply, 0, sizeof(*reply));
	reply->buffer = buffer;
	reply->limit = limit < buffer_size ? limit : buffer_size;
	if (reply->limit > DNS_MESSAGE_MAX)
		reply->limit = DNS_MESSAGE_MAX;
	reply->query = query;
	reply->rcode = rcode;
	reply->authoritative = authoritative;
	reply->reserved = query->edns ? DNS_OPT_RECORD_SIZE : 0;
	reply->section = DNS_SECTION_ANSWER;
	reply->length = DNS_HEADER_SIZE;
	if (query->question != NULL &&
	    DNS_HEADER_SIZE + query->question_length + reply->reserved <= reply->limit) {
		memcpy(buffer + DNS_HEADER_SIZE, query->question, query->question_length);
		reply->length += query->question_length;
	}
	reply->question_end = reply->length;
}

uint16_t
dns_reply_owner(const struct dns_query *query, size_t label)
{
	if (label >= query->label_count)
		return (uint16_t)(DNS_HEADER_SIZE + query->name_length - 1);
	return (uint16_t)(DNS_HEADER_SIZE + query->labels[label]);
}

/* reply_room - can size more bytes go in section? Marks truncation when they cannot. */
static bool
reply_room(struct dns_reply *reply, enum dns_section section, size_t size)
{
	if (reply->truncated || section < reply->section ||
	    reply->question_end == DNS_HEADER_SIZE)
		return false;
	if (reply->length + size + reply->reserved > reply->limit) {
		if (section != DNS_SECTION_ADDITIONAL)
			reply->truncated = true;
		return false;
	}
	return true;
}

/* compressed_size - bytes name takes when written by put_name; *suffix_label gets the
 * label of name from which a pointer into the question replaces the rest, or the label
 * count when the whole name is written out. */
static size_t
compressed_size(const struct dns_reply *reply, const uint8_t *name, size_t name_length,
    size_t *suffix_label, size_t *pointer)
{
	const struct dns_query *query = reply->query;
	size_t offsets[DNS_LABELS_MAX];
	size_t count = 0;
	size_t at = 0;

	while (at < name_length && name[at] != 0 && count < DNS_LABELS_MAX) {
		offsets[count++] = at;
		at += 1 + (size_t)name[at];
	}
	*suffix_label = count;
	*pointer = 0;
	size_t common = count < query->label_count ? count : query->label_count;
	for (size_t m = common; m > 0; m--) {
		size_t ours = offsets[count - m];
		size_t theirs = query->labels[query->label_count - m];
		size_t ours_length = name_length - ours;
		if (ours_length == query->name_length - theirs &&
		    memcmp(name + ours, query->name + theirs, ours_length) == 0) {
			*suffix_label = count - m;
			*pointer = DNS_HEADER_SIZE + theirs;
			return ours + DNS_POINTER_SIZE;
		}
	}
	return name_length;
}

/* put_name - write name at the end of the reply, compressed against the question; the
 * caller has made room for compressed_size() bytes */
static void
put_name(struct dns_reply *reply, const uint8_t *name, size_t name_length)
{
	size_t suffix_label;
	size_t pointer;
	size_t size = compressed_size(reply, name, name_length, &suffix_label, &pointer);

	if (pointer == 0) {
		memcpy(reply->buffer + reply->length, name, name_length);
		reply->length += name_length;
		return;
	}
	size_t prefix = size - DNS_POINTER_SIZE;
	memcpy(reply->buffer + reply->length, name, prefix);
	dns_put16(reply->buffer + reply->length + prefix, (uint16_t)(DNS_POINTER | pointer));
	reply->length += size;
}

/* put_record_head - owner pointer, type, class IN, TTL and RDLENGTH */
static void
put_record_head(struct dns_reply *reply, enum dns_section section, uint16_t owner,
    uint16_t type, uint32_t ttl, size_t rdata_length)
{
	uint8_t *p = reply->buffer + reply->length;

	dns_put16(p, (uint16_t)(DNS_POINTER | owner));
	dns_put16(p + 2, type);
	dns_put16(p + 4, DNS_CLASS_IN);
	dns_put32(p + 6, ttl);
	dns_put16(p + 10, (uint16_t)rdata_length);
	reply->length += DNS_POINTER_SIZE + DNS_RR_FIXED_SIZE;
	reply->section = section;
	reply->counts[section]++;
}

bool
dns_reply_add_a(struct dns_reply *reply, enum dns_section section, uint16_t owner,
    uint32_t ttl, uint32_t address)
{
	if (!reply_room(reply, section, DNS_POINTER_SIZE + DNS_RR_FIXED_SIZE + 4))
		return false;
	put_record_head(reply, section, owner, DNS_TYPE_A, ttl, 4);
	dns_put32(reply->buffer + reply->length, address);
	reply->length += 4;
	return true;
}

bool
dns_reply_add_txt(struct dns_reply *reply, enum dns_section section, uint16_t owner,
    uint32_t ttl, const char *text, size_t length)
{
	if (length > DNS_TXT_STRING_MAX)
		length = DNS_TXT_STRING_MAX;
	if (!reply_room(reply, section, DNS_POINTER_SIZE + DNS_RR_FIXED_SIZE + 1 + length))
		return false;
	put_record_head(reply, section, owner, DNS_TYPE_TXT, ttl, 1 + length);
	reply->buffer[reply->length++] = (uint8_t)length;
	memcpy(reply->buffer + reply->length, text, length);
	reply->length += length;
	return true;
}

bool
dns_reply_add_ns(struct dns_reply *reply, enum dns_section section, uint16_t owner,
    uint32_t ttl, const uint8_t *name, size_t name_length)
{
	size_t suffix_label;
	size_t pointer;
	size_t size = compressed_size(reply, name, name_length, &suffix_label, &pointer);

	if (!reply_room(reply, section, DNS_POINTER_SIZE + DNS_RR_FIXED_SIZE + size))
		return false;
	put_record_head(reply, section, owner, DNS_TYPE_NS, ttl, size);
	put_name(reply, name, name_length);
	return true;
}

bool
dns_reply_add_soa(struct dns_reply *reply, enum dns_section section, uint16_t owner,
    uint32_t ttl, const struct dns_soa *soa)
{
	size_t suffix_label;
	size_t pointer;
	size_t mname_size = compressed_size(reply, soa->mname, soa->mname_length, &suffix_label,
	    &pointer);
	size_t rname_size = compressed_size(reply, soa->rname, soa->rname_length, &suffix_label,
	    &pointer);
	size_t rdata_length = mname_size + rname_size + DNS_SOA_NUMBERS_SIZE;

	if (!reply_room(reply, section, DNS_POINTER_SIZE + DNS_RR_FIXED_SIZE + rdata_length))
		return false;
	put_record_head(reply, section, owner, DNS_TYPE_SOA, ttl, rdata_length);
	put_name(reply, soa->mname, soa->mname_length);
	put_name(reply, soa->rname, soa->rname_length);
	uint8_t *p = reply->buffer + reply->length;
	dns_put32(p, soa->serial);
	dns_put32(p + 4, soa->refresh);
	dns_put32(p + 8, soa->retry);
	dns_put32(p + 12, soa->expire);
	dns_put32(p + 16, soa->minimum);
	reply->length += DNS_SOA_NUMBERS_SIZE;
	return true;
}

/* put_header - the reply header for query with the given counts */
static void
put_header(uint8_t *buffer, const struct dns_query *query, uint16_t rcode, bool authoritative,
    bool truncated, uint16_t qdcount, const uint16_t counts[3])
{
	uint16_t flags = DNS_FLAG_QR | (uint16_t)((query->opcode & DNS_OPCODE_MASK) <<
	    DNS_OPCODE_SHIFT) | (rcode & DNS_RCODE_MASK);

	if (authoritative)
		flags |= DNS_FLAG_AA;
	if (truncated)
		flags |= DNS_FLAG_TC;
	if (query->recursion_desired)
		flags |= DNS_FLAG_RD;
	if (query->checking_disabled)
		flags |= DNS_FLAG_CD;
	dns_put16(buffer, query->id);
	dns_put16(buffer + 2, flags);
	dns_put16(buffer + 4, qdcount);
	dns_put16(buffer + 6, counts[0]);
	dns_put16(buffer + 8, counts[1]);
	dns_put16(buffer + 10, counts[2]);
}

size_t
dns_reply_finish(struct dns_reply *reply, uint16_t udp_size)
{
	const struct dns_query *query = reply->query;

	if (reply->truncated) {
		reply->length = reply->question_end;
		memset(reply->counts, 0, sizeof(reply->counts));
	}
	if (query->edns && reply->length + DNS_OPT_RECORD_SIZE <= reply->limit) {
		uint8_t *p = reply->buffer + reply->length;
		uint32_t ttl = ((uint32_t)(reply->rcode >> 4) << DNS_EDNS_RCODE_SHIFT) |
		    (query->edns_dnssec_ok ? DNS_EDNS_DO : 0);
		p[0] = 0;	/* owner: the root */
		dns_put16(p + 1, DNS_TYPE_OPT);
		dns_put16(p + 3, udp_size < DNS_UDP_PAYLOAD_MIN ? DNS_UDP_PAYLOAD_MIN : udp_size);
		dns_put32(p + 5, ttl);
		dns_put16(p + 9, 0);
		reply->length += DNS_OPT_RECORD_SIZE;
		reply->counts[DNS_SECTION_ADDITIONAL]++;
	}
	put_header(reply->buffer, query, reply->rcode, reply->authoritative, reply->truncated,
	    reply->question_end > DNS_HEADER_SIZE ? 1 : 0, reply->counts);
	return reply->length;
}

size_t
dns_error_reply(const struct dns_query *query, uint16_t rcode, uint8_t *buffer,
    size_t buffer_size)
{
	static const uint16_t no_records[3];

	if (buffer_size < DNS_HEADER_SIZE)
		return 0;
	put_header(buffer, query, rcode, false, false, 0, no_records);
	return DNS_HEADER_SIZE;
}

/* name_octet_allowed - octets accepted in names from configuration and data files */
static bool
name_octet_allowed(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

bool
dns_name_from_text(const char *text, uint8_t *out, size_t out_size, size_t *length)
{
	size_t text_length = strlen(text);
	size_t written = 0;
	size_t start = 0;

	if (text_length > 0 && text[text_length - 1] == '.')
		text_length--;
	if (out_size < 1)
		return false;
	if (text_length == 0) {
		out[0] = 0;
		*length = 1;
		return true;
	}
	while (start <= text_length) {
		size_t end = start;
		while (end < text_length && text[end] != '.')
			end++;
		size_t label = end - start;
		if (label == 0 || label > DNS_LABEL_MAX)
			return false;
		if (written + 1 + label + 1 > DNS_NAME_WIRE_MAX || written + 1 + label + 1 > out_size)
			return false;
		out[written++] = (uint8_t)label;
		for (size_t i = start; i < end; i++) {
			if (!name_octet_allowed(text[i]))
				return false;
			out[written++] = lower((uint8_t)text[i]);
		}
		start = end + 1;
	}
	out[written++] = 0;
	*length = written;
	return true;
}

size_t
dns_name_to_text(const uint8_t *name, size_t length, char *out, size_t out_size)
{
	size_t at = 0;
	size_t written = 0;

	if (out_size < 2)
		return 0;
	if (length == 0 || name[0] == 0) {
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	while (at < length && name[at] != 0) {
		size_t label = name[at];
		if (at + 1 + label > length)
			return 0;
		if (written > 0) {
			if (written + 1 >= out_size)
				return 0;
			out[written++] = '.';
		}
		for (size_t i = 0; i < label; i++) {
			uint8_t c = name[at + 1 + i];
			if (c > ' ' && c <= '~' && c != '.' && c != '\\') {
				if (written + 1 >= out_size)
					return 0;
				out[written++] = (char)c;
			} else {
				if (written + 4 >= out_size)
					return 0;
				snprintf(out + written, 5, "\\%03u", (unsigned)c);
				written += 4;
			}
		}
		at += 1 + label;
	}
	out[written] = '\0';
	return written;
}

const char *
dns_type_name(uint16_t type)
{
	switch (type) {
	case DNS_TYPE_A: return "A";
	case DNS_TYPE_NS: return "NS";
	case DNS_TYPE_CNAME: return "CNAME";
	case DNS_TYPE_SOA: return "SOA";
	case DNS_TYPE_PTR: return "PTR";
	case DNS_TYPE_MX: return "MX";
	case DNS_TYPE_TXT: return "TXT";
	case DNS_TYPE_AAAA: return "AAAA";
	case DNS_TYPE_IXFR: return "IXFR";
	case DNS_TYPE_AXFR: return "AXFR";
	case DNS_TYPE_ANY: return "ANY";
	case DNS_TYPE_CAA: return "CAA";
	default: return NULL;
	}
}

const char *
dns_rcode_name(uint16_t rcode)
{
	switch (rcode) {
	case DNS_RCODE_NOERROR: return "NOERROR";
	case DNS_RCODE_FORMERR: return "FORMERR";
	case DNS_RCODE_SERVFAIL: return "SERVFAIL";
	case DNS_RCODE_NXDOMAIN: return "NXDOMAIN";
	case DNS_RCODE_NOTIMP: return "NOTIMP";
	case DNS_RCODE_REFUSED: return "REFUSED";
	case DNS_RCODE_BADVERS: return "BADVERS";
	default: return NULL;
	}
}
