/* test_queue_file.c - unit tests of the queue file format (smtpd/queue_file.h): what the
 * writer produces parses back, and anything damaged is refused instead of misread. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd/queue_file.h"

#define ENVELOPE_MAX 4096
#define ID "18A3F0C2B9D1E4F2C7A0B"
#define ARRIVAL 1700000000123ULL
#define MESSAGE "Received: from client.example.org\r\nSubject: hi\r\n\r\nbody\r\n"

static const struct queue_recipient two_recipients[] = {
	{ "user@example.com", RELAY_LOCAL },
	{ "other@example.net", RELAY_FORWARD },
};

/* build - envelope for two_recipients plus MESSAGE into out; returns the total length. */
static size_t
build(char *out, size_t out_size, const char *from)
{
	long length = queue_file_write_envelope(out, out_size, ID, ARRIVAL, from, true,
	    two_recipients, 2);

	assert_true(length > 0);
	assert_true((size_t)length + strlen(MESSAGE) < out_size);
	memcpy(out + length, MESSAGE, strlen(MESSAGE));
	return (size_t)length + strlen(MESSAGE);
}

static void
test_written_envelope_parses_back(void **state)
{
	char data[ENVELOPE_MAX], err[128];
	struct queue_file file;
	size_t length = build(data, sizeof(data), "sender@example.org");

	(void)state;
	assert_true(queue_file_parse(data, length, &file, err, sizeof(err)));
	assert_string_equal(file.id, ID);
	assert_true(file.arrival_ms == ARRIVAL);
	assert_int_equal(file.mail_from_length, strlen("sender@example.org"));
	assert_memory_equal(file.mail_from, "sender@example.org", file.mail_from_length);
	assert_true(file.body_8bit);
	assert_int_equal(file.recipient_count, 2);
	assert_memory_equal(file.recipients[0].address, "user@example.com",
	    file.recipients[0].address_length);
	assert_int_equal(file.recipients[0].decision, RELAY_LOCAL);
	assert_int_equal(file.recipients[1].decision, RELAY_FORWARD);
	assert_int_equal(file.recipients[0].status, QUEUE_RCPT_PENDING);
	assert_int_equal(file.message_length, strlen(MESSAGE));
	assert_memory_equal(file.message, MESSAGE, strlen(MESSAGE));
	queue_file_free(&file);
}

static void
test_null_sender_is_an_empty_from_line(void **state)
{
	char data[ENVELOPE_MAX], err[128];
	struct queue_file file;
	size_t length = build(data, sizeof(data), "");

	(void)state;
	assert_non_null(strstr(data, "\nfrom \n"));
	assert_true(queue_file_parse(data, length, &file, err, sizeof(err)));
	assert_int_equal(file.mail_from_length, 0);
	queue_file_free(&file);
}

/* The manager marks recipients done by rewriting one byte: the offset must point at it. */
static void
test_status_offset_points_at_the_status_byte(void **state)
{
	char data[ENVELOPE_MAX], err[128];
	struct queue_file file;
	size_t length = build(data, sizeof(data), "s@example.org");

	(void)state;
	assert_true(queue_file_parse(data, length, &file, err, sizeof(err)));
	assert_int_equal(data[file.recipients[1].status_offset], 'P');
	data[file.recipients[1].status_offset] = QUEUE_RCPT_DELIVERED;
	queue_file_free(&file);
	assert_true(queue_file_parse(data, length, &file, err, sizeof(err)));
	assert_int_equal(file.recipients[0].status, QUEUE_RCPT_PENDING);
	assert_int_equal(file.recipients[1].status, QUEUE_RCPT_DELIVERED);
	queue_file_free(&file);
}

static void
test_address_with_line_break_is_refused(void **state)
{
	char data[ENVELOPE_MAX];
	const struct queue_recipient injected[] = {
		{ "user@example.com\nrcpt P forward victim@example.net", RELAY_LOCAL },
	};

	(void)state;
	assert_true(queue_file_write_envelope(data, sizeof(data), ID, ARRIVAL, "s@example.org",
	    false, injected, 1) < 0);
	assert_true(queue_file_write_envelope(data, sizeof(data), ID, ARRIVAL,
	    "s@example.org\r\nrcpt P local x@example.com", false, two_recipients, 2) < 0);
}

static void
test_refused_decision_cannot_be_queued(void **state)
{
	char data[ENVELOPE_MAX];
	const struct queue_recipient denied[] = { { "victim@example.net", RELAY_DENIED } };

	(void)state;
	assert_true(queue_file_write_envelope(data, sizeof(data), ID, ARRIVAL, "s@example.org",
	    false, denied, 1) < 0);
}

static void
test_no_recipient_cannot_be_queued(void **state)
{
	char data[ENVELOPE_MAX];

	(void)state;
	assert_true(queue_file_write_envelope(data, sizeof(data), ID, ARRIVAL, "s@example.org",
	    false, two_recipients, 0) < 0);
}

