/* test_smtp_reply.c - unit tests of the incremental SMTP reply reader (core/smtp_reply.h).
 * Replies as servers really send them: multi-line, pipelined, split anywhere, hostile. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/smtp_reply.h"

#define EHLO_REPLY \
	"250-mail.example.com Hello [192.0.2.1]\r\n" \
	"250-PIPELINING\r\n" \
	"250-SIZE 10240000\r\n" \
	"250 8BITMIME\r\n"
#define EHLO_TEXT "mail.example.com Hello [192.0.2.1]\nPIPELINING\nSIZE 10240000\n8BITMIME"

/* feed_string - feed a whole NUL-terminated string once; returns the status. */
static enum smtp_reply_status
feed_string(struct smtp_reply_reader *reader, const char *text, size_t *consumed,
    struct smtp_reply *reply)
{
	return smtp_reply_reader_feed(reader, text, strlen(text), consumed, reply);
}

/* read_one - read exactly one reply from a fresh reader, insisting it uses all of text. */
static enum smtp_reply_status
read_one(const char *text, size_t length, struct smtp_reply *reply)
{
	struct smtp_reply_reader reader;
	size_t consumed = 0;
	enum smtp_reply_status status;

	smtp_reply_reader_init(&reader);
	status = smtp_reply_reader_feed(&reader, text, length, &consumed, reply);
	assert_int_equal(consumed, length);
	return status;
}

/* make_lines - "CODE-x...\r\n" count-1 times then "CODE x...\r\n"; caller frees. */
static char *
make_lines(const char *code, size_t count, size_t text_length, size_t *length_out)
{
	size_t line_length = 3 + 1 + text_length + 2;
	char *buffer = malloc(line_length * count + 1);
	size_t used = 0;

	assert_non_null(buffer);
	for (size_t i = 0; i < count; i++) {
		memcpy(buffer + used, code, 3);
		buffer[used + 3] = i + 1 < count ? '-' : ' ';
		memset(buffer + used + 4, 'x', text_length);
		memcpy(buffer + used + 4 + text_length, "\r\n", 2);
		used += line_length;
	}
	buffer[used] = '\0';
	*length_out = used;
	return buffer;
}

static void
test_single_line_reply_is_complete(void **state)
{
	const char *text = "220 mail.example.com ESMTP ready\r\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, strlen(text), &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 220);
	assert_string_equal(reply.text, "mail.example.com ESMTP ready");
	assert_int_equal(reply.text_length, strlen("mail.example.com ESMTP ready"));
	assert_int_equal(reply.line_count, 1);
	assert_false(reply.truncated);
	assert_false(reply.bare_lf);
	assert_string_equal(reply.enhanced, "");
}

static void
test_multiline_reply_joins_text_with_newlines(void **state)
{
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(EHLO_REPLY, strlen(EHLO_REPLY), &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 250);
	assert_string_equal(reply.text, EHLO_TEXT);
	assert_int_equal(reply.line_count, 4);
	assert_false(reply.bare_lf);
}

static void
test_multiline_reply_split_at_every_byte_position(void **state)
{
	size_t length = strlen(EHLO_REPLY);

	(void)state;
	/* The first part is never a complete reply: the last byte is the final LF. */
	for (size_t split = 0; split < length; split++) {
		struct smtp_reply_reader reader;
		struct smtp_reply reply;
		size_t consumed = 0;

		smtp_reply_reader_init(&reader);
		assert_int_equal(smtp_reply_reader_feed(&reader, EHLO_REPLY, split, &consumed,
		    &reply), SMTP_REPLY_NEED_MORE);
		assert_int_equal(consumed, split);
		assert_int_equal(smtp_reply_reader_feed(&reader, EHLO_REPLY + split,
		    length - split, &consumed, &reply), SMTP_REPLY_COMPLETE);
		assert_int_equal(consumed, length - split);
		assert_string_equal(reply.text, EHLO_TEXT);
		assert_int_equal(reply.line_count, 4);
		assert_false(reply.bare_lf);
	}
}

