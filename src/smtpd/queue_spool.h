/* queue_spool.h - the queue directory on disk: its areas, queue ids, durable stores.
 * Shared by the writer (queue.c) and the manager (queue_manager.c); layout in docs/queue.md. */
#ifndef RELAYGUARD_SMTPD_QUEUE_SPOOL_H
#define RELAYGUARD_SMTPD_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "smtpd/queue.h"

/* The areas (subdirectories) of QDIR. A message lives in exactly one of them. */
enum queue_area {
	QUEUE_AREA_TMP,		/* being received: never acknowledged, removed at start */
	QUEUE_AREA_INCOMING,	/* committed (fsync'd, 250 sent), not yet taken by the manager */
	QUEUE_AREA_ACTIVE,	/* taken by the manager: being delivered or due soon */
	QUEUE_AREA_DEFERRED,	/* waiting for a retry; the file's mtime is the next attempt */
	QUEUE_AREA_CORRUPT,	/* unparseable files, kept for the operator, never delivered */
	QUEUE_AREA_RECYCLE,	/* finished files kept for reuse by new messages; never read */
	QUEUE_AREA_COUNT,
};

/* Most files kept in recycle/ (each holds an inode and its old blocks until reused). */
#define QUEUE_RECYCLE_MAX 1024

struct queue_recycle;

struct queue_spool {
	int root_fd;
	int area_fd[QUEUE_AREA_COUNT];
	struct queue_recycle *recycle;	/* names in recycle/, shared by every thread */
};

/* queue_area_name - "tmp", "incoming", "active", "deferred", "corrupt". */
const char *queue_area_name(enum queue_area area);

/* queue_spool_open - create path (one level, 0700) and its areas when missing, open them.
 * false and a message on failure. */
bool queue_spool_open(struct queue_spool *spool, const char *path, char *err, size_t err_size);
void queue_spool_close(struct queue_spool *spool);

/* queue_spool_sync_area - fsync the directory of an area (makes renames durable). */
bool queue_spool_sync_area(const struct queue_spool *spool, enum queue_area area);

/* queue_spool_move - rename id from one area to another (not synced: every area is
 * scanned at start, so a lost move only changes where a restart finds the file). */
bool queue_spool_move(const struct queue_spool *spool, const char *id, enum queue_area from,
    enum queue_area to);

/* queue_spool_create - open tmp/ID for writing from offset 0 (mode 0600). A file from
 * recycle/ is renamed to tmp/ID when one is there and nothing else links to it; else a new
 * file is created (O_EXCL). A recycled file keeps its old bytes: *stale_size says how many,
 * and the caller must ftruncate to its own length before syncing when that is shorter (so
 * the file's blocks are overwritten in place, and nothing waits on a truncation here).
 * Reusing files spares the file system an inode allocation and an inode free per message,
 * which on ext4 without a journal costs a scan past every recently deleted inode.
 * Thread-safe. -1 and errno on failure. */
int queue_spool_create(const struct queue_spool *spool, const char *id, off_t *stale_size);

/* queue_spool_remove - a finished message leaves the queue: area/ID moves to recycle/
 * while it holds fewer than QUEUE_RECYCLE_MAX files, else it is unlinked. Not synced, like
 * the unlink it replaces: after a crash the file may be back in area/ (one duplicate).
 * Thread-safe. false and errno when neither worked. */
bool queue_spool_remove(const struct queue_spool *spool, enum queue_area area, const char *id);

/* queue_spool_store - write envelope and message as tmp/ID, fsync it, rename it into
 * incoming, fsync incoming: durable on true. On false nothing is left behind. */
bool queue_spool_store(const struct queue_spool *spool, const char *id, const char *envelope,
    size_t envelope_length, const char *message, size_t message_length, char *err,
    size_t err_size);

/* queue_spool_write_all - write(2) until done (EINTR retried); false on error. */
bool queue_spool_write_all(int fd, const char *data, size_t length);

/* queue_id_generate - a new unique id: microseconds since the epoch (13 hex digits, so ids
 * sort by time) then 32 random bits (8 hex digits). Thread-safe. */
void queue_id_generate(char out[QUEUE_ID_MAX]);

/* queue_wall_ms - the wall clock in milliseconds since the epoch (arrival, expiry). */
uint64_t queue_wall_ms(void);

#endif
