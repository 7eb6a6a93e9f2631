/* xfr.h - zone transfers of `relayguard dnsbl`: AXFR and IXFR over TCP (RFC 5936, RFC 1995)
 * that write DNSBL data as the names a standard secondary (NSD, Knot, BIND) can serve.
 * Called by dnsbl_server.c (transfers), journal.c (record walks) and dnsbl_main.c (service);
 * never changes a served snapshot and never blocks the UDP workers.
 *
 * How a DNSBL becomes an ordinary zone (relayguard-dnsbl(8), "Zone transfers"):
 * the names below the apex form a tree (IPv4: four octet labels; IPv6: 32 nibble labels).
 * A block of addresses that all get the same answer becomes one wildcard "*.N" (RFC 4592:
 * it answers every name below N that does not exist), a single address an explicit name,
 * and an address or block that must not match a wildcard above it (an exclusion) becomes
 * a CNAME to "excluded.ZONE", a name that never exists, so the final answer is NXDOMAIN
 * (RFC 6604), as rbldnsd -d writes exclusions. Because a name that exists stops every
 * wildcard above it, each node with names below it gets its own wildcard where needed. */
#ifndef RELAYGUARD_DNSBL_XFR_H
#define RELAYGUARD_DNSBL_XFR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netaddr.h"
#include "dnsbl/dns_packet.h"
#include "dnsbl/zone.h"

/* Largest transfer message: the TCP length prefix is 16 bits (RFC 5936 2.2). */
#define XFR_MESSAGE_MAX DNS_MESSAGE_MAX
/* The label of the name exclusions point at: "excluded.ZONE" (as rbldnsd -d). */
#define XFR_EXCLUDED_LABEL "excluded"
/* NOTAUTH: we are not authoritative for the zone asked for (RFC 2845 / RFC 8945). */
#define XFR_RCODE_NOTAUTH 9
/* Labels below the apex of the deepest name (an IPv6 address: 32 nibbles). */
#define XFR_LABELS_MAX 32

/* The trees a record belongs to; the apex holds NS (and SOA). */
enum xfr_tree {
	XFR_TREE_APEX = 0,
	XFR_TREE_IPV4 = 1,
	XFR_TREE_IPV6 = 2,
};

/* A zone's SOA as a transfer writes it; names in wire form, lower case. */
struct xfr_soa {
	uint8_t mname[DNS_NAME_WIRE_MAX];
	size_t mname_length;
	uint8_t rname[DNS_NAME_WIRE_MAX];
	size_t rname_length;
	uint32_t ttl;
	uint32_t serial, refresh, retry, expire, minimum;
};

/* One resource record of a zone. The owner is the apex plus depth labels, labels[0]
 * nearest the apex (an octet for IPv4, a nibble for IPv6), and "*" below them when
 * wildcard is set. A: a; TXT: data is the text; NS: data is the name in wire form;
 * CNAME: the target is always "excluded.ZONE"; SOA (only as transfer items): soa. */
struct xfr_record {
	uint8_t tree;
	uint8_t depth;
	bool wildcard;
	uint8_t labels[XFR_LABELS_MAX];
	uint16_t type;
	uint32_t ttl;
	uint32_t a;
	uint16_t data_length;
	uint8_t data[DNS_NAME_WIRE_MAX + 1];
	const struct xfr_soa *soa;
};

/* An owned copy of what transfers need of one zone: apex data copied, datasets referenced
 * (zone_data_ref), so a transfer outlives the snapshot it started from. */
struct xfr_zone {
	char name[DNS_NAME_TEXT_MAX];
	uint8_t wire[DNS_NAME_WIRE_MAX];
	size_t wire_length;
	struct xfr_soa soa;
	uint8_t ns[ZONE_NS_MAX][DNS_NAME_WIRE_MAX];
	size_t ns_length[ZONE_NS_MAX];
	size_t ns_count;
	uint32_t ns_ttl;
	struct zone_data **data;
	uint32_t *data_ttl;
	size_t data_count;
	bool has_ipv4;
	bool has_ipv6;
};

