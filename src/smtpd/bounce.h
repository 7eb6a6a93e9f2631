/* bounce.h - build delivery status notifications (RFC 3464 inside RFC 6522 multipart/report).
 * Pure: the queue manager decides whether to bounce (never to <>) and queues the result. */
#ifndef RELAYGUARD_SMTPD_BOUNCE_H
#define RELAYGUARD_SMTPD_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this much of the original header is returned in the DSN's third part. */
#define BOUNCE_HEADERS_MAX (64 * 1024)

struct bounce_recipient {
	const char *address;		/* the failed recipient as queued */
	size_t address_length;
	const char *status;		/* RFC 3463 code: "5.1.1", "4.4.7" */
	const char *diagnostic;		/* "smtp; 550 5.1.1 no such user" or our text */
	const char *remote_mta;		/* "" when there was none (local delivery) */
};

struct bounce_request {
	const char *reporting_mta;	/* our host name */
	const char *original_queue_id;
	const char *bounce_queue_id;	/* the DSN's own queue id (Message-ID, boundary) */
	const char *sender;		/* the original envelope sender; never "" */
	size_t sender_length;
	uint64_t arrival_ms;		/* when the original arrived */
	uint64_t now_ms;
	const struct bounce_recipient *recipients;
	size_t recipient_count;
	const char *original;		/* the queued message (Received header + data, CRLF) */
	size_t original_length;
};

/* bounce_build - the whole DSN message (headers and body, CRLF line ends) in a new buffer
 * (free it) and its length; NULL when the sender is empty or holds CR/LF (a DSN never goes
 * to <>, and nothing from outside may inject header lines). */
char *bounce_build(const struct bounce_request *request, size_t *length);

/* bounce_rfc5322_date - "Tue, 14 Nov 2023 22:13:20 +0000" for ms since the epoch (UTC).
 * Returns out. */
char *bounce_rfc5322_date(uint64_t ms, char *out, size_t out_size);

/* bounce_original_headers_length - how many bytes of the message are its header section
 * (through the empty line, or the whole message without one), capped at
 * BOUNCE_HEADERS_MAX on a line boundary. */
size_t bounce_original_headers_length(const char *message, size_t length);

#endif
