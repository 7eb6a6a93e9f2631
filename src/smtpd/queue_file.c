/* queue_file.c - write and parse the envelope of a queue file (format in queue_file.h).
 * Pure and fuzzed: the queue manager feeds it whatever is on disk; it must never crash. */
#include "smtpd/queue_file.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* Longest envelope line: "rcpt P outbound " plus an address. */
#define QUEUE_FILE_LINE_MAX (QUEUE_FILE_ADDRESS_MAX + 32)
/* Digits of a uint64_t in decimal. */
#define UINT64_DIGITS_MAX 20

struct line_cursor {
	const char *data;
	size_t length;
	size_t offset;
};

/* queue_file_id_valid - 1..QUEUE_ID_MAX-1 characters of [0-9A-Za-z]. */
bool
queue_file_id_valid(const char *id, size_t length)
{
	if (length == 0 || length >= QUEUE_ID_MAX)
		return false;
	for (size_t i = 0; i < length; i++) {
		char c = id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return false;
	}
	return true;
}

/* queue_file_decision_name - the word a rcpt line uses for a deliverable decision. */
const char *
queue_file_decision_name(enum relay_decision decision)
{
	switch (decision) {
	case RELAY_LOCAL:
		return "local";
	case RELAY_FORWARD:
		return "forward";
	case RELAY_OUTBOUND:
		return "outbound";
	default:
		return NULL;
	}
}

/* address_representable - no CR, LF or NUL, not too long. */
static bool
address_representable(const char *address)
{
	size_t length = strlen(address);

	if (length > QUEUE_FILE_ADDRESS_MAX)
		return false;
	return strpbrk(address, "\r\n") == NULL;
}

/* queue_file_envelope_size - an upper bound of the envelope's size. */
size_t
queue_file_envelope_size(const char *mail_from, const struct queue_recipient *recipients,
    size_t recipient_count)
{
	size_t size = 256 + strlen(mail_from);

	for (size_t i = 0; i < recipient_count; i++)
		size += 32 + strlen(recipients[i].address);
	return size;
}

/* append - copy text into out at *used; false when it does not fit. */
static bool
append(char *out, size_t out_size, size_t *used, const char *text, size_t length)
{
	if (out_size - *used <= length)
		return false;
	memcpy(out + *used, text, length);
	*used += length;
	out[*used] = '\0';
	return true;
}

/* queue_file_write_envelope - the envelope part of a new queue file. */
long
queue_file_write_envelope(char *out, size_t out_size, const char *id, uint64_t arrival_ms,
    const char *mail_from, bool body_8bit, const struct queue_recipient *recipients,
    size_t recipient_count)
{
	char line[QUEUE_FILE_LINE_MAX + 64];
	size_t used = 0;
	int n;

	if (out_size == 0)
		return -1;
	out[0] = '\0';
	if (!queue_file_id_valid(id, strlen(id)) || !address_representable(mail_from) ||
	    recipient_count == 0 || recipient_count > QUEUE_FILE_RECIPIENTS_MAX)
		return -1;
	n = snprintf(line, sizeof(line), "%s\nid %s\narrival %" PRIu64 "\nfrom %s\nbody %s\n",
	    QUEUE_FILE_MAGIC, id, arrival_ms, mail_from, body_8bit ? "8bitmime" : "7bit");
	if (n < 0 || (size_t)n >= sizeof(line) || !append(out, out_size, &used, line, (size_t)n))
		return -1;
	for (size_t i = 0; i < recipient_count; i++) {
		const char *decision = queue_file_decision_name(recipients[i].decision);

		if (decision == NULL || recipients[i].address == NULL ||
		    recipients[i].address[0] == '\0' ||
		    !address_representable(recipients[i].address))
			return -1;
		n = snprintf(line, sizeof(line), "rcpt %c %s %s\n", QUEUE_RCPT_PENDING, decision,
		    recipients[i].address);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    !append(out, out_size, &used, line, (size_t)n))
			return -1;
	}
	if (!append(out, out_size, &used, "message\n", strlen("message\n")))
		return -1;
	return (long)used;
}

/* next_line - the next LF-terminated line (without the LF); false at the end or when the
 * line is too long, unterminated, or holds a CR or NUL. */
static bool
next_line(struct line_cursor *cursor, const char **line, size_t *length, size_t *start)
{
	const char *begin = cursor->data + cursor->offset;
	size_t left = cursor->length - cursor->offset;
	const char *end;

	if (left == 0)
		return false;
	end = memchr(begin, '\n', left < QUEUE_FILE_LINE_MAX + 1 ? left : QUEUE_FILE_LINE_MAX + 1);
	if (end == NULL)
		return false;
	if (memchr(begin, '\r', (size_t)(end - begin)) != NULL ||
	    memchr(begin, '\0', (size_t)(end - begin)) != NULL)
		return false;
	*line = begin;
	*length = (size_t)(end - begin);
	*start = cursor->offset;
	cursor->offset += *length + 1;
	return true;
}

/* line_value - if line is "KEY VALUE" (or exactly "KEY " with an empty value), the value. */
static bool
line_value(const char *line, size_t length, const char *key, const char **value,
    size_t *value_length)
{
	size_t key_length = strlen(key);

	if (length < key_length + 1 || memcmp(line, key, key_length) != 0 ||
	    line[key_length] != ' ')
		return false;
	*value = line + key_length + 1;
	*value_length = length - key_length - 1;
	return true;
}

