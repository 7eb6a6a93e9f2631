/* journal.h - the IXFR journal of `relayguard dnsbl`: for every zone, the listings and
 * delistings (as records) of each change, with the serial before and after it. Fed at
 * every snapshot swap by diffing the old and the new snapshot (file-fed and store-fed
 * zones alike); read by xfr.c for IXFR. Thread-safe: the loader writes, the main loop reads. */
#ifndef RELAYGUARD_DNSBL_JOURNAL_H
#define RELAYGUARD_DNSBL_JOURNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsbl/xfr.h"

/* One change of a zone: from one SOA to the next, the records deleted and added (in
 * xfr_record_encode() form, canonical order). Immutable once in the journal. */
struct journal_entry {
	atomic_size_t references;
	struct xfr_soa from;
	struct xfr_soa to;
	uint8_t *deleted;
	size_t deleted_length;
	size_t deleted_count;
	uint8_t *added;
	size_t added_length;
	size_t added_count;
};

/* journal_diff - the records of old that new lacks (deleted) and of new that old lacks
 * (added), as one entry (from/to are old's and new's SOA); false when the differences
 * take more than max_bytes (nothing kept). Pure apart from allocation. */
bool journal_diff(const struct xfr_zone *old, const struct xfr_zone *new, size_t max_bytes,
    struct journal_entry *out);
/* journal_entry_ref / journal_entry_unref - entries are shared with transfers */
void journal_entry_ref(struct journal_entry *entry);
void journal_entry_unref(struct journal_entry *entry);

struct journal;
/* journal_new - a journal holding at most max_bytes of changes over all zones (0: none,
 * every IXFR gets the whole zone) */
struct journal *journal_new(size_t max_bytes);
void journal_free(struct journal *journal);
/* journal_update - next is about to be served instead of served (NULL for a new zone):
 * returns the serial next must serve and remembers the change. The serial stays the same
 * when nothing a transfer writes changed; otherwise it is the data's serial when that is
 * newer (RFC 1982) than the served one, else the served one plus 1: it never goes back. */
uint32_t journal_update(struct journal *journal, const struct xfr_zone *served,
    const struct xfr_zone *next);
/* journal_forget_others - drop the entries of zones not among the names (zones removed) */
void journal_forget_others(struct journal *journal, const char *const *names, size_t count);
/* journal_chain - the entries leading zone from serial from to serial to, referenced, in
 * order (release with journal_chain_release); false when the journal does not reach back
 * to from (the caller sends the whole zone) */
bool journal_chain(struct journal *journal, const char *zone, uint32_t from, uint32_t to,
    struct journal_entry ***entries, size_t *count);
void journal_chain_release(struct journal_entry **entries, size_t count);
/* journal_stats - entries and bytes held for zone (all zones when zone is NULL) */
void journal_stats(struct journal *journal, const char *zone, size_t *entries, size_t *bytes);

#endif