static void
test_id_that_is_not_a_safe_file_name_is_refused(void **state)
{
	char data[ENVELOPE_MAX];

	(void)state;
	assert_true(queue_file_write_envelope(data, sizeof(data), "../etc", ARRIVAL, "",
	    false, two_recipients, 2) < 0);
	assert_true(queue_file_write_envelope(data, sizeof(data), "", ARRIVAL, "",
	    false, two_recipients, 2) < 0);
	assert_false(queue_file_id_valid("ABC/DEF", 7));
	assert_true(queue_file_id_valid("ABCdef012", 9));
}

static void
test_envelope_that_does_not_fit_is_refused(void **state)
{
	char data[40];

	(void)state;
	assert_true(queue_file_write_envelope(data, sizeof(data), ID, ARRIVAL, "s@example.org",
	    false, two_recipients, 2) < 0);
}

/* A file cut anywhere before the end of the envelope must be refused, never misread. */
static void
test_every_truncated_envelope_is_refused(void **state)
{
	char data[ENVELOPE_MAX], err[128];
	struct queue_file file;
	long envelope = queue_file_write_envelope(data, sizeof(data), ID, ARRIVAL,
	    "s@example.org", false, two_recipients, 2);

	(void)state;
	assert_true(envelope > 0);
	for (long cut = 0; cut < envelope; cut++)
		assert_false(queue_file_parse(data, (size_t)cut, &file, err, sizeof(err)));
	assert_true(queue_file_parse(data, (size_t)envelope, &file, err, sizeof(err)));
	assert_int_equal(file.message_length, 0);
	queue_file_free(&file);
}

/* parse_text - parse a NUL-terminated test file. */
static bool
parse_text(const char *text)
{
	char err[128];
	struct queue_file file;
	bool ok = queue_file_parse(text, strlen(text), &file, err, sizeof(err));

	if (ok)
		queue_file_free(&file);
	return ok;
}

static void
test_damaged_lines_are_refused(void **state)
{
	(void)state;
	assert_true(parse_text("relayguard-queue 1\nid A1\narrival 5\nfrom \nbody 7bit\n"
	    "rcpt P local u@example.com\nmessage\nx"));
	assert_false(parse_text("relayguard-queue 2\nid A1\narrival 5\nfrom \nbody 7bit\n"
	    "rcpt P local u@example.com\nmessage\n"));
	assert_false(parse_text("relayguard-queue 1\nid A1\narrival 5\nfrom \nbody 7bit\n"
	    "rcpt X local u@example.com\nmessage\n"));
	assert_false(parse_text("relayguard-queue 1\nid A1\narrival 5\nfrom \nbody 7bit\n"
	    "rcpt P denied u@example.com\nmessage\n"));
	assert_false(parse_text("relayguard-queue 1\nid A1\narrival 5\nfrom \nbody 7bit\n"
	    "rcpt P local \nmessage\n"));
	assert_false(parse_text("relayguard-queue 1\nid A1\narrival 99999999999999999999999\n"
	    "from \nbody 7bit\nrcpt P local u@example.com\nmessage\n"));
	assert_false(parse_text("relayguard-queue 1\nid A1\narrival 5\nfrom \nbody 9bit\n"
	    "rcpt P local u@example.com\nmessage\n"));
	assert_false(parse_text("relayguard-queue 1\nid A1\narrival 5\nfrom \nbody 7bit\n"
	    "message\n"));
	assert_false(parse_text("relayguard-queue 1\nid A1\narrival 5\nfrom \nbody 7bit\n"
	    "extra line\nrcpt P local u@example.com\nmessage\n"));
	assert_false(parse_text("relayguard-queue 1\r\nid A1\narrival 5\nfrom \nbody 7bit\n"
	    "rcpt P local u@example.com\nmessage\n"));
}

static void
test_message_part_may_hold_any_bytes(void **state)
{
	static const char text[] = "relayguard-queue 1\nid A1\narrival 5\nfrom \nbody 8bitmime\n"
	    "rcpt P outbound u@example.net\nmessage\n\0\r\nrcpt P local x@example.com\n\xff";
	char err[128];
	struct queue_file file;

	(void)state;
	assert_true(queue_file_parse(text, sizeof(text) - 1, &file, err, sizeof(err)));
	assert_int_equal(file.recipient_count, 1);
	assert_int_equal(file.recipients[0].decision, RELAY_OUTBOUND);
	assert_int_equal(file.message_length, sizeof(text) - 1 - (size_t)(file.message - text));
	queue_file_free(&file);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_written_envelope_parses_back),
		cmocka_unit_test(test_null_sender_is_an_empty_from_line),
		cmocka_unit_test(test_status_offset_points_at_the_status_byte),
		cmocka_unit_test(test_address_with_line_break_is_refused),
		cmocka_unit_test(test_refused_decision_cannot_be_queued),
		cmocka_unit_test(test_no_recipient_cannot_be_queued),
		cmocka_unit_test(test_id_that_is_not_a_safe_file_name_is_refused),
		cmocka_unit_test(test_envelope_that_does_not_fit_is_refused),
		cmocka_unit_test(test_every_truncated_envelope_is_refused),
		cmocka_unit_test(test_damaged_lines_are_refused),
		cmocka_unit_test(test_message_part_may_hold_any_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
