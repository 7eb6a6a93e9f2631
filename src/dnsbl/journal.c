/* journal.c - the IXFR journal: differences between two versions of a zone, computed by
 * walking both in canonical record order (no zone is held twice in memory), kept per zone
 * with the serial before and after, within a byte budget. Called from the loader thread
 * at every swap (journal_update) and from the main loop (journal_chain); never blocks a
 * reader longer than a list copy. */
#include "dnsbl/journal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event_loop.h"
#include "core/log.h"

#define INITIAL_BUFFER 4096
/* Largest encoded record (xfr_record_encode): head, 32 labels, tail, a name. */
#define ENCODED_RECORD_MAX (3 + XFR_LABELS_MAX + 6 + 1 + DNS_NAME_WIRE_MAX)

/* The changes of one zone, oldest first; entry i+1 starts where entry i ends. */
struct zone_journal {
	char name[DNS_NAME_TEXT_MAX];
	struct journal_entry **entries;
	size_t count;
	size_t capacity;
};

struct journal {
	pthread_mutex_t lock;
	size_t max_bytes;
	size_t bytes;
	struct zone_journal *zones;
	size_t zone_count;
};

/* ---- entries --------------------------------------------------------------------------- */

/* entry_bytes - what an entry costs in the budget */
static size_t
entry_bytes(const struct journal_entry *entry)
{
	return sizeof(*entry) + entry->deleted_length + entry->added_length;
}

/* entry_clear - free the record buffers of an entry that is not shared */
static void
entry_clear(struct journal_entry *entry)
{
	free(entry->deleted);
	free(entry->added);
	entry->deleted = NULL;
	entry->added = NULL;
	entry->deleted_length = entry->added_length = 0;
	entry->deleted_count = entry->added_count = 0;
}

void
journal_entry_ref(struct journal_entry *entry)
{
	atomic_fetch_add(&entry->references, 1);
}

void
journal_entry_unref(struct journal_entry *entry)
{
	if (entry == NULL || atomic_fetch_sub(&entry->references, 1) != 1)
		return;
	entry_clear(entry);
	free(entry);
}

/* A growing buffer of encoded records. */
struct record_buffer {
	uint8_t *bytes;
	size_t length;
	size_t capacity;
	size_t count;
};

/* buffer_add - append record's encoding */
static void
buffer_add(struct record_buffer *buffer, const struct xfr_record *record)
{
	if (buffer->length + ENCODED_RECORD_MAX > buffer->capacity) {
		buffer->capacity = buffer->capacity == 0 ? INITIAL_BUFFER : buffer->capacity * 2;
		buffer->bytes = xrealloc(buffer->bytes, buffer->capacity);
	}
	buffer->length += xfr_record_encode(record, buffer->bytes + buffer->length,
	    buffer->capacity - buffer->length);
	buffer->count++;
}

/* buffer_shrink - give back the unused room */
static uint8_t *
buffer_shrink(struct record_buffer *buffer)
{
	if (buffer->length == 0) {
		free(buffer->bytes);
		return NULL;
	}
	return xrealloc(buffer->bytes, buffer->length);
}

bool
journal_diff(const struct xfr_zone *old, const struct xfr_zone *new, size_t max_bytes,
    struct journal_entry *out)
{
	struct xfr_walk *before, *after;
	struct record_buffer deleted = { 0 };
	struct record_buffer added = { 0 };
	struct xfr_record a, b;
	bool fits = true;

	/* only the parts of the trees where the data differ are walked */
	xfr_walk_pair(old, new, &before, &after);
	bool have_a = xfr_walk_next(before, &a);
	bool have_b = xfr_walk_next(after, &b);

	while (have_a || have_b) {
		int order = !have_a ? 1 : !have_b ? -1 : xfr_record_compare(&a, &b);
		if (order == 0) {
			have_a = xfr_walk_next(before, &a);
			have_b = xfr_walk_next(after, &b);
			continue;
		}
		if (order < 0) {
			buffer_add(&deleted, &a);
			have_a = xfr_walk_next(before, &a);
		} else {
			buffer_add(&added, &b);
			have_b = xfr_walk_next(after, &b);
		}
		if (deleted.length + added.length + sizeof(*out) > max_bytes) {
			fits = false;
			break;
		}
	}
	xfr_walk_free(before);
	xfr_walk_free(after);
	memset(out, 0, sizeof(*out));
	atomic_init(&out->references, 1);
	out->from = old->soa;
	out->to = new->soa;
	if (!fits) {
		free(deleted.bytes);
		free(added.bytes);
		return false;
	}
	out->deleted = buffer_shrink(&deleted);
	out->deleted_length = deleted.length;
	out->deleted_count = deleted.count;
	out->added = buffer_shrink(&added);
	out->added_length = added.length;
	out->added_count = added.count;
	return true;
}

