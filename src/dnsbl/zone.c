/* zone.c - DNSBL zones: snapshot building, the RFC 5782 name rules and the answer to a query.
 * zone_answer_packet() runs for every packet: no allocation, no locks, no I/O there. */
#include "dnsbl/zone.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

/* Labels of a reversed IPv4 name and of a reversed-nibble IPv6 name (RFC 5782 2.1, 2.4). */
#define IPV4_LABELS 4
#define IPV6_LABELS 32
#define IPV4_BYTES 4
#define IPV6_BYTES 16
/* A v4-mapped address ::ffff:a.b.c.d starts with 20 zero nibbles (RFC 4291 2.5.5.2). */
#define MAPPED_ZERO_NIBBLES 20
/* How long zone_snapshot_swap sleeps between looks at the old snapshot's readers. */
#define SWAP_WAIT_NS 100000L

struct zone_data {
	atomic_size_t references;
	struct dataset *set;
	enum dataset_type type;
};

struct zone {
	char name[DNS_NAME_TEXT_MAX];
	uint8_t wire[DNS_NAME_WIRE_MAX];
	size_t wire_length;
	size_t label_count;
	struct zone_data **data;
	uint32_t *data_ttl;		/* answer TTL of each dataset */
	size_t data_count;
	bool has_ipv4;
	bool has_ipv6;
	uint8_t soa_mname[DNS_NAME_WIRE_MAX];
	uint8_t soa_rname[DNS_NAME_WIRE_MAX];
	struct dns_soa soa;
	uint32_t soa_ttl;
	uint32_t negative_ttl;		/* TTL of the SOA in negative answers (RFC 2308 3) */
	uint8_t ns[ZONE_NS_MAX][DNS_NAME_WIRE_MAX];
	size_t ns_length[ZONE_NS_MAX];
	size_t ns_count;
	uint32_t ns_ttl;
};

struct zone_snapshot {
	atomic_size_t readers;
	uint64_t generation;
	struct zone *zones;
	size_t zone_count;
};

struct zone_snapshot_slot {
	pthread_mutex_t lock;
	struct zone_snapshot *current;
	zone_swap_hook before;		/* zone transfers: serials, journal, NOTIFY */
	zone_swap_hook after;
	void *hook_context;
};

/* One value found for a name, with the TTL of the dataset it came from. */
struct found_value {
	struct dataset_value value;
	uint32_t ttl;
	const struct netaddr *queried;	/* the address its TXT template names */
};

/* ---- shared datasets ------------------------------------------------------------------ */

struct zone_data *
zone_data_new(struct dataset *set, enum dataset_type type)
{
	struct zone_data *data = xcalloc(1, sizeof(*data));

	atomic_init(&data->references, 1);
	data->set = set;
	data->type = type;
	return data;
}

void
zone_data_ref(struct zone_data *data)
{
	atomic_fetch_add(&data->references, 1);
}

void
zone_data_unref(struct zone_data *data)
{
	if (data == NULL || atomic_fetch_sub(&data->references, 1) != 1)
		return;
	dataset_free(data->set);
	free(data);
}

const struct dataset *
zone_data_dataset(const struct zone_data *data)
{
	return data->set;
}

/* ---- building ------------------------------------------------------------------------- */

/* clamp_ttl - a TTL inside the configured bounds */
static uint32_t
clamp_ttl(uint32_t ttl, const struct zone_defaults *defaults)
{
	if (ttl < defaults->ttl_min)
		ttl = defaults->ttl_min;
	if (defaults->ttl_max != 0 && ttl > defaults->ttl_max)
		ttl = defaults->ttl_max;
	return ttl;
}

/* name_to_wire - a name from data or configuration: "@" is the zone apex; a person
 * "user@example.org" (SOA RNAME) becomes user.example.org. */
static bool
name_to_wire(const char *text, const struct zone *zone, uint8_t *out, size_t *length)
{
	char copy[DNS_NAME_TEXT_MAX + 1];

	if (strcmp(text, "@") == 0) {
		memcpy(out, zone->wire, zone->wire_length);
		*length = zone->wire_length;
		return true;
	}
	if (strlen(text) >= sizeof(copy))
		return false;
	snprintf(copy, sizeof(copy), "%s", text);
	char *at = strchr(copy, '@');
	if (at != NULL)
		*at = '.';
	return dns_name_from_text(copy, out, DNS_NAME_WIRE_MAX, length);
}

