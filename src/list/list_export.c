/* list_export.c - the rbldnsd and BIND writers of `relayguard list export`: what a mirror or a
 * secondary needs to answer exactly as `relayguard dnsbl` does for the same listings. Pure:
 * writes only to the stream it is given. */
#include "list/list_export.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* Labels of a reversed name: an IPv4 name has 4 octets, an IPv6 name 32 nibbles. */
#define OCTET_BITS 8
#define NIBBLE_BITS 4
#define IPV4_BITS 32
#define IPV6_BITS 128
#define LABELS_MAX (IPV6_BITS / NIBBLE_BITS)
/* Room for an expanded TXT and for it escaped in a master file (\DDD per byte at worst). */
#define TXT_ESCAPED_MAX (LIST_EXPORT_TXT_MAX * 4 + 1)
/* Room for an owner name relative to the origin ("*." and 32 labels of "f."). */
#define OWNER_TEXT_MAX (2 + LABELS_MAX * 2 + 1)

/* export_clean_txt - a TXT for a one-line format: control bytes become spaces */
static void
export_clean_txt(const char *txt, char *out, size_t out_size)
{
	size_t used = 0;

	for (size_t i = 0; txt != NULL && txt[i] != '\0' && used + 1 < out_size; i++) {
		unsigned char c = (unsigned char)txt[i];
		out[used++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	out[used] = '\0';
}

/* export_absolute - name with one final dot */
static void
export_absolute(const char *name, char *out, size_t out_size)
{
	size_t length = strlen(name);

	if (length > 0 && name[length - 1] == '.')
		snprintf(out, out_size, "%s", name);
	else
		snprintf(out, out_size, "%s.", name);
}

/* export_mailbox - an SOA RNAME as a domain name: "hostmaster@example.org" becomes
 * hostmaster.example.org. */
static void
export_mailbox(const char *mailbox, char *out, size_t out_size)
{
	char name[LIST_EXPORT_NAME_MAX];
	char *at;

	snprintf(name, sizeof(name), "%s", mailbox);
	at = strchr(name, '@');
	if (at != NULL)
		*at = '.';
	export_absolute(name, out, out_size);
}

/* list_export_rbldnsd - an ip4set or ip6trie file of one family's entries */
bool
list_export_rbldnsd(FILE *out, const struct list_export_zone *zone,
    const struct list_export_entry *entries, size_t count, int family)
{
	char text[LIST_EXPORT_TXT_MAX + 1];
	char mailbox[LIST_EXPORT_NAME_MAX + 1];
	char prefix[NETPREFIX_TEXT_MAX];
	size_t written = 0;

	for (size_t i = 0; i < count; i++)
		if (entries[i].prefix.address.family == family)
			written++;
	export_mailbox(zone->hostmaster, mailbox, sizeof(mailbox));
	fprintf(out, "# relayguard list export (%s) of zone %s: %zu entries, serial %u\n",
	    family == AF_INET6 ? "ip6trie" : "ip4set", zone->name, written, zone->serial);
	fprintf(out, "$TTL %u\n", zone->ttl);
	fprintf(out, "$SOA %u %s %s %u %u %u %u %u\n", zone->ttl, zone->ns[0], mailbox,
	    zone->serial, zone->refresh, zone->retry, zone->expire, zone->minimum);
	fprintf(out, "$NS %u", zone->ttl);
	for (size_t i = 0; i < zone->ns_count; i++)
		fprintf(out, " %s", zone->ns[i]);
	fputc('\n', out);
	for (size_t i = 0; i < count; i++) {
		const struct list_export_entry *entry = &entries[i];
		if (entry->prefix.address.family != family)
			continue;
		if (netprefix_format(&entry->prefix, prefix, sizeof(prefix)) < 0)
			fatal("event=export_failed error=\"prefix does not fit\"");
		export_clean_txt(entry->txt, text, sizeof(text));
		fprintf(out, "%s :127.0.0.%u:%s\n", prefix, entry->code, text);
	}
	return fflush(out) == 0 && !ferror(out);
}

/* ---- BIND ---------------------------------------------------------------------------- */

/* One owner name of the master file: a node of the reversed-address tree, as a name of its
 * own or as the wildcard below it, with the entry whose value it answers. */
struct bind_record {
	int family;
	unsigned depth;			/* labels of the node */
	uint8_t labels[LABELS_MAX];	/* most significant first: octets or nibbles */
	bool wildcard;			/* the owner is "*." and the node */
	unsigned length;		/* prefix length of the entry (longest wins a tie) */
	size_t entry;
};

struct bind_records {
	struct bind_record *items;
	size_t count;
	size_t capacity;
};

/* bind_label_bits - bits per label of a family's reversed names */
static unsigned
bind_label_bits(int family)
{
	return family == AF_INET6 ? NIBBLE_BITS : OCTET_BITS;
}

/* bind_label - label number `index` (most significant first) of an address */
static uint8_t
bind_label(const struct netaddr *address, unsigned index)
{
	if (address->family != AF_INET6)
		return address->bytes[index];
	uint8_t byte = address->bytes[index / 2];
	return index % 2 == 0 ? (uint8_t)(byte >> NIBBLE_BITS) : (uint8_t)(byte & 0x0f);
}

/* bind_records_add - append a record */
static void
bind_records_add(struct bind_records *records, const struct bind_record *record)
{
	if (records->count == records->capacity) {
		records->capacity = records->capacity ? records->capacity * 2 : 64;
		records->items = xrealloc(records->items,
		    records->capacity * sizeof(*records->items));
	}
	records->items[records->count++] = *record;
}

/* bind_expand - the records of one entry: a whole name, a wildcard at a whole node, or the
 * records of its split into the next whole label */
static void
bind_expand(struct bind_records *records, const struct list_export_entry *entry, size_t index)
{
	const struct netprefix *prefix = &entry->prefix;
	unsigned bits = bind_label_bits(prefix->address.family);
	unsigned width = prefix->address.family == AF_INET6 ? IPV6_BITS : IPV4_BITS;
	unsigned depth = (prefix->length + bits - 1) / bits;
	struct bind_record record = {
		.family = prefix->address.family,
		.depth = depth,
		.wildcard = depth * bits < width,
		.length = prefix->length,
		.entry = index,
	};
	unsigned spread = depth * bits - prefix->length;	/* free bits of the last label */

	for (unsigned i = 0; i < depth; i++)
		record.labels[i] = bind_label(&prefix->address, i);
	for (unsigned variant = 0; variant < (1u << spread); variant++) {
		struct bind_record copy = record;
		if (depth > 0)
			copy.labels[depth - 1] = (uint8_t)(record.labels[depth - 1] | variant);
		bind_records_add(records, &copy);
	}
}

/* bind_node_compare - order of nodes: family, labels, then depth (a node before its
 * children), wildcards after the name itself */
static int
bind_node_compare(const struct bind_record *a, const struct bind_record *b)
{
	unsigned common = a->depth < b->depth ? a->depth : b->depth;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	for (unsigned i = 0; i < common; i++)
		if (a->labels[i] != b->labels[i])
			return a->labels[i] < b->labels[i] ? -1 : 1;
	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	if (a->wildcard != b->wildcard)
		return a->wildcard ? 1 : -1;
	return 0;
}

/* bind_record_compare - qsort order: by owner, the longest prefix first for one owner */
static int
bind_record_compare(const void *left, const void *right)
{
	const struct bind_record *a = left;
	const struct bind_record *b = right;
	int order = bind_node_compare(a, b);

	if (order != 0)
		return order;
	if (a->length != b->length)
		return a->length > b->length ? -1 : 1;
	return a->entry < b->entry ? -1 : a->entry > b->entry;
}

/* bind_records_unique - sort, and keep one record per owner (the longest prefix's) */
static void
bind_records_unique(struct bind_records *records)
{
	size_t kept = 0;

	if (records->count == 0)
		return;
	qsort(records->items, records->count, sizeof(*records->items), bind_record_compare);
	for (size_t i = 1; i < records->count; i++)
		if (bind_node_compare(&records->items[kept], &records->items[i]) != 0)
			records->items[++kept] = records->items[i];
	records->count = kept + 1;
}

/* bind_wildcard_at - the wildcard record below the node of `depth` labels of `path`, in the
 * sorted unique records, or NULL */
static const struct bind_record *
bind_wildcard_at(const struct bind_records *records, const struct bind_record *path,
    unsigned depth)
{
	struct bind_record key = *path;
	size_t low = 0;
	size_t high = records->count;

	key.depth = depth;
	key.wildcard = true;
	while (low < high) {
		size_t middle = low + (high - low) / 2;
		int order = bind_node_compare(&records->items[middle], &key);
		if (order == 0)
			return &records->items[middle];
		if (order < 0)
			low = middle + 1;
		else
			high = middle;
	}
	return NULL;
}

/* bind_cover_hidden_names - RFC 4592 4.3: a name that exists below a wildcard's node stops
 * the wildcard from answering names under it. For every node that a record creates under a
 * wildcard (its ancestors), add the wildcard of the closest covering prefix there. */
static void
bind_cover_hidden_names(struct bind_records *records)
{
	struct bind_records added = { 0 };

	for (size_t r = 0; r < records->count; r++) {
		const struct bind_record *record = &records->items[r];
		const struct bind_record *cover = NULL;
		for (unsigned depth = 1; depth < record->depth; depth++) {
			const struct bind_record *here = bind_wildcard_at(records, record, depth);
			if (here != NULL) {
				cover = here;
				continue;
			}
			if (cover == NULL)
				continue;
			struct bind_record fill = *record;
			fill.depth = depth;
			fill.wildcard = true;
			fill.length = cover->length;
			fill.entry = cover->entry;
			bind_records_add(&added, &fill);
		}
	}
	for (size_t i = 0; i < added.count; i++)
		bind_records_add(records, &added.items[i]);
	free(added.items);
	bind_records_unique(records);
}

/* bind_owner - the owner name relative to the origin: "1.2.0.192", "*.2.0.192" */
static void
bind_owner(const struct bind_record *record, char *out, size_t out_size)
{
	size_t used = 0;

	out[0] = '\0';
	if (record->wildcard)
		used += (size_t)snprintf(out + used, out_size - used, "*");
	for (unsigned i = record->depth; i-- > 0;) {
		const char *dot = used > 0 ? "." : "";
		if (record->family == AF_INET6)
			used += (size_t)snprintf(out + used, out_size - used, "%s%x", dot,
			    record->labels[i]);
		else
			used += (size_t)snprintf(out + used, out_size - used, "%s%u", dot,
			    record->labels[i]);
		if (used >= out_size)
			fatal("event=export_failed error=\"owner name does not fit\"");
	}
	if (used == 0)
		snprintf(out, out_size, "@");
}

/* bind_txt - expand a TXT template ("$" the address or prefix, "$$" a dollar), cut to one
 * character-string, and quote it for a master file */
static void
bind_txt(const char *template, const char *address, char *out, size_t out_size)
{
	char text[LIST_EXPORT_TXT_MAX + 1];
	size_t length = 0;
	size_t used = 0;

	for (size_t i = 0; template != NULL && template[i] != '\0'; i++) {
		const char *piece = &template[i];
		size_t piece_length = 1;
		if (template[i] == '$' && template[i + 1] == '$')
			i++;
		else if (template[i] == '$') {
			piece = address;
			piece_length = strlen(address);
		}
		if (piece_length > LIST_EXPORT_TXT_MAX - length)
			piece_length = LIST_EXPORT_TXT_MAX - length;
		memcpy(text + length, piece, piece_length);
		length += piece_length;
	}
	used += (size_t)snprintf(out + used, out_size - used, "\"");
	for (size_t i = 0; i < length && used + 5 < out_size; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '"' || c == '\\')
			used += (size_t)snprintf(out + used, out_size - used, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			used += (size_t)snprintf(out + used, out_size - used, "\\%03u", c);
		else
			out[used++] = (char)c;
	}
	snprintf(out + used, out_size - used, "\"");
}

/* bind_record_address - the text "$" stands for: the address a whole name stands for,
 * else the listed prefix */
static void
bind_record_address(const struct bind_record *record, const struct list_export_entry *entry,
    char *out, size_t out_size)
{
	struct netaddr address = { .family = record->family };

	if (record->wildcard) {
		netprefix_format(&entry->prefix, out, out_size);
		return;
	}
	for (unsigned i = 0; i < record->depth; i++) {
		if (record->family != AF_INET6)
			address.bytes[i] = record->labels[i];
		else if (i % 2 == 0)
			address.bytes[i / 2] = (uint8_t)(record->labels[i] << NIBBLE_BITS);
		else
			address.bytes[i / 2] |= record->labels[i];
	}
	netaddr_format(&address, out, out_size);
}

/* list_export_bind - a master file: apex, then every owner name sorted */
bool
list_export_bind(FILE *out, const struct list_export_zone *zone,
    const struct list_export_entry *entries, size_t count)
{
	struct bind_records records = { 0 };
	char owner[OWNER_TEXT_MAX];
	char txt[TXT_ESCAPED_MAX];
	char name[LIST_EXPORT_NAME_MAX + 1];
	char address[NETPREFIX_TEXT_MAX];

	for (size_t i = 0; i < count; i++)
		bind_expand(&records, &entries[i], i);
	bind_records_unique(&records);
	bind_cover_hidden_names(&records);

	export_absolute(zone->name, name, sizeof(name));
	fprintf(out, "; relayguard list export (bind) of zone %s: %zu entries, %zu names, "
	    "serial %u\n", zone->name, count, records.count, zone->serial);
	fprintf(out, "$ORIGIN %s\n$TTL %u\n", name, zone->ttl);
	export_absolute(zone->ns[0], name, sizeof(name));
	fprintf(out, "@\tIN\tSOA\t%s ", name);
	export_mailbox(zone->hostmaster, name, sizeof(name));
	fprintf(out, "%s ( %u %u %u %u %u )\n", name, zone->serial, zone->refresh, zone->retry,
	    zone->expire, zone->minimum);
	for (size_t i = 0; i < zone->ns_count; i++) {
		export_absolute(zone->ns[i], name, sizeof(name));
		fprintf(out, "@\tIN\tNS\t%s\n", name);
	}
	for (size_t r = 0; r < records.count; r++) {
		const struct bind_record *record = &records.items[r];
		const struct list_export_entry *entry = &entries[record->entry];
		bind_owner(record, owner, sizeof(owner));
		fprintf(out, "%s\tIN\tA\t127.0.0.%u\n", owner, entry->code);
		if (entry->txt == NULL || entry->txt[0] == '\0')
			continue;
		bind_record_address(record, entry, address, sizeof(address));
		bind_txt(entry->txt, address, txt, sizeof(txt));
		fprintf(out, "%s\tIN\tTXT\t%s\n", owner, txt);
	}
	free(records.items);
	return fflush(out) == 0 && !ferror(out);
}