/* ---- the journal ----------------------------------------------------------------------- */

struct journal *
journal_new(size_t max_bytes)
{
	struct journal *journal = xcalloc(1, sizeof(*journal));

	if (pthread_mutex_init(&journal->lock, NULL) != 0)
		fatal("event=mutex_init_failed");
	journal->max_bytes = max_bytes;
	return journal;
}

/* zone_clear - drop every entry of one zone (locked) */
static void
zone_clear(struct journal *journal, struct zone_journal *zone)
{
	for (size_t i = 0; i < zone->count; i++) {
		journal->bytes -= entry_bytes(zone->entries[i]);
		journal_entry_unref(zone->entries[i]);
	}
	zone->count = 0;
}

void
journal_free(struct journal *journal)
{
	if (journal == NULL)
		return;
	for (size_t z = 0; z < journal->zone_count; z++) {
		zone_clear(journal, &journal->zones[z]);
		free(journal->zones[z].entries);
	}
	free(journal->zones);
	pthread_mutex_destroy(&journal->lock);
	free(journal);
}

/* zone_find - the journal of a zone (locked); created when create is set */
static struct zone_journal *
zone_find(struct journal *journal, const char *name, bool create)
{
	for (size_t z = 0; z < journal->zone_count; z++)
		if (strcmp(journal->zones[z].name, name) == 0)
			return &journal->zones[z];
	if (!create)
		return NULL;
	journal->zones = xrealloc(journal->zones, (journal->zone_count + 1) *
	    sizeof(*journal->zones));
	struct zone_journal *zone = &journal->zones[journal->zone_count++];
	memset(zone, 0, sizeof(*zone));
	snprintf(zone->name, sizeof(zone->name), "%s", name);
	return zone;
}

/* drop_oldest - remove the oldest entry of zone (locked) */
static void
drop_oldest(struct journal *journal, struct zone_journal *zone)
{
	journal->bytes -= entry_bytes(zone->entries[0]);
	journal_entry_unref(zone->entries[0]);
	memmove(zone->entries, zone->entries + 1, (zone->count - 1) * sizeof(*zone->entries));
	zone->count--;
}

/* keep_budget - drop the oldest entries, of the zone holding most, until within budget */
static void
keep_budget(struct journal *journal)
{
	while (journal->bytes > journal->max_bytes) {
		struct zone_journal *fullest = NULL;
		for (size_t z = 0; z < journal->zone_count; z++)
			if (journal->zones[z].count > 0 &&
			    (fullest == NULL || journal->zones[z].count > fullest->count))
				fullest = &journal->zones[z];
		if (fullest == NULL)
			return;
		drop_oldest(journal, fullest);
	}
}

/* journal_add - append entry to zone's changes (locked) */
static void
journal_add(struct journal *journal, const char *name, struct journal_entry *entry)
{
	struct zone_journal *zone = zone_find(journal, name, true);

	/* a change that does not start where the last one ended breaks the chain */
	if (zone->count > 0 && zone->entries[zone->count - 1]->to.serial != entry->from.serial)
		zone_clear(journal, zone);
	if (zone->count == zone->capacity) {
		zone->capacity = zone->capacity == 0 ? 8 : zone->capacity * 2;
		zone->entries = xrealloc(zone->entries, zone->capacity * sizeof(*zone->entries));
	}
	zone->entries[zone->count++] = entry;
	journal->bytes += entry_bytes(entry);
	keep_budget(journal);
}