/* type_is_ipv4 - datasets keyed by IPv4 addresses */
static bool
type_is_ipv4(enum dataset_type type)
{
	return type == DATASET_IP4SET || type == DATASET_IP4TSET || type == DATASET_IP4TRIE;
}

/* zone_set_ns - NS names from the first dataset with $NS, else the defaults */
static bool
zone_set_ns(struct zone *zone, const struct zone_defaults *defaults, char *err,
    size_t err_size)
{
	for (size_t i = 0; i < zone->data_count; i++) {
		const struct dataset_meta *meta = dataset_get_meta(zone->data[i]->set);
		if (meta->ns_count == 0)
			continue;
		for (size_t n = 0; n < meta->ns_count && zone->ns_count < ZONE_NS_MAX; n++) {
			if (!name_to_wire(meta->ns[n], zone, zone->ns[zone->ns_count],
			    &zone->ns_length[zone->ns_count])) {
				log_warn("event=bad_ns zone=%s ns=\"%.255s\" detail=\"not a domain "
					 "name; ignored\"", zone->name, meta->ns[n]);
				continue;
			}
			zone->ns_count++;
		}
		zone->ns_ttl = clamp_ttl(meta->ns_ttl ? meta->ns_ttl : defaults->ttl, defaults);
		if (zone->ns_count > 0)
			return true;
	}
	zone->ns_ttl = clamp_ttl(defaults->ttl, defaults);
	for (size_t n = 0; n < defaults->ns_count && n < ZONE_NS_MAX; n++) {
		if (!name_to_wire(defaults->ns[n], zone, zone->ns[n], &zone->ns_length[n])) {
			snprintf(err, err_size, "bad name server name '%s'", defaults->ns[n]);
			return false;
		}
		zone->ns_count++;
	}
	if (zone->ns_count == 0) {
		snprintf(err, err_size, "zone %s has no name server: give $NS or ns", zone->name);
		return false;
	}
	return true;
}

/* zone_set_soa - the SOA of the first dataset with $SOA, else one made of the defaults;
 * serial 0 means the newest data file time (as rbldnsd) */
static bool
zone_set_soa(struct zone *zone, const struct zone_defaults *defaults, char *err,
    size_t err_size)
{
	int64_t newest = 0;
	const struct dataset_soa *found = NULL;

	for (size_t i = 0; i < zone->data_count; i++) {
		const struct dataset_meta *meta = dataset_get_meta(zone->data[i]->set);
		if (meta->newest_mtime > newest)
			newest = meta->newest_mtime;
		if (found == NULL && meta->soa.present)
			found = &meta->soa;
	}
	uint32_t file_serial = newest > 0 ? (uint32_t)newest : defaults->serial;
	struct dns_soa *soa = &zone->soa;
	soa->mname = zone->soa_mname;
	soa->rname = zone->soa_rname;
	if (found != NULL && name_to_wire(found->origin, zone, zone->soa_mname,
	    &soa->mname_length) && name_to_wire(found->person, zone, zone->soa_rname,
	    &soa->rname_length)) {
		soa->serial = found->serial ? found->serial : file_serial;
		soa->refresh = found->refresh;
		soa->retry = found->retry;
		soa->expire = found->expire;
		soa->minimum = found->minimum;
		zone->soa_ttl = clamp_ttl(found->ttl ? found->ttl : defaults->ttl, defaults);
	} else {
		if (found != NULL)
			log_warn("event=bad_soa zone=%s detail=\"$SOA names are not domain names; "
				 "using the default SOA\"", zone->name);
		memcpy(zone->soa_mname, zone->ns[0], zone->ns_length[0]);
		soa->mname_length = zone->ns_length[0];
		if (defaults->hostmaster[0] != '\0') {
			if (!name_to_wire(defaults->hostmaster, zone, zone->soa_rname,
			    &soa->rname_length)) {
				snprintf(err, err_size, "bad hostmaster name '%s'",
				    defaults->hostmaster);
				return false;
			}
		} else {
			char text[DNS_NAME_TEXT_MAX + 16];
			snprintf(text, sizeof(text), "hostmaster.%s", zone->name);
			if (!name_to_wire(text, zone, zone->soa_rname, &soa->rname_length)) {
				snprintf(err, err_size, "zone %s is too long for hostmaster.%s",
				    zone->name, zone->name);
				return false;
			}
		}
		soa->serial = file_serial;
		soa->refresh = ZONE_DEFAULT_REFRESH;
		soa->retry = ZONE_DEFAULT_RETRY;
		soa->expire = ZONE_DEFAULT_EXPIRE;
		soa->minimum = defaults->negative_ttl;
		zone->soa_ttl = clamp_ttl(defaults->ttl, defaults);
	}
	zone->negative_ttl = clamp_ttl(soa->minimum < zone->soa_ttl ? soa->minimum :
	    zone->soa_ttl, defaults);
	return true;
}