static void
test_replies_fed_one_byte_at_a_time(void **state)
{
	const char *text = "220-first banner line\r\n220 second\r\n"
	    "250 2.1.0 Sender ok\r\n550 5.7.1 Relaying denied\r\n";
	const int expected_codes[] = { 220, 250, 550 };
	size_t complete = 0;
	struct smtp_reply_reader reader;
	struct smtp_reply reply;

	(void)state;
	smtp_reply_reader_init(&reader);
	for (size_t i = 0; text[i] != '\0'; i++) {
		size_t consumed = 0;
		enum smtp_reply_status status = smtp_reply_reader_feed(&reader, text + i, 1,
		    &consumed, &reply);
		assert_int_equal(consumed, 1);
		assert_int_not_equal(status, SMTP_REPLY_MALFORMED);
		if (status == SMTP_REPLY_COMPLETE) {
			assert_true(complete < 3);
			assert_int_equal(reply.code, expected_codes[complete]);
			complete++;
		}
	}
	assert_int_equal(complete, 3);
	assert_string_equal(reply.text, "5.7.1 Relaying denied");
	assert_string_equal(reply.enhanced, "5.7.1");
	assert_false(smtp_reply_reader_pending(&reader));
}

static void
test_pipelined_replies_in_one_buffer_come_out_one_per_call(void **state)
{
	const char *text = "250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n354 Go ahead\r\n";
	size_t length = strlen(text);
	size_t offset = 0;
	size_t consumed = 0;
	struct smtp_reply_reader reader;
	struct smtp_reply reply;

	(void)state;
	smtp_reply_reader_init(&reader);
	assert_int_equal(smtp_reply_reader_feed(&reader, text, length, &consumed, &reply),
	    SMTP_REPLY_COMPLETE);
	assert_int_equal(consumed, strlen("250 2.1.0 Sender ok\r\n"));
	assert_string_equal(reply.enhanced, "2.1.0");
	offset += consumed;
	assert_int_equal(smtp_reply_reader_feed(&reader, text + offset, length - offset,
	    &consumed, &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(consumed, strlen("250 2.1.5 Recipient ok\r\n"));
	assert_string_equal(reply.text, "2.1.5 Recipient ok");
	offset += consumed;
	assert_int_equal(smtp_reply_reader_feed(&reader, text + offset, length - offset,
	    &consumed, &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 354);
	assert_int_equal(offset + consumed, length);
}

static void
test_incomplete_reply_needs_more_and_consumes_everything(void **state)
{
	const char *text = "250-first\r\n250 sec";
	struct smtp_reply_reader reader;
	struct smtp_reply reply;
	size_t consumed = 0;

	(void)state;
	memset(&reply, 0x5a, sizeof(reply));
	smtp_reply_reader_init(&reader);
	assert_false(smtp_reply_reader_pending(&reader));
	assert_int_equal(feed_string(&reader, text, &consumed, &reply), SMTP_REPLY_NEED_MORE);
	assert_int_equal(consumed, strlen(text));
	assert_true(smtp_reply_reader_pending(&reader));
	/* NEED_MORE leaves the caller's reply alone. */
	assert_int_equal(reply.code, 0x5a5a5a5a);
	assert_int_equal(feed_string(&reader, "ond\r\n", &consumed, &reply), SMTP_REPLY_COMPLETE);
	assert_string_equal(reply.text, "first\nsecond");
}

static void
test_empty_input_needs_more(void **state)
{
	struct smtp_reply_reader reader;
	struct smtp_reply reply;
	size_t consumed = 99;

	(void)state;
	smtp_reply_reader_init(&reader);
	assert_int_equal(smtp_reply_reader_feed(&reader, "", 0, &consumed, &reply),
	    SMTP_REPLY_NEED_MORE);
	assert_int_equal(consumed, 0);
}

static void
test_bare_lf_line_end_is_accepted_and_flagged(void **state)
{
	const char *text = "250-one\r\n250 two\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, strlen(text), &reply), SMTP_REPLY_COMPLETE);
	assert_true(reply.bare_lf);
	assert_string_equal(reply.text, "one\ntwo");
}

static void
test_crlf_split_between_cr_and_lf_is_not_bare_lf(void **state)
{
	struct smtp_reply_reader reader;
	struct smtp_reply reply;
	size_t consumed = 0;

	(void)state;
	smtp_reply_reader_init(&reader);
	assert_int_equal(feed_string(&reader, "221 Bye\r", &consumed, &reply), SMTP_REPLY_NEED_MORE);
	assert_int_equal(feed_string(&reader, "\n", &consumed, &reply), SMTP_REPLY_COMPLETE);
	assert_false(reply.bare_lf);
	assert_string_equal(reply.text, "Bye");
}

static void
test_cr_inside_a_line_is_text_not_a_line_end(void **state)
{
	const char *text = "250 a\rb\r\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, strlen(text), &reply), SMTP_REPLY_COMPLETE);
	assert_string_equal(reply.text, "a\rb");
	assert_int_equal(reply.line_count, 1);
}

static void
test_enhanced_code_is_taken_from_the_last_line(void **state)
{
	const char *text = "550-5.1.1 first line\r\n550 5.7.1 Relaying denied\r\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, strlen(text), &reply), SMTP_REPLY_COMPLETE);
	assert_string_equal(reply.enhanced, "5.7.1");
}

static void
test_enhanced_code_only_on_a_continuation_line_is_ignored(void **state)
{
	const char *text = "250-2.0.0 first\r\n250 no code here\r\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, strlen(text), &reply), SMTP_REPLY_COMPLETE);
	assert_string_equal(reply.enhanced, "");
}

static void
test_enhanced_code_may_end_the_line(void **state)
{
	const char *text = "250 2.0.0\r\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, strlen(text), &reply), SMTP_REPLY_COMPLETE);
	assert_string_equal(reply.enhanced, "2.0.0");
}

static void
test_enhanced_code_with_three_digit_parts_is_accepted(void **state)
{
	const char *text = "452 4.100.999 Odd but valid\r\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, strlen(text), &reply), SMTP_REPLY_COMPLETE);
	assert_string_equal(reply.enhanced, "4.100.999");
}

/* RFC 3463 2: class is 2, 4 or 5; subject and detail 1 to 3 digits. */
static void
test_invalid_enhanced_codes_are_not_reported(void **state)
{
	const char *const texts[] = {
		"250 3.0.0 class three\r\n",
		"250 2.0.0x glued text\r\n",
		"250 2.0 two parts\r\n",
		"250 2.1000.0 long subject\r\n",
		"250 2.0.1000 long detail\r\n",
		"250 2..0 empty subject\r\n",
		"250 2.0. empty detail\r\n",
		"250 .2.0.0 leading dot\r\n",
		"250  2.0.0 two spaces\r\n",
		"250 2\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct smtp_reply reply;
		assert_int_equal(read_one(texts[i], strlen(texts[i]), &reply), SMTP_REPLY_COMPLETE);
		assert_string_equal(reply.enhanced, "");
	}
}

static void
test_non_digit_code_is_malformed_and_reader_recovers(void **state)
{
	struct smtp_reply_reader reader;
	struct smtp_reply reply;
	size_t consumed = 0;
	const char *text = "hello there\r\n250 ok\r\n";

	(void)state;
	smtp_reply_reader_init(&reader);
	assert_int_equal(feed_string(&reader, text, &consumed, &reply), SMTP_REPLY_MALFORMED);
	assert_int_equal(consumed, strlen("hello there\r\n"));
	assert_int_equal(reply.code, 0);
	assert_int_equal(smtp_reply_class(&reply), 0);
	assert_string_equal(reply.text, "hello there");
	assert_string_equal(reply.enhanced, "");
	assert_false(smtp_reply_reader_pending(&reader));
	assert_int_equal(feed_string(&reader, text + consumed, &consumed, &reply),
	    SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 250);
	assert_string_equal(reply.text, "ok");
}

/* RFC 5321 4.2: the first digit is 2 to 5. */
static void
test_codes_outside_200_to_599_are_malformed(void **state)
{
	const char *const texts[] = {
		"600 too high\r\n", "199 too low\r\n", "100 continue\r\n", "099 x\r\n",
		"000\r\n", "999 x\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct smtp_reply reply;
		assert_int_equal(read_one(texts[i], strlen(texts[i]), &reply), SMTP_REPLY_MALFORMED);
		assert_int_equal(reply.code, 0);
	}
}

static void
test_codes_200_and_599_are_accepted(void **state)
{
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one("200 low\r\n", 9, &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 200);
	assert_int_equal(read_one("599 high\r\n", 10, &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 599);
}

static void
test_mismatched_continuation_code_is_malformed_after_its_line(void **state)
{
	const char *text = "250-first\r\n251 second\r\n220 next\r\n";
	struct smtp_reply_reader reader;
	struct smtp_reply reply;
	size_t consumed = 0;

	(void)state;
	smtp_reply_reader_init(&reader);
	assert_int_equal(feed_string(&reader, text, &consumed, &reply), SMTP_REPLY_MALFORMED);
	assert_int_equal(consumed, strlen("250-first\r\n251 second\r\n"));
	assert_int_equal(reply.code, 0);
	assert_string_equal(reply.text, "251 second");
	assert_int_equal(reply.line_count, 2);
	assert_int_equal(feed_string(&reader, text + consumed, &consumed, &reply),
	    SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 220);
	assert_int_equal(reply.line_count, 1);
}

static void
test_bad_separator_after_code_is_malformed(void **state)
{
	const char *const texts[] = { "250_ok\r\n", "2500\r\n", "250\tok\r\n", "250:ok\r\n" };

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct smtp_reply reply;
		assert_int_equal(read_one(texts[i], strlen(texts[i]), &reply), SMTP_REPLY_MALFORMED);
	}
}

static void
test_short_and_empty_lines_are_malformed(void **state)
{
	const char *const texts[] = { "25\r\n", "\r\n", "\n", " 250 ok\r\n" };

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct smtp_reply reply;
		assert_int_equal(read_one(texts[i], strlen(texts[i]), &reply), SMTP_REPLY_MALFORMED);
		assert_int_equal(reply.text_length, strlen(reply.text));
	}
}

static void
test_overlong_line_is_consumed_truncated_and_flagged(void **state)
{
	size_t text_length = 3 * SMTP_REPLY_LINE_MAX;
	size_t length;
	char *text = make_lines("554", 1, text_length, &length);
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, length, &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 554);
	assert_true(reply.truncated);
	assert_false(reply.bare_lf);
	assert_int_equal(reply.text_length, SMTP_REPLY_LINE_MAX - 4);
	assert_int_equal(strlen(reply.text), reply.text_length);
	free(text);
}

static void
test_overlong_line_fed_byte_by_byte_stays_bounded(void **state)
{
	size_t length;
	char *text = make_lines("250", 1, 50000, &length);
	struct smtp_reply_reader reader;
	struct smtp_reply reply;
	size_t complete = 0;

	(void)state;
	smtp_reply_reader_init(&reader);
	for (size_t i = 0; i < length; i++) {
		size_t consumed = 0;
		if (smtp_reply_reader_feed(&reader, text + i, 1, &consumed, &reply) ==
		    SMTP_REPLY_COMPLETE)
			complete++;
		assert_true(reader.line_kept <= sizeof(reader.line));
	}
	assert_int_equal(complete, 1);
	assert_true(reply.truncated);
	assert_int_equal(reply.text_length, SMTP_REPLY_LINE_MAX - 4);
	free(text);
}

static void
test_line_of_exactly_the_limit_is_not_truncated(void **state)
{
	size_t length;
	char *text = make_lines("250", 1, SMTP_REPLY_LINE_MAX - 4, &length);
	struct smtp_reply_reader reader;
	struct smtp_reply reply;
	enum smtp_reply_status status = SMTP_REPLY_NEED_MORE;

	(void)state;
	assert_int_equal(read_one(text, length, &reply), SMTP_REPLY_COMPLETE);
	assert_false(reply.truncated);
	assert_int_equal(reply.text_length, SMTP_REPLY_LINE_MAX - 4);
	/* Same when the CR arrives alone, after the buffer is full. */
	smtp_reply_reader_init(&reader);
	for (size_t i = 0; i < length; i++) {
		size_t consumed = 0;
		status = smtp_reply_reader_feed(&reader, text + i, 1, &consumed, &reply);
	}
	assert_int_equal(status, SMTP_REPLY_COMPLETE);
	assert_false(reply.truncated);
	assert_false(reply.bare_lf);
	assert_int_equal(reply.text_length, SMTP_REPLY_LINE_MAX - 4);
	free(text);
}

static void
test_reply_text_beyond_the_limit_is_truncated(void **state)
{
	size_t length;
	char *text = make_lines("250", 20, 1000, &length);
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, length, &reply), SMTP_REPLY_COMPLETE);
	assert_true(reply.truncated);
	assert_int_equal(reply.line_count, 20);
	assert_int_equal(reply.text_length, SMTP_REPLY_TEXT_MAX - 1);
	assert_int_equal(strlen(reply.text), SMTP_REPLY_TEXT_MAX - 1);
	free(text);
}