/* xfr_zone_new - copy zone view (taking references on its datasets) */
struct xfr_zone *xfr_zone_new(const struct zone_view *view);
void xfr_zone_free(struct xfr_zone *zone);
/* xfr_zone_same_data - same datasets (the very same loaded data), TTLs and apex records
 * apart from the serial: nothing a transfer writes can differ */
bool xfr_zone_same_data(const struct xfr_zone *a, const struct xfr_zone *b);
/* xfr_soa_same_but_serial - the SOA records differ in nothing but the serial */
bool xfr_soa_same_but_serial(const struct xfr_soa *a, const struct xfr_soa *b);

/* The records of a zone apart from its SOA, in canonical order: the NS records, the IPv4
 * tree, then the IPv6 tree (with v4-mapped copies of the IPv4 data when the zone has IPv6
 * data), each tree in pre-order (a name, its wildcard, then its children by label). */
struct xfr_walk;
/* xfr_walk_new - prepare the walk (reads every dataset of zone once); zone must outlive it */
struct xfr_walk *xfr_walk_new(const struct xfr_zone *zone);
/* xfr_walk_next - the next record; false at the end */
bool xfr_walk_next(struct xfr_walk *walk, struct xfr_record *out);
void xfr_walk_free(struct xfr_walk *walk);
/* xfr_walk_pair - walks of a and b that leave out the subtrees below the apex (one per
 * first octet or nibble) where both give the same records: what remains holds every
 * difference (journal_diff). Free both with xfr_walk_free. */
void xfr_walk_pair(const struct xfr_zone *a, const struct xfr_zone *b, struct xfr_walk **walk_a,
    struct xfr_walk **walk_b);
/* xfr_record_compare - the canonical order of xfr_walk_next (< 0, 0, > 0) */
int xfr_record_compare(const struct xfr_record *a, const struct xfr_record *b);
/* xfr_record_encode - a compact byte form of record (no SOA) appended at out; returns the
 * bytes written, 0 when out_size is too small */
size_t xfr_record_encode(const struct xfr_record *record, uint8_t *out, size_t out_size);
/* xfr_record_decode - the record at *offset of an xfr_record_encode() buffer; advances
 * *offset; false at the end or on bytes that are not such a record */
bool xfr_record_decode(const uint8_t *buffer, size_t length, size_t *offset,
    struct xfr_record *out);
/* xfr_record_owner_text - the owner name as text ("*.2.0.192.relays.bl.test"), for logs
 * and tests; returns the length or 0 when it does not fit */
size_t xfr_record_owner_text(const struct xfr_record *record, const struct xfr_zone *zone,
    char *out, size_t out_size);

/* A transfer message being written: header, the question, records, OPT when asked. */
struct xfr_writer {
	uint8_t *buffer;
	size_t limit;
	size_t length;
	size_t reserved;		/* room kept for OPT */
	const struct dns_query *query;
	const struct xfr_zone *zone;
	bool question;			/* the question is in (names point at it) */
	uint16_t count;
	uint16_t rcode;
};
/* xfr_writer_start - a message answering query (whose name is zone's apex, echoed so that
 * names can point at it) of at most limit bytes (at most buffer_size, XFR_MESSAGE_MAX) */
void xfr_writer_start(struct xfr_writer *writer, const struct dns_query *query,
    const struct xfr_zone *zone, uint16_t rcode, uint8_t *buffer, size_t buffer_size,
    size_t limit);
/* xfr_writer_add - append one record; false when it does not fit (nothing written) */
bool xfr_writer_add(struct xfr_writer *writer, const struct xfr_record *record);
/* xfr_writer_finish - header and OPT; returns the message length */
size_t xfr_writer_finish(struct xfr_writer *writer);