/* zone_init - one zone of a snapshot */
static bool
zone_init(struct zone *zone, const struct zone_spec *spec, const struct zone_defaults *defaults,
    char *err, size_t err_size)
{
	if (!dns_name_from_text(spec->name, zone->wire, sizeof(zone->wire), &zone->wire_length) ||
	    zone->wire_length <= 1) {
		snprintf(err, err_size, "bad zone name '%s'", spec->name);
		return false;
	}
	dns_name_to_text(zone->wire, zone->wire_length, zone->name, sizeof(zone->name));
	for (size_t at = 0; zone->wire[at] != 0; at += 1 + zone->wire[at])
		zone->label_count++;
	zone->data_count = spec->data_count;
	zone->data = xcalloc(spec->data_count ? spec->data_count : 1, sizeof(*zone->data));
	zone->data_ttl = xcalloc(spec->data_count ? spec->data_count : 1,
	    sizeof(*zone->data_ttl));
	for (size_t i = 0; i < spec->data_count; i++) {
		struct zone_data *data = spec->data[i];
		const struct dataset_meta *meta = dataset_get_meta(data->set);
		zone_data_ref(data);
		zone->data[i] = data;
		zone->data_ttl[i] = clamp_ttl(meta->ttl_present ? meta->ttl : defaults->ttl,
		    defaults);
		if (type_is_ipv4(data->type))
			zone->has_ipv4 = true;
		else
			zone->has_ipv6 = true;
	}
	return zone_set_ns(zone, defaults, err, err_size) &&
	    zone_set_soa(zone, defaults, err, err_size);
}

/* zone_release - free what zone_init allocated */
static void
zone_release(struct zone *zone)
{
	for (size_t i = 0; i < zone->data_count; i++)
		zone_data_unref(zone->data[i]);
	free(zone->data);
	free(zone->data_ttl);
}

struct zone_snapshot *
zone_snapshot_build(const struct zone_spec *specs, size_t count,
    const struct zone_defaults *defaults, uint64_t generation, char *err, size_t err_size)
{
	struct zone_snapshot *snapshot = xcalloc(1, sizeof(*snapshot));

	atomic_init(&snapshot->readers, 0);
	snapshot->generation = generation;
	snapshot->zones = xcalloc(count ? count : 1, sizeof(*snapshot->zones));
	for (size_t i = 0; i < count; i++) {
		snapshot->zone_count = i + 1;
		if (!zone_init(&snapshot->zones[i], &specs[i], defaults, err, err_size)) {
			zone_snapshot_free(snapshot);
			return NULL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(snapshot->zones[j].name, snapshot->zones[i].name) == 0) {
				snprintf(err, err_size, "zone %s is given twice",
				    snapshot->zones[i].name);
				zone_snapshot_free(snapshot);
				return NULL;
			}
		}
	}
	return snapshot;
}

void
zone_snapshot_free(struct zone_snapshot *snapshot)
{
	if (snapshot == NULL)
		return;
	for (size_t i = 0; i < snapshot->zone_count; i++)
		zone_release(&snapshot->zones[i]);
	free(snapshot->zones);
	free(snapshot);
}

uint64_t
zone_snapshot_generation(const struct zone_snapshot *snapshot)
{
	return snapshot->generation;
}

size_t
zone_snapshot_zone_count(const struct zone_snapshot *snapshot)
{
	return snapshot->zone_count;
}

const char *
zone_snapshot_zone_name(const struct zone_snapshot *snapshot, size_t index)
{
	return snapshot->zones[index].name;
}

void
zone_snapshot_zone_stats(const struct zone_snapshot *snapshot, size_t index, size_t *entries,
    size_t *memory_bytes, uint32_t *serial)
{
	const struct zone *zone = &snapshot->zones[index];

	*entries = 0;
	*memory_bytes = 0;
	for (size_t i = 0; i < zone->data_count; i++) {
		*entries += dataset_entry_count(zone->data[i]->set);
		*memory_bytes += dataset_memory_bytes(zone->data[i]->set);
	}
	*serial = zone->soa.serial;
}