uint32_t
journal_update(struct journal *journal, const struct xfr_zone *served,
    const struct xfr_zone *next)
{
	struct journal_entry diff;
	uint64_t started = event_loop_now_ms();

	if (served == NULL)
		return next->soa.serial;
	if (xfr_zone_same_data(served, next))
		return served->soa.serial;
	/* A journal of 0 bytes keeps nothing: any change of the datasets is a change. */
	bool fits = journal->max_bytes > 0 && journal_diff(served, next, journal->max_bytes,
	    &diff);
	bool changed = !fits || diff.deleted_count > 0 || diff.added_count > 0 ||
	    !xfr_soa_same_but_serial(&served->soa, &next->soa);
	if (!changed) {
		entry_clear(&diff);
		return served->soa.serial;
	}
	uint32_t serial = xfr_serial_newer(next->soa.serial, served->soa.serial) ?
	    next->soa.serial : served->soa.serial + 1;
	pthread_mutex_lock(&journal->lock);
	if (fits) {
		struct journal_entry *entry = xmalloc(sizeof(*entry));
		*entry = diff;
		atomic_init(&entry->references, 1);
		entry->to.serial = serial;
		journal_add(journal, next->name, entry);
	} else {
		struct zone_journal *zone = zone_find(journal, next->name, false);
		if (zone != NULL)
			zone_clear(journal, zone);
	}
	pthread_mutex_unlock(&journal->lock);
	if (fits)
		log_info("event=journal_change zone=%s serial_from=%u serial_to=%u deleted=%zu "
			 "added=%zu elapsed_ms=%llu", next->name, served->soa.serial, serial,
		    diff.deleted_count, diff.added_count,
		    (unsigned long long)(event_loop_now_ms() - started));
	else if (journal->max_bytes == 0)
		log_info("event=serial_changed zone=%s serial_from=%u serial_to=%u detail=\"no "
			 "journal (xfr_journal_kb 0): IXFR sends the whole zone\"", next->name,
		    served->soa.serial, serial);
	else
		log_warn("event=journal_reset zone=%s serial_from=%u serial_to=%u detail=\"the "
			 "change does not fit in xfr_journal_kb; IXFR sends the whole zone\"",
		    next->name, served->soa.serial, serial);
	return serial;
}

void
journal_forget_others(struct journal *journal, const char *const *names, size_t count)
{
	pthread_mutex_lock(&journal->lock);
	for (size_t z = 0; z < journal->zone_count; z++) {
		bool kept = false;
		for (size_t i = 0; i < count && !kept; i++)
			kept = strcmp(journal->zones[z].name, names[i]) == 0;
		if (!kept)
			zone_clear(journal, &journal->zones[z]);
	}
	pthread_mutex_unlock(&journal->lock);
}

bool
journal_chain(struct journal *journal, const char *name, uint32_t from, uint32_t to,
    struct journal_entry ***entries, size_t *count)
{
	bool found = false;

	*entries = NULL;
	*count = 0;
	pthread_mutex_lock(&journal->lock);
	struct zone_journal *zone = zone_find(journal, name, false);
	for (size_t i = 0; zone != NULL && i < zone->count && !found; i++) {
		if (zone->entries[i]->from.serial != from)
			continue;
		for (size_t j = i; j < zone->count; j++) {
			if (zone->entries[j]->to.serial != to)
				continue;
			*count = j - i + 1;
			*entries = xcalloc(*count, sizeof(**entries));
			for (size_t k = 0; k < *count; k++) {
				(*entries)[k] = zone->entries[i + k];
				journal_entry_ref((*entries)[k]);
			}
			found = true;
			break;
		}
		break;
	}
	pthread_mutex_unlock(&journal->lock);
	return found;
}

void
journal_chain_release(struct journal_entry **entries, size_t count)
{
	for (size_t i = 0; i < count; i++)
		journal_entry_unref(entries[i]);
	free(entries);
}

void
journal_stats(struct journal *journal, const char *name, size_t *entries, size_t *bytes)
{
	*entries = 0;
	*bytes = 0;
	pthread_mutex_lock(&journal->lock);
	for (size_t z = 0; z < journal->zone_count; z++) {
		if (name != NULL && strcmp(journal->zones[z].name, name) != 0)
			continue;
		for (size_t i = 0; i < journal->zones[z].count; i++) {
			*entries += 1;
			*bytes += entry_bytes(journal->zones[z].entries[i]);
		}
	}
	pthread_mutex_unlock(&journal->lock);
}