static void
test_reply_with_the_maximum_number_of_lines_is_accepted(void **state)
{
	size_t length;
	char *text = make_lines("250", SMTP_REPLY_LINES_MAX, 2, &length);
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, length, &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.line_count, SMTP_REPLY_LINES_MAX);
	assert_false(reply.truncated);
	free(text);
}

static void
test_too_many_lines_is_malformed(void **state)
{
	size_t length;
	char *text = make_lines("250", SMTP_REPLY_LINES_MAX + 10, 2, &length);
	size_t line_length = 3 + 1 + 2 + 2;
	struct smtp_reply_reader reader;
	struct smtp_reply reply;
	size_t consumed = 0;

	(void)state;
	smtp_reply_reader_init(&reader);
	assert_int_equal(smtp_reply_reader_feed(&reader, text, length, &consumed, &reply),
	    SMTP_REPLY_MALFORMED);
	assert_int_equal(consumed, line_length * (SMTP_REPLY_LINES_MAX + 1));
	assert_int_equal(reply.code, 0);
	assert_string_equal(reply.text, "250-xx");
	free(text);
}

static void
test_nul_bytes_in_text_are_replaced(void **state)
{
	const char text[] = "250-a\0b\r\n250 \0\r\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, sizeof(text) - 1, &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.text_length, 5);
	assert_int_equal(strlen(reply.text), 5);
	assert_string_equal(reply.text, "a?b\n?");
}