/* ---- names ----------------------------------------------------------------------------- */

/* What the part of a query name below the zone apex is. */
enum name_kind {
	NAME_APEX,
	NAME_IPV4,		/* four reversed decimal octets */
	NAME_IPV6,		/* 32 reversed nibbles */
	NAME_NONTERMINAL,	/* a proper prefix of such a name: an empty non-terminal */
	NAME_NONE,		/* nothing can exist there */
};

/* label_octet - a decimal octet label "0".."255" without leading zeros; -1 if not */
static int
label_octet(const uint8_t *label)
{
	size_t length = label[0];
	int value = 0;

	if (length == 0 || length > 3 || (length > 1 && label[1] == '0'))
		return -1;
	for (size_t i = 1; i <= length; i++) {
		if (label[i] < '0' || label[i] > '9')
			return -1;
		value = value * 10 + (label[i] - '0');
	}
	return value <= 255 ? value : -1;
}

/* label_nibble - a one-digit hex label (the name is lower case); -1 if not */
static int
label_nibble(const uint8_t *label)
{
	if (label[0] != 1)
		return -1;
	if (label[1] >= '0' && label[1] <= '9')
		return label[1] - '0';
	if (label[1] >= 'a' && label[1] <= 'f')
		return label[1] - 'a' + 10;
	return -1;
}

/* classify_name - read the labels below the apex; fills address for IPv4/IPv6 names.
 * Proper prefixes of IPv4 and IPv6 names are empty non-terminals (RFC 8020: NXDOMAIN
 * there would deny every name below to QNAME-minimising resolvers). "0.0.0.0" is both an
 * IPv4 name and the way to every v4-mapped IPv6 name; unlisted, it is a non-terminal. */
static enum name_kind
classify_name(const struct dns_query *query, size_t relative, const struct zone *zone,
    struct netaddr *address, bool *all_zero)
{
	bool octets = true;
	bool nibbles = true;
	int values[IPV6_LABELS];

	*all_zero = true;
	if (relative == 0)
		return NAME_APEX;
	if (relative > IPV6_LABELS)
		return NAME_NONE;
	for (size_t i = 0; i < relative; i++) {
		const uint8_t *label = query->name + query->labels[i];
		int octet = label_octet(label);
		int nibble = label_nibble(label);
		if (octet < 0)
			octets = false;
		if (nibble < 0)
			nibbles = false;
		values[i] = octet >= 0 ? octet : nibble;
		if (values[i] != 0)
			*all_zero = false;
	}
	if (octets && relative == IPV4_LABELS && (zone->has_ipv4 || !nibbles)) {
		memset(address, 0, sizeof(*address));
		address->family = AF_INET;
		for (size_t i = 0; i < IPV4_LABELS; i++)
			address->bytes[IPV4_BYTES - 1 - i] = (uint8_t)values[i];
		return NAME_IPV4;
	}
	if (nibbles && relative == IPV6_LABELS) {
		memset(address, 0, sizeof(*address));
		address->family = AF_INET6;
		for (size_t i = 0; i < IPV6_LABELS; i++) {
			size_t byte = IPV6_BYTES - 1 - i / 2;
			address->bytes[byte] |= (uint8_t)(i % 2 == 0 ? values[i] : values[i] << 4);
		}
		return NAME_IPV6;
	}
	if ((octets && relative < IPV4_LABELS) || nibbles)
		return NAME_NONTERMINAL;
	return NAME_NONE;
}

/* lookup_values - the values of address over the zone's datasets of its family; a
 * v4-mapped IPv6 address also looks up the IPv4 datasets (RFC 5782 5: ::FFFF:7F00:2) */
static size_t
lookup_values(const struct zone *zone, const struct netaddr *address,
    const struct netaddr *unmapped, struct found_value *found)
{
	struct dataset_value values[ZONE_VALUES_MAX];
	size_t count = 0;
	bool mapped = address->family == AF_INET6 && netaddr_is_v4_mapped(address);

	for (size_t i = 0; i < zone->data_count && count < ZONE_VALUES_MAX; i++) {
		const struct netaddr *key;
		if (type_is_ipv4(zone->data[i]->type)) {
			if (address->family == AF_INET)
				key = address;
			else if (mapped)
				key = unmapped;
			else
				continue;
		} else {
			if (address->family != AF_INET6)
				continue;
			key = address;
		}
		size_t got = dataset_lookup(zone->data[i]->set, key, values,
		    ZONE_VALUES_MAX - count);
		for (size_t v = 0; v < got; v++) {
			found[count].value = values[v];
			found[count].ttl = zone->data_ttl[i];
			found[count].queried = key;
			count++;
		}
	}
	return count;
}

