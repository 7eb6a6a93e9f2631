/* queue_manager.h - the delivery side of the queue: one thread with its own event loop that
 * scans the spool, schedules, delivers (Maildir, SMTP/LMTP, MX), retries, expires, bounces. */
#ifndef RELAYGUARD_SMTPD_QUEUE_MANAGER_H
#define RELAYGUARD_SMTPD_QUEUE_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtpd/config.h"
#include "smtpd/queue_spool.h"

/* Messages delivered at the same time (each may hold one SMTP connection per domain). */
#define QUEUE_MANAGER_CONCURRENCY 64

struct queue_manager;

/* queue_manager_start - start the thread: clean tmp/, scan incoming/, active/, deferred/
 * and deliver. config and spool must outlive the manager. NULL and a message on failure. */
struct queue_manager *queue_manager_start(const struct smtpd_config *config,
    const struct queue_spool *spool, char *err, size_t err_size);

/* queue_manager_submit - id has just been committed into incoming/: deliver it.
 * Thread-safe; cheap (the manager is woken once for a batch). */
void queue_manager_submit(struct queue_manager *manager, const char *id);

/* queue_manager_stop - stop the thread (deliveries in flight are abandoned: their files
 * stay in active/ and are retried at the next start) and free the manager. */
void queue_manager_stop(struct queue_manager *manager);

/* queue_manager_next_delay - how long to wait before the next attempt of a message of the
 * given age: the age itself (so delays double), clamped to [retry_min, retry_max]. Pure. */
uint64_t queue_manager_next_delay(uint64_t age_ms, uint64_t retry_min_ms,
    uint64_t retry_max_ms);

#endif
