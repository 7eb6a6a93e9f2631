/* reload.h - keep the served zones in step with their data files: watch them (inotify and
 * a periodic stat of mtime, size and inode), load changed datasets in a loader thread and
 * swap in a new snapshot. A failed or partial load keeps the last good data: never SERVFAIL. */
#ifndef RELAYGUARD_DNSBL_RELOAD_H
#define RELAYGUARD_DNSBL_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsbl/dataset.h"
#include "dnsbl/store_feed.h"
#include "dnsbl/zone.h"

/* Longest error text kept in reload_status. */
#define RELOAD_ERROR_MAX 512

/* One dataset of a zone: rbldnsd's "type:file1,file2", or the listings of a relayguard
 * store ("store:URL"). */
struct reload_dataset_config {
	enum dataset_type type;
	char **paths;
	size_t path_count;
	struct store_feed_config *store;	/* non-NULL: store-fed (type and paths unused) */
};

/* One zone and its datasets (rbldnsd's several zone:type:files arguments for one zone). */
struct reload_zone_config {
	char *name;
	struct reload_dataset_config *datasets;
	size_t dataset_count;
};

struct reload_status {
	uint64_t generation;		/* of the snapshot being served (0: none yet) */
	uint64_t rounds;		/* checks of the files done */
	uint64_t loads;			/* datasets loaded */
	uint64_t failures;		/* dataset loads that failed (old data kept) */
	int64_t last_success;		/* Unix time of the last snapshot swap, 0 = never */
	int64_t last_failure;		/* Unix time of the last failed load, 0 = never */
	char last_error[RELOAD_ERROR_MAX];	/* "" when the last load of every dataset worked */
};

struct reload;

/* reload_new - the loader for these zones (configuration is copied); it publishes its
 * snapshots in slot. check_interval_s: how often files are stat()ed even without inotify
 * events (0 = only on events and requests). */
struct reload *reload_new(const struct reload_zone_config *zones, size_t zone_count,
    const struct zone_defaults *defaults, struct zone_snapshot_slot *slot,
    unsigned check_interval_s);
/* reload_load_initial - load everything now, in the calling thread; false and a message
 * when any dataset cannot be loaded (at start there is no last good data to keep) */
bool reload_load_initial(struct reload *reload, char *err, size_t err_size);
/* reload_run_round - one check of all files in the calling thread (what the loader thread
 * does on each event); force loads every dataset even when its files did not change.
 * Returns true when a new snapshot was swapped in. */
bool reload_run_round(struct reload *reload, bool force);
/* reload_start - start watching (inotify where it works) and the loader thread */
bool reload_start(struct reload *reload, char *err, size_t err_size);
/* reload_request - ask the loader for a round soon (SIGHUP, control socket); returns a
 * ticket that reload_ticket_done() reports on */
uint64_t reload_request(struct reload *reload, bool force);
bool reload_ticket_done(struct reload *reload, uint64_t ticket);
/* reload_notify_fd - readable after each round of the loader thread (an eventfd); call
 * reload_notify_drain() when it was */
int reload_notify_fd(const struct reload *reload);
void reload_notify_drain(struct reload *reload);
void reload_get_status(struct reload *reload, struct reload_status *out);
/* reload_stop - stop and join the loader thread (no-op if not started) */
void reload_stop(struct reload *reload);
/* reload_free - stop, and free everything but the slot and its snapshot */
void reload_free(struct reload *reload);

#endif