/* ---- answers --------------------------------------------------------------------------- */

/* add_negative_soa - the SOA in the authority section of NXDOMAIN and NODATA (RFC 2308) */
static void
add_negative_soa(struct dns_reply *reply, const struct zone *zone, uint16_t apex)
{
	dns_reply_add_soa(reply, DNS_SECTION_AUTHORITY, apex, zone->negative_ttl, &zone->soa);
}

/* answer_apex - SOA, NS, both for ANY, NODATA with SOA for other types */
static enum zone_result
answer_apex(struct dns_reply *reply, const struct zone *zone, uint16_t qtype, uint16_t apex)
{
	bool soa = qtype == DNS_TYPE_SOA || qtype == DNS_TYPE_ANY;
	bool ns = qtype == DNS_TYPE_NS || qtype == DNS_TYPE_ANY;

	if (soa)
		dns_reply_add_soa(reply, DNS_SECTION_ANSWER, apex, zone->soa_ttl, &zone->soa);
	if (ns) {
		for (size_t i = 0; i < zone->ns_count; i++)
			dns_reply_add_ns(reply, DNS_SECTION_ANSWER, apex, zone->ns_ttl,
			    zone->ns[i], zone->ns_length[i]);
	}
	if (soa || ns)
		return ZONE_RESULT_APEX;
	add_negative_soa(reply, zone, apex);
	return ZONE_RESULT_NODATA;
}

/* answer_listed - A and/or TXT records of the values (one RRset each: the smallest TTL,
 * no duplicates); NODATA when the type asks for neither, or for TXT without templates */
static enum zone_result
answer_listed(struct dns_reply *reply, const struct zone *zone, uint16_t qtype, uint16_t apex,
    const struct found_value *found, size_t count)
{
	bool want_a = qtype == DNS_TYPE_A || qtype == DNS_TYPE_ANY;
	bool want_txt = qtype == DNS_TYPE_TXT || qtype == DNS_TYPE_ANY;
	uint32_t ttl = UINT32_MAX;
	size_t added = 0;
	uint16_t owner = dns_reply_owner(reply->query, 0);

	for (size_t i = 0; i < count; i++)
		if (found[i].ttl < ttl)
			ttl = found[i].ttl;
	if (want_a) {
		for (size_t i = 0; i < count; i++) {
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = found[j].value.a == found[i].value.a;
			if (!seen && dns_reply_add_a(reply, DNS_SECTION_ANSWER, owner, ttl,
			    found[i].value.a))
				added++;
		}
	}
	if (want_txt) {
		char texts[ZONE_VALUES_MAX][DATASET_TXT_MAX + 1];
		size_t lengths[ZONE_VALUES_MAX];
		for (size_t i = 0; i < count; i++) {
			lengths[i] = 0;
			if (found[i].value.txt == NULL)
				continue;
			lengths[i] = dataset_txt_render(found[i].value.txt, found[i].queried,
			    texts[i], sizeof(texts[i]));
			if (lengths[i] > DATASET_TXT_MAX)
				lengths[i] = DATASET_TXT_MAX;
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = found[j].value.txt != NULL && lengths[j] == lengths[i] &&
				    memcmp(texts[j], texts[i], lengths[i]) == 0;
			if (!seen && dns_reply_add_txt(reply, DNS_SECTION_ANSWER, owner, ttl,
			    texts[i], lengths[i]))
				added++;
		}
	}
	if (added > 0 || reply->truncated)
		return ZONE_RESULT_LISTED;
	add_negative_soa(reply, zone, apex);
	return ZONE_RESULT_NODATA;
}