static void
test_nul_bytes_in_malformed_line_are_replaced(void **state)
{
	const char text[] = "\0\0\0 x\r\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, sizeof(text) - 1, &reply), SMTP_REPLY_MALFORMED);
	assert_string_equal(reply.text, "??? x");
}

static void
test_code_without_text_gives_empty_text(void **state)
{
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one("250\r\n", 5, &reply), SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 250);
	assert_string_equal(reply.text, "");
	assert_int_equal(reply.text_length, 0);
	assert_int_equal(reply.line_count, 1);
}

static void
test_empty_continuation_lines_keep_their_place(void **state)
{
	const char *text = "220-\r\n220-\r\n220 ready\r\n";
	struct smtp_reply reply;

	(void)state;
	assert_int_equal(read_one(text, strlen(text), &reply), SMTP_REPLY_COMPLETE);
	assert_string_equal(reply.text, "\n\nready");
	assert_int_equal(reply.line_count, 3);
}

static void
test_reply_class_is_the_first_digit(void **state)
{
	struct smtp_reply reply;

	(void)state;
	memset(&reply, 0, sizeof(reply));
	reply.code = 250;
	assert_int_equal(smtp_reply_class(&reply), 2);
	reply.code = 354;
	assert_int_equal(smtp_reply_class(&reply), 3);
	reply.code = 421;
	assert_int_equal(smtp_reply_class(&reply), 4);
	reply.code = 550;
	assert_int_equal(smtp_reply_class(&reply), 5);
	reply.code = 0;
	assert_int_equal(smtp_reply_class(&reply), 0);
}

