/* deliver.h - the delivery agents the queue manager drives: local Maildir, and SMTP/LMTP to a
 * next hop or to a domain's MX hosts. They report per-recipient results; they never bounce. */
#ifndef RELAYGUARD_SMTPD_DELIVER_H
#define RELAYGUARD_SMTPD_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hostport.h"

struct event_base;
struct resolver;
struct user_table;

/* Room for a diagnostic ("smtp; 550 5.1.1 <u@example.com>: no such user"). */
#define DELIVER_DIAGNOSTIC_MAX 512
#define DELIVER_STATUS_MAX 16
#define DELIVER_REMOTE_MAX 320
/* Port of direct MX delivery (IANA "smtp"). */
#define DELIVER_SMTP_PORT 25

enum deliver_outcome {
	DELIVER_OK,		/* delivered: done with this recipient */
	DELIVER_TEMPORARY,	/* try again later */
	DELIVER_PERMANENT,	/* give up: DSN to the sender */
};

struct deliver_result {
	enum deliver_outcome outcome;
	char status[DELIVER_STATUS_MAX];		/* RFC 3463: "2.0.0", "4.4.1", "5.1.1" */
	char diagnostic[DELIVER_DIAGNOSTIC_MAX];	/* "smtp; 550 5.1.1 ..." or our text */
	char remote[DELIVER_REMOTE_MAX];		/* "mx.example.net[192.0.2.1]", "" local */
};

/* deliver_result_set - fill a result; diagnostic is printf-formatted, control bytes are
 * replaced by spaces. */
void deliver_result_set(struct deliver_result *result, enum deliver_outcome outcome,
    const char *status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- deliver_maildir.c ---- */

/* deliver_maildir - write message (CRLF in the queue; LF in the Maildir) into
 * MAILDIR/DOMAIN/LOCAL/new through tmp/: unique name, write, fsync, rename, fsync new/.
 * The mailbox must exist (its directory, or a users-file entry, or "postmaster"); users
 * may be NULL. A Return-Path and a Delivered-To header are prepended. Synchronous. */
void deliver_maildir(const char *maildir_root, const struct user_table *users,
    const char *hostname, const char *mail_from, const char *recipient,
    const char *message, size_t message_length, struct deliver_result *result);

/* deliver_maildir_split - split "local@domain", unquote the local part and check that both
 * are safe as one path component each (no '/', not "." or "..", no control bytes).
 * Pure. false with a reason in err. */
bool deliver_maildir_split(const char *recipient, char *local, size_t local_size,
    char *domain, size_t domain_size, char *err, size_t err_size);

/* ---- deliver_smtp.c ---- */

/* Idle connections kept between transactions, one cache per loop (deliver_smtp.c). */
struct deliver_smtp_cache;
struct deliver_smtp_cache *deliver_smtp_cache_new(void);
/* deliver_smtp_cache_free - close every idle connection (before the loop is freed). */
void deliver_smtp_cache_free(struct deliver_smtp_cache *cache);

struct deliver_smtp_request {
	struct event_base *base;
	struct deliver_smtp_cache *cache;	/* NULL: one connection per transaction */
	struct resolver *resolver;	/* for names and MX; may be NULL for address literals */
	bool lmtp;			/* LHLO and one reply per recipient after the data */
	/* where: a next hop (host, port), or mx_domain for direct MX delivery on port 25 */
	const struct hostport *next_hop;
	const char *mx_domain;
	const char *helo_name;
	const char *mail_from;		/* "" for <> */
	bool body_8bit;
	const char *const *recipients;
	size_t recipient_count;
	const char *message;		/* CRLF line ends; stays valid until done */
	size_t message_length;
	uint64_t timeout_ms;		/* for each reply */
	const char *queue_id;		/* for the logs */
};

typedef void (*deliver_smtp_done_fn)(void *arg);
struct deliver_smtp;

/* deliver_smtp_start - one SMTP (or LMTP) transaction for every recipient; fills results
 * (one per recipient) and calls done from the loop, never from inside this call. The
 * request's strings must stay valid until done. The handle is valid until done runs. */
struct deliver_smtp *deliver_smtp_start(const struct deliver_smtp_request *request,
    struct deliver_result *results, deliver_smtp_done_fn done, void *arg);
/* deliver_smtp_abort - give up (shutdown): done is not called. Call resolver_free after
 * aborting, never before: a client waiting for DNS is freed by the cancelled callback. */
void deliver_smtp_abort(struct deliver_smtp *handle);

#endif