/* find_zone - the zone with the longest name that ends the query name; -1 if none */
static int
find_zone(const struct zone_snapshot *snapshot, const struct dns_query *query)
{
	int best = -1;
	size_t best_labels = 0;

	if (snapshot == NULL)
		return -1;
	for (size_t i = 0; i < snapshot->zone_count; i++) {
		const struct zone *zone = &snapshot->zones[i];
		if (zone->label_count > query->label_count || (best >= 0 &&
		    zone->label_count <= best_labels))
			continue;
		size_t start = query->labels[query->label_count - zone->label_count];
		if (query->name_length - start == zone->wire_length &&
		    memcmp(query->name + start, zone->wire, zone->wire_length) == 0) {
			best = (int)i;
			best_labels = zone->label_count;
		}
	}
	return best;
}

/* answer_query - a parsed query: REFUSED outside our zones, else the zone's answer */
static size_t
answer_query(const struct zone_snapshot *snapshot, const struct dns_query *query, bool tcp,
    size_t udp_max, uint8_t *out, size_t out_size, struct zone_answer_info *info)
{
	struct dns_reply reply;
	size_t limit = tcp ? DNS_MESSAGE_MAX : dns_reply_udp_limit(query, udp_max);
	int index = -1;

	if (query->qclass == DNS_CLASS_IN || query->qclass == DNS_CLASS_ANY)
		index = find_zone(snapshot, query);
	/* Zone transfers are not served here: refused like a transfer an ACL denies. */
	if (index < 0 || query->qtype == DNS_TYPE_AXFR || query->qtype == DNS_TYPE_IXFR) {
		dns_reply_start(&reply, query, out, out_size, limit, DNS_RCODE_REFUSED, false);
		info->zone = index;
		info->result = ZONE_RESULT_REFUSED;
		info->rcode = DNS_RCODE_REFUSED;
		size_t length = dns_reply_finish(&reply, (uint16_t)udp_max);
		info->truncated = reply.truncated;
		return length;
	}
	const struct zone *zone = &snapshot->zones[index];
	size_t relative = query->label_count - zone->label_count;
	uint16_t apex = dns_reply_owner(query, relative);
	struct netaddr address;
	struct netaddr unmapped;
	bool all_zero;
	struct found_value found[ZONE_VALUES_MAX];
	size_t count = 0;
	enum name_kind kind = classify_name(query, relative, zone, &address, &all_zero);

	if (kind == NAME_IPV4 || kind == NAME_IPV6) {
		unmapped = address;
		netaddr_unmap(&unmapped);
		count = lookup_values(zone, &address, &unmapped, found);
		if (count == 0)
			kind = kind == NAME_IPV4 && all_zero ? NAME_NONTERMINAL : NAME_NONE;
	}
	uint16_t rcode = kind == NAME_NONE ? DNS_RCODE_NXDOMAIN : DNS_RCODE_NOERROR;
	dns_reply_start(&reply, query, out, out_size, limit, rcode, true);
	switch (kind) {
	case NAME_APEX:
		info->result = answer_apex(&reply, zone, query->qtype, apex);
		break;
	case NAME_IPV4:
	case NAME_IPV6:
		info->result = answer_listed(&reply, zone, query->qtype, apex, found, count);
		break;
	case NAME_NONTERMINAL:
		add_negative_soa(&reply, zone, apex);
		info->result = ZONE_RESULT_NODATA;
		break;
	case NAME_NONE:
		add_negative_soa(&reply, zone, apex);
		info->result = ZONE_RESULT_NXDOMAIN;
		break;
	}
	info->zone = index;
	info->rcode = rcode;
	size_t length = dns_reply_finish(&reply, (uint16_t)udp_max);
	info->truncated = reply.truncated;
	return length;
}