static void
test_first_line_helper_stops_at_the_first_newline(void **state)
{
	struct smtp_reply reply;
	const char *line;
	size_t length = 0;

	(void)state;
	assert_int_equal(read_one(EHLO_REPLY, strlen(EHLO_REPLY), &reply), SMTP_REPLY_COMPLETE);
	line = smtp_reply_first_line(&reply, &length);
	assert_int_equal(length, strlen("mail.example.com Hello [192.0.2.1]"));
	assert_memory_equal(line, "mail.example.com Hello [192.0.2.1]", length);
	assert_int_equal(read_one("250 only\r\n", 10, &reply), SMTP_REPLY_COMPLETE);
	line = smtp_reply_first_line(&reply, &length);
	assert_int_equal(length, 4);
	assert_memory_equal(line, "only", 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line_reply_is_complete),
		cmocka_unit_test(test_multiline_reply_joins_text_with_newlines),
		cmocka_unit_test(test_multiline_reply_split_at_every_byte_position),
		cmocka_unit_test(test_replies_fed_one_byte_at_a_time),
		cmocka_unit_test(test_pipelined_replies_in_one_buffer_come_out_one_per_call),
		cmocka_unit_test(test_incomplete_reply_needs_more_and_consumes_everything),
		cmocka_unit_test(test_empty_input_needs_more),
		cmocka_unit_test(test_bare_lf_line_end_is_accepted_and_flagged),
		cmocka_unit_test(test_crlf_split_between_cr_and_lf_is_not_bare_lf),
		cmocka_unit_test(test_cr_inside_a_line_is_text_not_a_line_end),
		cmocka_unit_test(test_enhanced_code_is_taken_from_the_last_line),
		cmocka_unit_test(test_enhanced_code_only_on_a_continuation_line_is_ignored),
		cmocka_unit_test(test_enhanced_code_may_end_the_line),
		cmocka_unit_test(test_enhanced_code_with_three_digit_parts_is_accepted),
		cmocka_unit_test(test_invalid_enhanced_codes_are_not_reported),
		cmocka_unit_test(test_non_digit_code_is_malformed_and_reader_recovers),
		cmocka_unit_test(test_codes_outside_200_to_599_are_malformed),
		cmocka_unit_test(test_codes_200_and_599_are_accepted),
		cmocka_unit_test(test_mismatched_continuation_code_is_malformed_after_its_line),
		cmocka_unit_test(test_bad_separator_after_code_is_malformed),
		cmocka_unit_test(test_short_and_empty_lines_are_malformed),
		cmocka_unit_test(test_overlong_line_is_consumed_truncated_and_flagged),
		cmocka_unit_test(test_overlong_line_fed_byte_by_byte_stays_bounded),
		cmocka_unit_test(test_line_of_exactly_the_limit_is_not_truncated),
		cmocka_unit_test(test_reply_text_beyond_the_limit_is_truncated),
		cmocka_unit_test(test_reply_with_the_maximum_number_of_lines_is_accepted),
		cmocka_unit_test(test_too_many_lines_is_malformed),
		cmocka_unit_test(test_nul_bytes_in_text_are_replaced),
		cmocka_unit_test(test_nul_bytes_in_malformed_line_are_replaced),
		cmocka_unit_test(test_code_without_text_gives_empty_text),
		cmocka_unit_test(test_empty_continuation_lines_keep_their_place),
		cmocka_unit_test(test_reply_class_is_the_first_digit),
		cmocka_unit_test(test_first_line_helper_stops_at_the_first_newline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