/* xfr_ixfr_serial - the serial of the SOA in the authority section of an IXFR query
 * (RFC 1995 3); false when there is none or the packet is malformed. Pure. */
bool xfr_ixfr_serial(const uint8_t *packet, size_t length, uint32_t *serial);
/* xfr_query_is_transfer - a well-formed QUERY for AXFR or IXFR (so the server hands it
 * here rather than to the answer code) */
bool xfr_query_is_transfer(const uint8_t *packet, size_t length);
/* xfr_serial_newer - RFC 1982 serial number order: a is newer than b */
bool xfr_serial_newer(uint32_t a, uint32_t b);

struct journal;

/* One transfer in progress: the messages of an AXFR, an IXFR or an error reply. */
struct xfr_transfer;
/* xfr_transfer_start - answer the AXFR/IXFR query packet from snapshot (held only during
 * this call) and journal (may be NULL: every IXFR gets the whole zone); message_max is the
 * largest message (at most XFR_MESSAGE_MAX). NULL when packet is not a transfer query. */
struct xfr_transfer *xfr_transfer_start(const struct zone_snapshot *snapshot,
    struct journal *journal, const uint8_t *packet, size_t length, size_t message_max);
/* xfr_transfer_next - write the next message into out; 0 when all were written */
size_t xfr_transfer_next(struct xfr_transfer *transfer, uint8_t *out, size_t out_size);
/* what was sent, for the log line at the end */
struct xfr_transfer_summary {
	const char *zone;		/* "" when no zone matched */
	const char *kind;		/* "AXFR", "IXFR" (differences), "IXFR-full", "IXFR-current",
					 * or "error" */
	uint16_t rcode;
	uint32_t serial;
	uint32_t client_serial;		/* IXFR only */
	size_t messages;
	size_t records;
};
void xfr_transfer_summary(const struct xfr_transfer *transfer,
    struct xfr_transfer_summary *out);
void xfr_transfer_free(struct xfr_transfer *transfer);

/* The zone-transfer service of a running server: the address ACL, the journal fed at every
 * snapshot swap, and NOTIFY to the secondaries. */
struct xfr_service;
struct event_base;
struct xfr_service_config {
	const char *const *allow;	/* CIDRs or addresses allowed to transfer; none: refuse all */
	size_t allow_count;
	const char *const *notify;	/* ADDR[:PORT] of secondaries to NOTIFY */
	size_t notify_count;
	size_t journal_bytes;		/* journal size per server; 0: IXFR sends whole zones */
};
/* xfr_service_new - parse the configuration and hook into slot's swaps (before the first
 * swap); NULL and a message for a bad prefix or target */
struct xfr_service *xfr_service_new(const struct xfr_service_config *config,
    struct zone_snapshot_slot *slot, char *err, size_t err_size);
/* xfr_service_start - send NOTIFY from base's loop (queued ones go out then) */
bool xfr_service_start(struct xfr_service *service, struct event_base *base, char *err,
    size_t err_size);
/* xfr_service_allows - may client transfer zones? */
bool xfr_service_allows(const struct xfr_service *service, const struct netaddr *client);
/* xfr_service_begin - a transfer for client from the served snapshot (held by the caller
 * until done), or NULL when the client is not allowed (logged; the caller answers REFUSED) */
struct xfr_transfer *xfr_service_begin(struct xfr_service *service,
    const struct netaddr *client, const uint8_t *packet, size_t length);
/* xfr_service_finish - log how the transfer ended (complete: every message was queued)
 * and free it */
void xfr_service_finish(struct xfr_service *service, const struct netaddr *client,
    struct xfr_transfer *transfer, bool complete);
/* xfr_service_journal - the journal the swaps feed (tests, status) */
struct journal *xfr_service_journal(struct xfr_service *service);
/* xfr_service_free - unhook nothing (call after the last swap), free everything */
void xfr_service_free(struct xfr_service *service);

#endif