size_t
zone_answer_packet(const struct zone_snapshot *snapshot, const uint8_t *packet, size_t length,
    bool tcp, size_t udp_max, uint8_t *out, size_t out_size, struct zone_answer_info *info)
{
	struct dns_query query;
	struct dns_reply reply;
	enum dns_parse_status status = dns_query_parse(packet, length, &query);

	info->zone = -1;
	info->qtype = query.qtype;
	info->truncated = false;
	info->edns = query.edns;
	if (udp_max < DNS_UDP_PAYLOAD_MIN)
		udp_max = DNS_UDP_PAYLOAD_MIN;
	switch (status) {
	case DNS_PARSE_OK:
		return answer_query(snapshot, &query, tcp, udp_max, out, out_size, info);
	case DNS_PARSE_IGNORE:
		info->result = ZONE_RESULT_IGNORED;
		info->rcode = 0;
		return 0;
	case DNS_PARSE_FORMERR:
		info->result = ZONE_RESULT_FORMERR;
		info->rcode = DNS_RCODE_FORMERR;
		return dns_error_reply(&query, DNS_RCODE_FORMERR, out, out_size);
	case DNS_PARSE_NOTIMP:
		info->result = ZONE_RESULT_NOTIMP;
		info->rcode = DNS_RCODE_NOTIMP;
		return dns_error_reply(&query, DNS_RCODE_NOTIMP, out, out_size);
	case DNS_PARSE_BADVERS:
		info->result = ZONE_RESULT_BADVERS;
		info->rcode = DNS_RCODE_BADVERS;
		dns_reply_start(&reply, &query, out, out_size, tcp ? DNS_MESSAGE_MAX :
		    DNS_UDP_PAYLOAD_MIN, DNS_RCODE_BADVERS, false);
		return dns_reply_finish(&reply, (uint16_t)udp_max);
	}
	return 0;
}

/* ---- the current snapshot ------------------------------------------------------------- */

struct zone_snapshot_slot *
zone_snapshot_slot_new(void)
{
	struct zone_snapshot_slot *slot = xcalloc(1, sizeof(*slot));

	if (pthread_mutex_init(&slot->lock, NULL) != 0)
		fatal("event=mutex_init_failed");
	return slot;
}

void
zone_snapshot_slot_free(struct zone_snapshot_slot *slot)
{
	if (slot == NULL)
		return;
	zone_snapshot_free(slot->current);
	pthread_mutex_destroy(&slot->lock);
	free(slot);
}

const struct zone_snapshot *
zone_snapshot_acquire(struct zone_snapshot_slot *slot)
{
	struct zone_snapshot *snapshot;

	pthread_mutex_lock(&slot->lock);
	snapshot = slot->current;
	if (snapshot != NULL)
		atomic_fetch_add(&snapshot->readers, 1);
	pthread_mutex_unlock(&slot->lock);
	return snapshot;
}

void
zone_snapshot_release(const struct zone_snapshot *snapshot)
{
	if (snapshot == NULL)
		return;
	/* readers is the one field a reader may change. */
	atomic_fetch_sub(&((struct zone_snapshot *)snapshot)->readers, 1);
}

void
zone_snapshot_swap(struct zone_snapshot_slot *slot, struct zone_snapshot *next)
{
	struct zone_snapshot *old;
	struct timespec pause = { 0, SWAP_WAIT_NS };

	if (slot->before != NULL)
		slot->before(slot->hook_context, slot->current, next);
	pthread_mutex_lock(&slot->lock);
	old = slot->current;
	slot->current = next;
	pthread_mutex_unlock(&slot->lock);
	if (slot->after != NULL)
		slot->after(slot->hook_context, old, next);
	if (old == NULL)
		return;
	/* No new reader can find old now; the ones holding it finish their batch. */
	while (atomic_load(&old->readers) > 0)
		nanosleep(&pause, NULL);
	zone_snapshot_free(old);
}

void
zone_snapshot_slot_set_hooks(struct zone_snapshot_slot *slot, zone_swap_hook before,
    zone_swap_hook after, void *context)
{
	slot->before = before;
	slot->after = after;
	slot->hook_context = context;
}

/* ---- zone transfers ------------------------------------------------------------------- */

void
zone_snapshot_zone_view(const struct zone_snapshot *snapshot, size_t index,
    struct zone_view *out)
{
	const struct zone *zone = &snapshot->zones[index];

	out->name = zone->name;
	out->wire = zone->wire;
	out->wire_length = zone->wire_length;
	out->soa = &zone->soa;
	out->soa_ttl = zone->soa_ttl;
	out->ns = (const uint8_t (*)[DNS_NAME_WIRE_MAX])zone->ns;
	out->ns_length = zone->ns_length;
	out->ns_count = zone->ns_count;
	out->ns_ttl = zone->ns_ttl;
	out->data = zone->data;
	out->data_ttl = zone->data_ttl;
	out->data_count = zone->data_count;
	out->has_ipv4 = zone->has_ipv4;
	out->has_ipv6 = zone->has_ipv6;
}

enum dataset_type
zone_data_type(const struct zone_data *data)
{
	return data->type;
}

void
zone_snapshot_set_serial(struct zone_snapshot *snapshot, size_t index, uint32_t serial)
{
	snapshot->zones[index].soa.serial = serial;
}
