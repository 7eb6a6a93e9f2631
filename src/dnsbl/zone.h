/* zone.h - DNSBL zones: immutable snapshots of zone names, datasets, SOA and NS, and the
 * answer to one query packet (RFC 5782 names). Snapshots are swapped whole on reload. */
#ifndef RELAYGUARD_DNSBL_ZONE_H
#define RELAYGUARD_DNSBL_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsbl/dataset.h"
#include "dnsbl/dns_packet.h"

/* Most A or TXT values one name collects over the datasets of its zone. */
#define ZONE_VALUES_MAX 16
/* Most NS records at a zone apex (as rbldnsd's $NS). */
#define ZONE_NS_MAX DATASET_NS_MAX
/* SOA timers used when no dataset has a $SOA line (RFC 1912 2.2 ranges). */
#define ZONE_DEFAULT_REFRESH 3600
#define ZONE_DEFAULT_RETRY 600
#define ZONE_DEFAULT_EXPIRE 604800

/* One loaded dataset, shared by every snapshot that uses it (reference counted, so a reload
 * that changes one file keeps the other datasets as they are). */
struct zone_data;
/* zone_data_new - wrap a dataset (ownership passes to the wrapper; one reference) */
struct zone_data *zone_data_new(struct dataset *set, enum dataset_type type);
void zone_data_ref(struct zone_data *data);
/* zone_data_unref - drop a reference; the dataset is freed with the last one */
void zone_data_unref(struct zone_data *data);
const struct dataset *zone_data_dataset(const struct zone_data *data);

/* What a zone uses when its datasets say nothing (no $SOA, $NS or $TTL). */
struct zone_defaults {
	uint32_t ttl;				/* A/TXT TTL without $TTL */
	uint32_t ttl_min;			/* every TTL is raised to at least this */
	uint32_t ttl_max;			/* and lowered to at most this */
	char ns[ZONE_NS_MAX][DNS_NAME_TEXT_MAX];	/* apex NS names when no $NS */
	size_t ns_count;			/* at least 1 */
	char hostmaster[DNS_NAME_TEXT_MAX];	/* SOA RNAME; "" = hostmaster.ZONE */
	uint32_t negative_ttl;			/* SOA MINIMUM without $SOA */
	uint32_t serial;			/* SOA serial when no file time is known */
};

/* The input of one zone: its name and datasets (several = rbldnsd's several
 * zone:type:file arguments for one zone). */
struct zone_spec {
	const char *name;
	struct zone_data *const *data;
	size_t data_count;
};

struct zone_snapshot;

/* zone_snapshot_build - a snapshot of count zones (it takes its own references on the
 * data); NULL and a message for a bad zone name, a bad default NS/hostmaster name or two
 * zones of the same name. $SOA/$NS come from the first dataset of a zone that has them. */
struct zone_snapshot *zone_snapshot_build(const struct zone_spec *specs, size_t count,
    const struct zone_defaults *defaults, uint64_t generation, char *err, size_t err_size);
/* zone_snapshot_free - drop the snapshot and its data references (no reader may hold it) */
void zone_snapshot_free(struct zone_snapshot *snapshot);
uint64_t zone_snapshot_generation(const struct zone_snapshot *snapshot);
size_t zone_snapshot_zone_count(const struct zone_snapshot *snapshot);
/* zone_snapshot_zone_name - zone index's name in text form, lower case, no trailing dot */
const char *zone_snapshot_zone_name(const struct zone_snapshot *snapshot, size_t index);
/* zone_snapshot_zone_stats - entries and lookup bytes of all the zone's datasets, and its
 * SOA serial */
void zone_snapshot_zone_stats(const struct zone_snapshot *snapshot, size_t index,
    size_t *entries, size_t *memory_bytes, uint32_t *serial);

/* What an answered packet was, for metrics and logs. */
enum zone_result {
	ZONE_RESULT_LISTED,	/* A/TXT for a listed address */
	ZONE_RESULT_NXDOMAIN,	/* not listed (or excluded), or no such name */
	ZONE_RESULT_NODATA,	/* name exists (listed, apex or empty non-terminal), type not */
	ZONE_RESULT_APEX,	/* SOA/NS at the apex */
	ZONE_RESULT_REFUSED,	/* outside our zones, another class, or a zone transfer */
	ZONE_RESULT_FORMERR,	/* malformed query */
	ZONE_RESULT_NOTIMP,	/* opcode other than QUERY */
	ZONE_RESULT_BADVERS,	/* EDNS version other than 0 */
	ZONE_RESULT_IGNORED,	/* no reply sent: a response, or shorter than a header */
};
#define ZONE_RESULT_COUNT (ZONE_RESULT_IGNORED + 1)