/* parse_uint64 - decimal digits only, no overflow. */
static bool
parse_uint64(const char *text, size_t length, uint64_t *out)
{
	uint64_t value = 0;

	if (length == 0 || length > UINT64_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < length; i++) {
		unsigned digit;

		if (text[i] < '0' || text[i] > '9')
			return false;
		digit = (unsigned)(text[i] - '0');
		if (value > (UINT64_MAX - digit) / 10)
			return false;
		value = value * 10 + digit;
	}
	*out = value;
	return true;
}

/* word_equals - text[0..length) is exactly word. */
static bool
word_equals(const char *text, size_t length, const char *word)
{
	return strlen(word) == length && memcmp(text, word, length) == 0;
}

/* parse_rcpt - "S DECISION ADDRESS" after "rcpt ". */
static bool
parse_rcpt(const char *value, size_t length, size_t value_offset,
    struct queue_file_recipient *out)
{
	static const enum relay_decision decisions[] = { RELAY_LOCAL, RELAY_FORWARD,
	    RELAY_OUTBOUND };
	const char *space;
	size_t word_length;
	bool found = false;

	if (length < 4 || value[1] != ' ')
		return false;
	if (value[0] != QUEUE_RCPT_PENDING && value[0] != QUEUE_RCPT_DELIVERED &&
	    value[0] != QUEUE_RCPT_FAILED)
		return false;
	out->status = (enum queue_rcpt_status)value[0];
	out->status_offset = value_offset;
	space = memchr(value + 2, ' ', length - 2);
	if (space == NULL)
		return false;
	word_length = (size_t)(space - (value + 2));
	for (size_t i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++) {
		if (word_equals(value + 2, word_length, queue_file_decision_name(decisions[i]))) {
			out->decision = decisions[i];
			found = true;
		}
	}
	if (!found)
		return false;
	out->address = space + 1;
	out->address_length = length - (size_t)(space + 1 - value);
	return out->address_length > 0 && out->address_length <= QUEUE_FILE_ADDRESS_MAX;
}

/* fail - write the reason, free what was built, return false. */
static bool
fail(struct queue_file *out, char *err, size_t err_size, const char *reason)
{
	if (err != NULL && err_size > 0)
		snprintf(err, err_size, "%s", reason);
	free(out->recipients);
	memset(out, 0, sizeof(*out));
	return false;
}

/* queue_file_parse - parse a whole queue file. */
bool
queue_file_parse(const char *data, size_t length, struct queue_file *out, char *err,
    size_t err_size)
{
	struct line_cursor cursor = { data, length, 0 };
	const char *line, *value;
	size_t line_length, value_length, start, capacity = 0;

	memset(out, 0, sizeof(*out));
	if (!next_line(&cursor, &line, &line_length, &start) ||
	    !word_equals(line, line_length, QUEUE_FILE_MAGIC))
		return fail(out, err, err_size, "not a queue file (bad first line)");
	if (!next_line(&cursor, &line, &line_length, &start) ||
	    !line_value(line, line_length, "id", &value, &value_length) ||
	    !queue_file_id_valid(value, value_length))
		return fail(out, err, err_size, "bad id line");
	memcpy(out->id, value, value_length);
	out->id[value_length] = '\0';
	if (!next_line(&cursor, &line, &line_length, &start) ||
	    !line_value(line, line_length, "arrival", &value, &value_length) ||
	    !parse_uint64(value, value_length, &out->arrival_ms))
		return fail(out, err, err_size, "bad arrival line");
	if (!next_line(&cursor, &line, &line_length, &start) ||
	    !line_value(line, line_length, "from", &value, &value_length) ||
	    value_length > QUEUE_FILE_ADDRESS_MAX)
		return fail(out, err, err_size, "bad from line");
	out->mail_from = value;
	out->mail_from_length = value_length;
	if (!next_line(&cursor, &line, &line_length, &start) ||
	    !line_value(line, line_length, "body", &value, &value_length))
		return fail(out, err, err_size, "bad body line");
	if (word_equals(value, value_length, "8bitmime"))
		out->body_8bit = true;
	else if (!word_equals(value, value_length, "7bit"))
		return fail(out, err, err_size, "bad body line");
	for (;;) {
		if (!next_line(&cursor, &line, &line_length, &start))
			return fail(out, err, err_size, "truncated envelope");
		if (word_equals(line, line_length, "message"))
			break;
		if (!line_value(line, line_length, "rcpt", &value, &value_length))
			return fail(out, err, err_size, "unknown envelope line");
		if (out->recipient_count == QUEUE_FILE_RECIPIENTS_MAX)
			return fail(out, err, err_size, "too many recipients");
		if (out->recipient_count == capacity) {
			capacity = capacity == 0 ? 8 : capacity * 2;
			out->recipients = xrealloc(out->recipients,
			    capacity * sizeof(out->recipients[0]));
		}
		if (!parse_rcpt(value, value_length, start + (size_t)(value - line),
		    &out->recipients[out->recipient_count]))
			return fail(out, err, err_size, "bad rcpt line");
		out->recipient_count++;
	}
	if (out->recipient_count == 0)
		return fail(out, err, err_size, "no recipients");
	out->message_offset = cursor.offset;
	out->message = data + cursor.offset;
	out->message_length = length - cursor.offset;
	return true;
}

/* queue_file_free - release what queue_file_parse allocated. */
void
queue_file_free(struct queue_file *file)
{
	free(file->recipients);
	memset(file, 0, sizeof(*file));
}
