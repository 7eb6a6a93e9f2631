/* fuzz_queue_file.c - libFuzzer harness for the queue file parser (smtpd/queue_file.h).
 * A corrupt file on disk must never crash the queue manager: parse anything, check that what
 * is accepted stays inside the input and survives a write/parse round trip unchanged. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/queue_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* require - stop the fuzzer with a crash when an invariant is broken. */
static void
require(bool condition)
{
	if (!condition)
		abort();
}

/* inside - [p, p+length) lies within [base, base+size). */
static bool
inside(const char *p, size_t length, const char *base, size_t size)
{
	return p >= base && length <= size && (size_t)(p - base) <= size - length;
}

/* copy_text - length bytes as a C string; the input is not NUL-terminated, so no strndup
 * (which may look for the terminator past the end). */
static char *
copy_text(const char *text, size_t length)
{
	char *copy = malloc(length + 1);

	require(copy != NULL);
	memcpy(copy, text, length);
	copy[length] = '\0';
	return copy;
}

/* round_trip - write the parsed envelope again and parse it: same fields come back. */
static void
round_trip(const struct queue_file *file)
{
	struct queue_recipient *recipients = calloc(file->recipient_count, sizeof(*recipients));
	char *from = copy_text(file->mail_from, file->mail_from_length);
	size_t size;
	char *out, err[128];
	struct queue_file again;
	long length;

	require(recipients != NULL && from != NULL);
	for (size_t i = 0; i < file->recipient_count; i++) {
		recipients[i].address = copy_text(file->recipients[i].address,
		    file->recipients[i].address_length);
		require(recipients[i].address != NULL);
		recipients[i].decision = file->recipients[i].decision;
	}
	size = queue_file_envelope_size(from, recipients, file->recipient_count);
	out = malloc(size);
	require(out != NULL);
	length = queue_file_write_envelope(out, size, file->id, file->arrival_ms, from,
	    file->body_8bit, recipients, file->recipient_count);
	require(length > 0);
	require(queue_file_parse(out, (size_t)length, &again, err, sizeof(err)));
	require(strcmp(again.id, file->id) == 0);
	require(again.arrival_ms == file->arrival_ms);
	require(again.body_8bit == file->body_8bit);
	require(again.mail_from_length == file->mail_from_length);
	require(memcmp(again.mail_from, file->mail_from, file->mail_from_length) == 0);
	require(again.recipient_count == file->recipient_count);
	for (size_t i = 0; i < file->recipient_count; i++) {
		require(again.recipients[i].decision == file->recipients[i].decision);
		require(again.recipients[i].status == QUEUE_RCPT_PENDING);
		require(again.recipients[i].address_length == file->recipients[i].address_length);
		require(memcmp(again.recipients[i].address, file->recipients[i].address,
		    file->recipients[i].address_length) == 0);
		free((char *)recipients[i].address);
	}
	require(again.message_length == 0);
	queue_file_free(&again);
	free(out);
	free(from);
	free(recipients);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so any read past the end is caught. */
	char *copy = malloc(size > 0 ? size : 1);
	struct queue_file file;
	char err[128];

	require(copy != NULL);
	if (size > 0)
		memcpy(copy, data, size);
	if (!queue_file_parse(copy, size, &file, err, sizeof(err))) {
		require(strlen(err) > 0);
		require(file.recipients == NULL && file.recipient_count == 0);
		free(copy);
		return 0;
	}
	require(queue_file_id_valid(file.id, strlen(file.id)));
	require(file.recipient_count > 0 && file.recipient_count <= QUEUE_FILE_RECIPIENTS_MAX);
	require(inside(file.mail_from, file.mail_from_length, copy, size));
	require(file.message == copy + file.message_offset);
	require(file.message_offset + file.message_length == size);
	for (size_t i = 0; i < file.recipient_count; i++) {
		const struct queue_file_recipient *r = &file.recipients[i];

		require(inside(r->address, r->address_length, copy, size));
		require(r->address_length > 0 && r->address_length <= QUEUE_FILE_ADDRESS_MAX);
		require(r->status_offset < file.message_offset);
		require(copy[r->status_offset] == (char)r->status);
		require(queue_file_decision_name(r->decision) != NULL);
	}
	round_trip(&file);
	queue_file_free(&file);
	free(copy);
	return 0;
}
