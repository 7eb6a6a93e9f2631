/* smtp_reply.c - turn the bytes an SMTP server sends into complete replies, however split.
 * Called by the checker's SMTP client; pure: no I/O, no allocation, bounded memory. */
#include "core/smtp_reply.h"

#include <stdint.h>
#include <string.h>

#define SMTP_REPLY_CODE_DIGITS 3
/* "ddd" then ' ', '-' or the end of the line. */
#define SMTP_REPLY_TEXT_OFFSET (SMTP_REPLY_CODE_DIGITS + 1)
#define SMTP_REPLY_CODE_MIN 200
#define SMTP_REPLY_CODE_MAX 599
/* RFC 3463: subject and detail are 1 to 3 digits each. */
#define SMTP_ENHANCED_PART_DIGITS_MAX 3

enum smtp_reply_line_kind {
	SMTP_REPLY_LINE_BAD,
	SMTP_REPLY_LINE_CONTINUATION,
	SMTP_REPLY_LINE_LAST,
};

/* smtp_reply_reset - make reply an empty reply in progress. */
static void
smtp_reply_reset(struct smtp_reply *reply)
{
	reply->code = 0;
	memset(reply->enhanced, 0, sizeof(reply->enhanced));
	reply->text[0] = '\0';
	reply->text_length = 0;
	reply->line_count = 0;
	reply->truncated = false;
	reply->bare_lf = false;
}

/* smtp_reply_copy - copy a finished reply, its text only up to the NUL. */
static void
smtp_reply_copy(struct smtp_reply *to, const struct smtp_reply *from)
{
	to->code = from->code;
	memcpy(to->enhanced, from->enhanced, sizeof(to->enhanced));
	memcpy(to->text, from->text, from->text_length + 1);
	to->text_length = from->text_length;
	to->line_count = from->line_count;
	to->truncated = from->truncated;
	to->bare_lf = from->bare_lf;
}

/* smtp_reply_text_append - append bytes to the joined text, NULs replaced by '?',
 * cutting (and flagging) what does not fit. */
static void
smtp_reply_text_append(struct smtp_reply *reply, const char *bytes, size_t length)
{
	size_t room = SMTP_REPLY_TEXT_MAX - 1 - reply->text_length;

	if (length > room) {
		length = room;
		reply->truncated = true;
	}
	for (size_t i = 0; i < length; i++)
		reply->text[reply->text_length + i] = bytes[i] == '\0' ? '?' : bytes[i];
	reply->text_length += length;
	reply->text[reply->text_length] = '\0';
}

/* smtp_reply_line_classify - check "ddd", "ddd text" or "ddd-text"; sets *code. */
static enum smtp_reply_line_kind
smtp_reply_line_classify(const char *line, size_t length, int *code)
{
	int value = 0;

	if (length < SMTP_REPLY_CODE_DIGITS)
		return SMTP_REPLY_LINE_BAD;
	for (size_t i = 0; i < SMTP_REPLY_CODE_DIGITS; i++) {
		if (line[i] < '0' || line[i] > '9')
			return SMTP_REPLY_LINE_BAD;
		value = value * 10 + (line[i] - '0');
	}
	if (value < SMTP_REPLY_CODE_MIN || value > SMTP_REPLY_CODE_MAX)
		return SMTP_REPLY_LINE_BAD;
	*code = value;
	if (length == SMTP_REPLY_CODE_DIGITS || line[SMTP_REPLY_CODE_DIGITS] == ' ')
		return SMTP_REPLY_LINE_LAST;
	if (line[SMTP_REPLY_CODE_DIGITS] == '-')
		return SMTP_REPLY_LINE_CONTINUATION;
	return SMTP_REPLY_LINE_BAD;
}

/* smtp_enhanced_digits - count 1..max digits at text[*at], advancing *at; false if none
 * or too many. */
static bool
smtp_enhanced_digits(const char *text, size_t length, size_t *at, size_t max)
{
	size_t start = *at;

	while (*at < length && text[*at] >= '0' && text[*at] <= '9')
		(*at)++;
	return *at > start && *at - start <= max;
}

/* smtp_enhanced_parse - RFC 3463 "class.subject.detail" at the start of a line's text,
 * followed by a space or the end; writes it into out or leaves out "". */
static void
smtp_enhanced_parse(const char *text, size_t length, char out[SMTP_REPLY_ENHANCED_MAX])
{
	size_t at = 1;

	out[0] = '\0';
	if (length < 1 || (text[0] != '2' && text[0] != '4' && text[0] != '5'))
		return;
	if (at >= length || text[at++] != '.')
		return;
	if (!smtp_enhanced_digits(text, length, &at, SMTP_ENHANCED_PART_DIGITS_MAX))
		return;
	if (at >= length || text[at++] != '.')
		return;
	if (!smtp_enhanced_digits(text, length, &at, SMTP_ENHANCED_PART_DIGITS_MAX))
		return;
	if (at < length && text[at] != ' ')
		return;
	/* At most 1 + 1 + 3 + 1 + 3 bytes: always fits. */
	memcpy(out, text, at);
	out[at] = '\0';
}

