/* queue.h - the durable mail queue of relayguard smtpd: the session writes, the queue keeps.
 * A 250 is a promise: done(ok=true) is called only after file fsync, rename, directory fsync. */
#ifndef RELAYGUARD_SMTPD_QUEUE_H
#define RELAYGUARD_SMTPD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "smtpd/config.h"
#include "smtpd/relay_policy.h"

struct event_base;

/* Room for a queue id and its NUL (ids are upper-case hex, 21 characters today). */
#define QUEUE_ID_MAX 32

struct queue;
struct queue_writer;

/* queue_open - create QDIR/{tmp,incoming,active,deferred,corrupt} (0700), start the
 * group-commit flusher thread and the queue manager thread (which scans what is already
 * queued and delivers it). base is the caller's loop: commits made from the calling
 * thread have done() called on it. config must outlive the queue. NULL and a message in
 * err on failure. */
struct queue *queue_open(struct event_base *base, const struct smtpd_config *config,
    char *err, size_t err_size);

/* Flags of queue_open_flags. */
#define QUEUE_OPEN_NO_MANAGER 0x1	/* writer and flusher only: nothing is delivered */

/* queue_open_flags - queue_open with flags (tests and tools). */
struct queue *queue_open_flags(struct event_base *base, const struct smtpd_config *config,
    unsigned flags, char *err, size_t err_size);

/* queue_attach_loop - make base the loop on which done() runs for commits made from the
 * calling thread. Every worker thread other than the one that called queue_open calls this
 * once, from its own thread, before its sessions commit. false and a message on failure. */
bool queue_attach_loop(struct queue *queue, struct event_base *base, char *err,
    size_t err_size);

struct queue_recipient {
	const char *address;		/* "local@domain" as accepted (no angle brackets) */
	enum relay_decision decision;	/* RELAY_LOCAL, RELAY_FORWARD or RELAY_OUTBOUND */
};

struct queue_envelope {
	const char *mail_from;		/* "" for <> */
	const struct queue_recipient *recipients;
	size_t recipient_count;
	const char *received_header;	/* the whole "Received: ..." header, CRLF-terminated,
					 * written by the session (client rDNS verified, address,
					 * HELO, TLS version/cipher, AUTH user, queue id) */
	const char *queue_id;		/* from queue_id_new() */
	bool body_8bit;
};

/* queue_id_new - a new unique queue id (time-ordered hex). Thread-safe. */
void queue_id_new(struct queue *queue, char out[QUEUE_ID_MAX]);

/* queue_writer_begin - open QDIR/tmp/ID and write the envelope and the Received header.
 * NULL and a message on failure (I/O error, an address holding CR, LF or NUL, no
 * recipients, a decision that is not deliverable). */
struct queue_writer *queue_writer_begin(struct queue *queue, const struct queue_envelope *env,
    char *err, size_t err_size);
/* queue_writer_append - append message data (dot-unstuffed, CRLF line ends, no final ".");
 * false on I/O error (the writer then only accepts abort). */
bool queue_writer_append(struct queue_writer *writer, const char *data, size_t length);

/* commit: write, fsync the file, rename into the queue, fsync the directory, THEN call done
 * (from the session's event loop thread) — fsyncs are batched across sessions (group
 * commit) by a flusher thread; the session sends 250 only in done(ok=true), 451 4.3.0 else.
 * done is called exactly once, never from inside queue_writer_commit; the writer is owned
 * by the queue from the call on (do not abort it), and arg must stay valid until done. */
typedef void (*queue_commit_fn)(void *arg, bool ok, const char *queue_id);
void queue_writer_commit(struct queue_writer *writer, queue_commit_fn done, void *arg);
/* queue_writer_abort - unlink the temp file and free the writer (before commit only). */
void queue_writer_abort(struct queue_writer *writer);

/* queue_close - stop the manager, finish pending commits, free everything. Call it after
 * every session is gone: done() callbacks still pending then are dropped, uncalled. */
void queue_close(struct queue *queue);

#endif
