/* test_bounce.c - unit tests of DSN construction (smtpd/bounce.h): RFC 3464 fields inside an
 * RFC 6522 multipart/report, never to <>, remote text unable to inject header lines. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd/bounce.h"

#define ORIGINAL "Received: from client.example.org\r\nSubject: quarterly report\r\n" \
	"\r\nsecret body text\r\n"
/* 2023-11-14 22:13:20 UTC */
#define NOW_MS 1700000000000ULL

static const struct bounce_recipient failed[] = {
	{ "user@example.net", 16, "5.1.1", "smtp; 550 5.1.1 <user@example.net>: no such user",
	    "mx.example.net[192.0.2.25]:25" },
	{ "late@example.com", 16, "4.4.7", "message expired after 432000 s in the queue", "" },
};

/* request_for - a request from sender for the two failed recipients. */
static struct bounce_request
request_for(const char *sender)
{
	struct bounce_request request;

	memset(&request, 0, sizeof(request));
	request.reporting_mta = "mx.example.com";
	request.original_queue_id = "18A3F0C2B9D1E4F2C7A0B";
	request.bounce_queue_id = "18A3F0C2B9D1F000000AA";
	request.sender = sender;
	request.sender_length = strlen(sender);
	request.arrival_ms = NOW_MS - 1000;
	request.now_ms = NOW_MS;
	request.recipients = failed;
	request.recipient_count = 2;
	request.original = ORIGINAL;
	request.original_length = strlen(ORIGINAL);
	return request;
}

/* build - a DSN for sender; fails the test when none is built. */
static char *
build(const char *sender, size_t *length)
{
	struct bounce_request request = request_for(sender);
	char *dsn = bounce_build(&request, length);

	assert_non_null(dsn);
	assert_int_equal(strlen(dsn), *length);
	return dsn;
}