/* smtp_reply_malformed - report line as the text of a malformed reply and reset. */
static enum smtp_reply_status
smtp_reply_malformed(struct smtp_reply_reader *reader, const char *line, size_t length,
    struct smtp_reply *reply)
{
	struct smtp_reply *partial = &reader->partial;
	size_t line_count = partial->line_count;
	bool bare_lf = partial->bare_lf;
	bool truncated = partial->truncated;

	smtp_reply_reset(partial);
	partial->line_count = line_count;
	partial->bare_lf = bare_lf;
	partial->truncated = truncated;
	smtp_reply_text_append(partial, line, length);
	smtp_reply_copy(reply, partial);
	smtp_reply_reset(partial);
	return SMTP_REPLY_MALFORMED;
}

/* smtp_reply_line_finish - a whole line has been read: add it to the reply in progress. */
static enum smtp_reply_status
smtp_reply_line_finish(struct smtp_reply_reader *reader, struct smtp_reply *reply)
{
	struct smtp_reply *partial = &reader->partial;
	size_t content = reader->line_seen - (reader->line_last_cr ? 1 : 0);
	size_t length = content < SMTP_REPLY_LINE_MAX ? content : SMTP_REPLY_LINE_MAX;
	const char *line = reader->line;
	enum smtp_reply_line_kind kind;
	int code = 0;

	partial->line_count++;
	if (!reader->line_last_cr)
		partial->bare_lf = true;
	if (content > SMTP_REPLY_LINE_MAX)
		partial->truncated = true;
	reader->line_kept = 0;
	reader->line_seen = 0;
	reader->line_last_cr = false;

	kind = smtp_reply_line_classify(line, length, &code);
	if (kind == SMTP_REPLY_LINE_BAD)
		return smtp_reply_malformed(reader, line, length, reply);
	if (partial->line_count > 1 && code != partial->code)
		return smtp_reply_malformed(reader, line, length, reply);
	if (partial->line_count > SMTP_REPLY_LINES_MAX)
		return smtp_reply_malformed(reader, line, length, reply);

	partial->code = code;
	if (partial->line_count > 1)
		smtp_reply_text_append(partial, "\n", 1);
	if (length > SMTP_REPLY_TEXT_OFFSET)
		smtp_reply_text_append(partial, line + SMTP_REPLY_TEXT_OFFSET,
		    length - SMTP_REPLY_TEXT_OFFSET);
	if (kind == SMTP_REPLY_LINE_CONTINUATION)
		return SMTP_REPLY_NEED_MORE;

	if (length > SMTP_REPLY_TEXT_OFFSET)
		smtp_enhanced_parse(line + SMTP_REPLY_TEXT_OFFSET,
		    length - SMTP_REPLY_TEXT_OFFSET, partial->enhanced);
	smtp_reply_copy(reply, partial);
	smtp_reply_reset(partial);
	return SMTP_REPLY_COMPLETE;
}

/* smtp_reply_line_store - remember bytes of the current line, keeping only what fits. */
static void
smtp_reply_line_store(struct smtp_reply_reader *reader, const char *bytes, size_t length)
{
	size_t room = sizeof(reader->line) - reader->line_kept;
	size_t keep = length < room ? length : room;

	if (length == 0)
		return;
	memcpy(reader->line + reader->line_kept, bytes, keep);
	reader->line_kept += keep;
	if (reader->line_seen > SIZE_MAX - length)
		reader->line_seen = SIZE_MAX;
	else
		reader->line_seen += length;
	reader->line_last_cr = bytes[length - 1] == '\r';
}

void
smtp_reply_reader_init(struct smtp_reply_reader *reader)
{
	reader->line_kept = 0;
	reader->line_seen = 0;
	reader->line_last_cr = false;
	smtp_reply_reset(&reader->partial);
}

enum smtp_reply_status
smtp_reply_reader_feed(struct smtp_reply_reader *reader, const char *data, size_t length,
    size_t *consumed, struct smtp_reply *reply)
{
	size_t at = 0;

	while (at < length) {
		const char *newline = memchr(data + at, '\n', length - at);
		enum smtp_reply_status status;

		if (newline == NULL) {
			smtp_reply_line_store(reader, data + at, length - at);
			break;
		}
		smtp_reply_line_store(reader, data + at, (size_t)(newline - (data + at)));
		at = (size_t)(newline - data) + 1;
		status = smtp_reply_line_finish(reader, reply);
		if (status != SMTP_REPLY_NEED_MORE) {
			*consumed = at;
			return status;
		}
	}
	*consumed = length;
	return SMTP_REPLY_NEED_MORE;
}

bool
smtp_reply_reader_pending(const struct smtp_reply_reader *reader)
{
	return reader->line_seen > 0 || reader->partial.line_count > 0;
}

int
smtp_reply_class(const struct smtp_reply *reply)
{
	if (reply->code < SMTP_REPLY_CODE_MIN || reply->code > SMTP_REPLY_CODE_MAX)
		return 0;
	return reply->code / 100;
}

const char *
smtp_reply_first_line(const struct smtp_reply *reply, size_t *length)
{
	const char *newline = memchr(reply->text, '\n', reply->text_length);

	*length = newline != NULL ? (size_t)(newline - reply->text) : reply->text_length;
	return reply->text;
}
