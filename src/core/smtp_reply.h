/* smtp_reply.h - incremental reader of SMTP replies (RFC 5321 4.2, RFC 3463 codes).
 * Pure and fuzzed: bytes in, replies out; never does I/O, never allocates. */
#ifndef RELAYGUARD_CORE_SMTP_REPLY_H
#define RELAYGUARD_CORE_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_REPLY_LINE_MAX 2048	/* longer lines are consumed but truncated, flag set */
#define SMTP_REPLY_TEXT_MAX 8192	/* all lines' text joined with '\n', truncated beyond */
#define SMTP_REPLY_LINES_MAX 512	/* a reply with more lines than this -> malformed */
#define SMTP_REPLY_ENHANCED_MAX 16	/* "5.999.999" and its NUL fit easily */

struct smtp_reply {
	int code;		/* 200..599 as sent; for a malformed reply 0 */
	char enhanced[SMTP_REPLY_ENHANCED_MAX];	/* RFC 3463 code of the LAST line ("5.7.1"), "" if none */
	char text[SMTP_REPLY_TEXT_MAX];	/* text after "ddd " / "ddd-" of every line, '\n'-joined,
					 * NUL-terminated, NUL bytes replaced by '?' */
	size_t text_length;
	size_t line_count;
	bool truncated;		/* some text did not fit (overlong line or reply) */
	bool bare_lf;		/* at least one line ended with LF without CR */
};

enum smtp_reply_status {
	SMTP_REPLY_NEED_MORE,	/* all input consumed, reply not complete yet */
	SMTP_REPLY_COMPLETE,	/* *reply holds a complete reply; call again for pipelined ones */
	SMTP_REPLY_MALFORMED,	/* garbage: *reply has code 0 and the offending line as text */
};

/* Private state: treat as opaque. */
struct smtp_reply_reader {
	/* The line being read: its first SMTP_REPLY_LINE_MAX bytes plus room for a CR. */
	char line[SMTP_REPLY_LINE_MAX + 1];
	size_t line_kept;	/* bytes stored in line */
	size_t line_seen;	/* bytes of the line seen so far (saturating) */
	bool line_last_cr;	/* the last byte seen of the line was CR */
	struct smtp_reply partial;	/* reply in progress */
};

/* smtp_reply_reader_init - prepare reader for the first reply. */
void smtp_reply_reader_init(struct smtp_reply_reader *reader);
/* smtp_reply_reader_feed - consume bytes from data; stops after the first complete or
 * malformed reply and sets *consumed to the bytes used (so the caller calls again with
 * the rest for pipelined replies). On NEED_MORE *consumed == length and *reply is not
 * touched. Never reads past length, never allocates. */
enum smtp_reply_status smtp_reply_reader_feed(struct smtp_reply_reader *reader,
    const char *data, size_t length, size_t *consumed, struct smtp_reply *reply);
/* smtp_reply_reader_pending - true if part of a reply has been read but not finished. */
bool smtp_reply_reader_pending(const struct smtp_reply_reader *reader);
/* smtp_reply_class - 2, 3, 4 or 5 from the code (0 when malformed) */
int smtp_reply_class(const struct smtp_reply *reply);
/* smtp_reply_first_line - the text of the first line (not NUL-terminated at its end:
 * *length says how long it is). */
const char *smtp_reply_first_line(const struct smtp_reply *reply, size_t *length);

#endif
