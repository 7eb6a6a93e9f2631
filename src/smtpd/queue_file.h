/* queue_file.h - the on-disk format of one queued message: envelope lines, then the message.
 * Pure: bytes in, struct or error out (fuzzed); a corrupt file is an error, never a crash. */
#ifndef RELAYGUARD_SMTPD_QUEUE_FILE_H
#define RELAYGUARD_SMTPD_QUEUE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtpd/queue.h"
#include "smtpd/relay_policy.h"

/*
 * Layout (every envelope line ends with LF; the message keeps its CRLFs):
 *
 *	relayguard-queue 1
 *	id 18A3F0C2B9D1E4F2C7A0B
 *	arrival 1700000000123		(wall clock, milliseconds since the epoch)
 *	from sender@example.org		("from " alone for <>)
 *	body 7bit			(or 8bitmime)
 *	rcpt P local user@example.com	(status byte, decision, address; one line each)
 *	rcpt D forward user@example.net
 *	message
 *	Received: ...CRLF		(the session's header, then the data, to end of file)
 *
 * The status byte of a rcpt line is rewritten in place by the queue manager when the
 * recipient is done, so a restart never delivers it again.
 */

#define QUEUE_FILE_MAGIC "relayguard-queue 1"
/* Longest address on a from/rcpt line (RFC 5321 path limit, with room to spare). */
#define QUEUE_FILE_ADDRESS_MAX 512
/* Most recipients one queue file may hold. */
#define QUEUE_FILE_RECIPIENTS_MAX 100000

enum queue_rcpt_status {
	QUEUE_RCPT_PENDING = 'P',	/* not delivered yet */
	QUEUE_RCPT_DELIVERED = 'D',	/* accepted by the Maildir or the next hop */
	QUEUE_RCPT_FAILED = 'F',	/* failed for good; the DSN (if any) is queued */
};

struct queue_file_recipient {
	const char *address;		/* into the parsed data; not NUL-terminated */
	size_t address_length;
	enum relay_decision decision;
	enum queue_rcpt_status status;
	size_t status_offset;		/* where the status byte sits in the file */
};

struct queue_file {
	char id[QUEUE_ID_MAX];
	uint64_t arrival_ms;
	const char *mail_from;		/* into the data; "" length 0 for <> */
	size_t mail_from_length;
	bool body_8bit;
	struct queue_file_recipient *recipients;	/* allocated; queue_file_free */
	size_t recipient_count;
	const char *message;		/* Received header + data, CRLF line ends */
	size_t message_length;
	size_t message_offset;		/* where the message starts in the file */
};

/* queue_file_parse - parse a whole queue file held in data. false and a reason in err for
 * anything malformed (out is then empty and needs no free). Never reads past length. */
bool queue_file_parse(const char *data, size_t length, struct queue_file *out, char *err,
    size_t err_size);
void queue_file_free(struct queue_file *file);

/* queue_file_write_envelope - the envelope part (through "message\n") into out.
 * Returns its length, or -1 when it does not fit or a field is not representable
 * (CR, LF or NUL in an address, an id that is not [0-9A-Za-z], an undeliverable
 * decision, no recipients). Recipients start PENDING. */
long queue_file_write_envelope(char *out, size_t out_size, const char *id,
    uint64_t arrival_ms, const char *mail_from, bool body_8bit,
    const struct queue_recipient *recipients, size_t recipient_count);
/* queue_file_envelope_size - an upper bound of what queue_file_write_envelope needs. */
size_t queue_file_envelope_size(const char *mail_from, const struct queue_recipient *recipients,
    size_t recipient_count);

/* queue_file_id_valid - 1..QUEUE_ID_MAX-1 characters of [0-9A-Za-z]: safe as a file name. */
bool queue_file_id_valid(const char *id, size_t length);
/* queue_file_decision_name - "local", "forward", "outbound" (NULL for other decisions). */
const char *queue_file_decision_name(enum relay_decision decision);

#endif