static void
test_dsn_is_a_multipart_report_of_delivery_status(void **state)
{
	size_t length;
	char *dsn = build("sender@example.org", &length);

	(void)state;
	assert_non_null(strstr(dsn, "\r\nTo: <sender@example.org>\r\n"));
	assert_non_null(strstr(dsn, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	assert_non_null(strstr(dsn, "Content-Type: message/delivery-status\r\n"));
	assert_non_null(strstr(dsn, "Content-Type: text/rfc822-headers\r\n"));
	assert_non_null(strstr(dsn, "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(dsn, "Reporting-MTA: dns; mx.example.com\r\n"));
	free(dsn);
}

static void
test_each_failed_recipient_gets_its_own_fields(void **state)
{
	size_t length;
	char *dsn = build("sender@example.org", &length);

	(void)state;
	assert_non_null(strstr(dsn, "Final-Recipient: rfc822; user@example.net\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.net[192.0.2.25]:25\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <user@example.net>: no such user\r\n"));
	assert_non_null(strstr(dsn, "Final-Recipient: rfc822; late@example.com\r\n"
	    "Action: failed\r\nStatus: 4.4.7\r\n"
	    "Diagnostic-Code: X-Relayguard; message expired after 432000 s in the queue\r\n"));
	free(dsn);
}

static void
test_boundary_opens_and_closes_every_part(void **state)
{
	size_t length;
	char *dsn = build("sender@example.org", &length);
	const char *p = dsn;
	int parts = 0;

	(void)state;
	while ((p = strstr(p, "\r\n--=_relayguard_dsn_18A3F0C2B9D1F000000AA\r\n")) != NULL) {
		parts++;
		p++;
	}
	assert_int_equal(parts, 3);
	assert_non_null(strstr(dsn, "\r\n--=_relayguard_dsn_18A3F0C2B9D1F000000AA--\r\n"));
	free(dsn);
}

/* RFC 5321 6.1 and 4.5.5: a DSN goes to the reverse-path, never to the null path. */
static void
test_no_dsn_for_the_null_sender(void **state)
{
	struct bounce_request request = request_for("");
	size_t length = 1;

	(void)state;
	assert_null(bounce_build(&request, &length));
	assert_int_equal(length, 0);
}

static void
test_sender_with_line_break_gets_no_dsn(void **state)
{
	struct bounce_request request = request_for("a@example.org\r\nBcc: x@example.net");
	size_t length;

	(void)state;
	assert_null(bounce_build(&request, &length));
}

static void
test_only_the_original_header_is_returned(void **state)
{
	size_t length;
	char *dsn = build("sender@example.org", &length);

	(void)state;
	assert_non_null(strstr(dsn, "Subject: quarterly report\r\n"));
	assert_null(strstr(dsn, "secret body text"));
	free(dsn);
}

static void
test_dsn_has_crlf_line_ends_only(void **state)
{
	size_t length;
	char *dsn = build("sender@example.org", &length);

	(void)state;
	for (size_t i = 0; i < length; i++) {
		if (dsn[i] == '\n')
			assert_true(i > 0 && dsn[i - 1] == '\r');
		if (dsn[i] == '\r')
			assert_true(i + 1 < length && dsn[i + 1] == '\n');
	}
	free(dsn);
}

/* A remote server's reply text must not be able to add header lines or parts to the DSN. */
static void
test_remote_text_cannot_inject_lines(void **state)
{
	struct bounce_recipient hostile = { "user@example.net", 16, "5.0.0",
	    "smtp; 550 bad\r\nX-Injected: yes\n--=_relayguard_dsn_x--", "" };
	struct bounce_request request = request_for("sender@example.org");
	size_t length;
	char *dsn;

	(void)state;
	request.recipients = &hostile;
	request.recipient_count = 1;
	dsn = bounce_build(&request, &length);
	assert_non_null(dsn);
	assert_null(strstr(dsn, "\r\nX-Injected"));
	assert_non_null(strstr(dsn, "Diagnostic-Code: smtp; 550 bad  X-Injected: yes "));
	free(dsn);
}

static void
test_date_is_rfc5322_in_utc(void **state)
{
	char date[64];

	(void)state;
	assert_string_equal(bounce_rfc5322_date(NOW_MS, date, sizeof(date)),
	    "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_string_equal(bounce_rfc5322_date(0, date, sizeof(date)),
	    "Thu, 01 Jan 1970 00:00:00 +0000");
}

static void
test_header_section_ends_at_the_empty_line(void **state)
{
	static const char no_body[] = "Subject: x\r\nFrom: y\r\n";

	(void)state;
	assert_int_equal(bounce_original_headers_length(ORIGINAL, strlen(ORIGINAL)),
	    strlen("Received: from client.example.org\r\nSubject: quarterly report\r\n"));
	assert_int_equal(bounce_original_headers_length(no_body, strlen(no_body)),
	    strlen(no_body));
	assert_int_equal(bounce_original_headers_length("\r\nbody", 6), 0);
}

static void
test_huge_header_is_cut_on_a_line_boundary(void **state)
{
	size_t size = (BOUNCE_HEADERS_MAX * 2 / 100) * 100, kept;
	char *header = malloc(size);

	(void)state;
	assert_non_null(header);
	for (size_t i = 0; i < size; i += 100) {
		memset(header + i, 'a', 98);
		memcpy(header + i + 98, "\r\n", 2);
	}
	kept = bounce_original_headers_length(header, size);
	assert_true(kept <= BOUNCE_HEADERS_MAX);
	assert_true(kept > BOUNCE_HEADERS_MAX - 100);
	assert_int_equal(header[kept - 1], '\n');
	free(header);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_is_a_multipart_report_of_delivery_status),
		cmocka_unit_test(test_each_failed_recipient_gets_its_own_fields),
		cmocka_unit_test(test_boundary_opens_and_closes_every_part),
		cmocka_unit_test(test_no_dsn_for_the_null_sender),
		cmocka_unit_test(test_sender_with_line_break_gets_no_dsn),
		cmocka_unit_test(test_only_the_original_header_is_returned),
		cmocka_unit_test(test_dsn_has_crlf_line_ends_only),
		cmocka_unit_test(test_remote_text_cannot_inject_lines),
		cmocka_unit_test(test_date_is_rfc5322_in_utc),
		cmocka_unit_test(test_header_section_ends_at_the_empty_line),
		cmocka_unit_test(test_huge_header_is_cut_on_a_line_boundary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