struct zone_answer_info {
	int zone;		/* index of the zone that answered; -1 for none */
	uint16_t qtype;		/* 0 when the packet had no readable question */
	uint16_t rcode;
	enum zone_result result;
	bool truncated;		/* the reply has TC set */
	bool edns;
};

/* zone_answer_packet - the whole answer to one received packet: parse it, find the zone
 * and the name, write the reply into out (out_size >= 512 bytes). Over UDP (tcp false) the
 * reply fits the client's size (512 without EDNS, its EDNS size, at most udp_max) or is
 * truncated with TC; over TCP it may use 65535 bytes (out_size permitting). udp_max is also
 * the payload size advertised in OPT. Returns the reply length, 0 for "send nothing".
 * Never allocates; snapshot may be NULL (then every zone query is REFUSED). */
size_t zone_answer_packet(const struct zone_snapshot *snapshot, const uint8_t *packet,
    size_t length, bool tcp, size_t udp_max, uint8_t *out, size_t out_size,
    struct zone_answer_info *info);

/* The current snapshot, shared by the workers and swapped by the loader. */
struct zone_snapshot_slot;
struct zone_snapshot_slot *zone_snapshot_slot_new(void);
/* zone_snapshot_slot_free - free the slot and its snapshot (no reader may be left) */
void zone_snapshot_slot_free(struct zone_snapshot_slot *slot);
/* zone_snapshot_acquire - the current snapshot (or NULL), held until released; cheap
 * enough to call once per batch of packets */
const struct zone_snapshot *zone_snapshot_acquire(struct zone_snapshot_slot *slot);
void zone_snapshot_release(const struct zone_snapshot *snapshot);
/* zone_snapshot_swap - make next current at once; then wait until the readers of the old
 * snapshot have released it, and free it. Called by one thread at a time (the loader). */
void zone_snapshot_swap(struct zone_snapshot_slot *slot, struct zone_snapshot *next);

/* ---- for zone transfers (xfr.c, journal.c) ---- */

/* What a zone transfer needs of one zone of a snapshot: pointers into the snapshot, valid
 * while it is held (take zone_data references to keep the datasets longer). */
struct zone_view {
	const char *name;			/* text, lower case, no trailing dot */
	const uint8_t *wire;			/* the apex in wire form */
	size_t wire_length;
	const struct dns_soa *soa;
	uint32_t soa_ttl;
	const uint8_t (*ns)[DNS_NAME_WIRE_MAX];
	const size_t *ns_length;
	size_t ns_count;
	uint32_t ns_ttl;
	struct zone_data *const *data;		/* the datasets in answer order */
	const uint32_t *data_ttl;		/* answer TTL of each dataset */
	size_t data_count;
	bool has_ipv4;				/* IPv4 names are answered (an IPv4 dataset) */
	bool has_ipv6;				/* an IPv6 dataset */
};
/* zone_snapshot_zone_view - zone index of snapshot as zone transfers see it */
void zone_snapshot_zone_view(const struct zone_snapshot *snapshot, size_t index,
    struct zone_view *out);
/* zone_data_type - the dataset type of shared data */
enum dataset_type zone_data_type(const struct zone_data *data);
/* zone_snapshot_set_serial - the SOA serial zone index serves; only on a snapshot that is
 * not served yet (the swap hook "before" is the place) */
void zone_snapshot_set_serial(struct zone_snapshot *snapshot, size_t index, uint32_t serial);
/* Called by zone_snapshot_swap in the swapping thread: before next is served (it may still
 * be changed; served is the snapshot served now, NULL at first), and after next is served
 * (served is the one just replaced, still valid, NULL at first). */
typedef void (*zone_swap_hook)(void *context, const struct zone_snapshot *served,
    struct zone_snapshot *next);
/* zone_snapshot_slot_set_hooks - set the hooks (either may be NULL) before the first swap */
void zone_snapshot_slot_set_hooks(struct zone_snapshot_slot *slot, zone_swap_hook before,
    zone_swap_hook after, void *context);

#endif
