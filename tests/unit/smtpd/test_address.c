/* test_address.c - unit tests of the RFC 5321 path parser (smtpd/address.h).
 * Every relay trick of the battery must parse to the mailbox the relay policy judges. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd/address.h"

/* parse - smtp_path_parse on a C string (RCPT: no null path). */
static enum address_status
parse(const char *text, struct smtp_mailbox *out)
{
	const char *rest;

	return smtp_path_parse(text, strlen(text), false, out, &rest);
}

static void
test_plain_mailbox_is_split_into_local_and_domain(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<alice@example.org>", &mailbox), ADDRESS_OK);
	assert_string_equal(mailbox.local, "alice");
	assert_string_equal(mailbox.domain, "example.org");
	assert_false(mailbox.null);
	assert_false(mailbox.local_quoted);
	assert_false(mailbox.domain_literal);
	assert_false(mailbox.had_source_route);
}

static void
test_rest_points_after_the_closing_bracket(void **state)
{
	const char *text = "<alice@example.org> SIZE=1000 BODY=8BITMIME";
	struct smtp_mailbox mailbox;
	const char *rest = NULL;

	(void)state;
	assert_int_equal(smtp_path_parse(text, strlen(text), true, &mailbox, &rest), ADDRESS_OK);
	assert_string_equal(rest, " SIZE=1000 BODY=8BITMIME");
}

static void
test_null_path_only_when_allowed(void **state)
{
	struct smtp_mailbox mailbox;
	const char *rest = NULL;

	(void)state;
	assert_int_equal(smtp_path_parse("<>", 2, true, &mailbox, &rest), ADDRESS_OK);
	assert_true(mailbox.null);
	assert_string_equal(rest, "");
	assert_int_equal(smtp_path_parse("<>", 2, false, &mailbox, &rest), ADDRESS_SYNTAX);
}

static void
test_path_must_start_with_angle_bracket(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("alice@example.org", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse(" <alice@example.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<alice@example.org", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("", &mailbox), ADDRESS_SYNTAX);
}

/* RFC 5321 4.1.2: the source route is parsed and ignored (R11). */
static void
test_source_route_is_stripped_and_flagged(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<@mx.example.org,@relay.example.com:u@example.net>", &mailbox),
	    ADDRESS_OK);
	assert_true(mailbox.had_source_route);
	assert_string_equal(mailbox.local, "u");
	assert_string_equal(mailbox.domain, "example.net");
}

/* At-domain = "@" Domain: an address literal is not a Domain (R10 is a syntax error). */
static void
test_source_route_through_address_literal_is_syntax_error(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<@[192.0.2.25]:u@example.net>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<@:u@example.net>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<@mx.example.org u@example.net>", &mailbox), ADDRESS_SYNTAX);
}

static void
test_quoted_local_part_is_unquoted_and_flagged(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<\"u@example.net\"@example.org>", &mailbox), ADDRESS_OK);
	assert_true(mailbox.local_quoted);
	assert_string_equal(mailbox.local, "u@example.net");
	assert_string_equal(mailbox.domain, "example.org");
}

static void
test_quoted_pair_escapes_are_resolved(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<\"a\\\"b\\\\c d\"@example.org>", &mailbox), ADDRESS_OK);
	assert_string_equal(mailbox.local, "a\"b\\c d");
}

static void
test_greater_than_inside_quotes_does_not_end_the_path(void **state)
{
	struct smtp_mailbox mailbox;
	const char *text = "<\"a>b\"@example.org> X";
	const char *rest;

	(void)state;
	assert_int_equal(smtp_path_parse(text, strlen(text), false, &mailbox, &rest),
	    ADDRESS_OK);
	assert_string_equal(mailbox.local, "a>b");
	assert_string_equal(rest, " X");
}

static void
test_control_bytes_in_quotes_are_refused(void **state)
{
	struct smtp_mailbox mailbox;
	const char with_nul[] = "<\"a\0b\"@example.org>";
	const char *rest;

	(void)state;
	assert_int_equal(parse("<\"a\rb\"@example.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<\"a\\\nb\"@example.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(smtp_path_parse(with_nul, sizeof(with_nul) - 1, false, &mailbox,
	    &rest), ADDRESS_SYNTAX);
	assert_int_equal(parse("<\"unterminated@example.org>", &mailbox), ADDRESS_SYNTAX);
}

/* Percent hack and bang path are legal Dot-strings: the policy refuses them, not the parser. */
static void
test_percent_and_bang_local_parts_parse(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<u%example.net@example.org>", &mailbox), ADDRESS_OK);
	assert_string_equal(mailbox.local, "u%example.net");
	assert_int_equal(parse("<example.net!u@example.org>", &mailbox), ADDRESS_OK);
	assert_string_equal(mailbox.local, "example.net!u");
}

/* R05, R07, R15: a second '@' is not part of a Dot-string. */
static void
test_double_at_sign_is_syntax_error(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<u@example.net@example.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@example.net@[192.0.2.25]>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@example.net@>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<@example.org>", &mailbox), ADDRESS_SYNTAX);
}

static void
test_bad_dot_strings_are_refused(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<.u@example.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u.@example.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<a..b@example.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<a b@example.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<caf\xc3\xa9@example.org>", &mailbox), ADDRESS_SYNTAX);
}

/* N04: one trailing dot is accepted and removed; two are not. */
static void
test_trailing_dot_on_domain_is_removed(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<u@example.net.>", &mailbox), ADDRESS_OK);
	assert_string_equal(mailbox.domain, "example.net");
	assert_int_equal(parse("<u@example.net..>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@.>", &mailbox), ADDRESS_SYNTAX);
}

/* N03: the parser keeps case; comparing is the policy's job. */
static void
test_domain_case_is_kept(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<U@EXAMPLE.Net>", &mailbox), ADDRESS_OK);
	assert_string_equal(mailbox.local, "U");
	assert_string_equal(mailbox.domain, "EXAMPLE.Net");
}

static void
test_bad_domains_are_refused(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<u@-example.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@example-.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@exa_mple.org>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@example..org>", &mailbox), ADDRESS_SYNTAX);
}

/* N01, N02 */
static void
test_address_literals_are_parsed(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<u@[192.0.2.1]>", &mailbox), ADDRESS_OK);
	assert_true(mailbox.domain_literal);
	assert_int_equal(mailbox.literal.family, AF_INET);
	assert_string_equal(mailbox.domain, "[192.0.2.1]");
	assert_int_equal(parse("<u@[IPv6:2001:db8::1]>", &mailbox), ADDRESS_OK);
	assert_true(mailbox.domain_literal);
	assert_int_equal(mailbox.literal.family, AF_INET6);
	assert_int_equal(parse("<u@[ipv6:2001:db8::1]>", &mailbox), ADDRESS_OK);
}

static void
test_bad_and_general_address_literals_are_refused(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<u@[192.0.2]>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@[2001:db8::1]>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@[x-tag:anything]>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@[192.0.2.1>", &mailbox), ADDRESS_SYNTAX);
	assert_int_equal(parse("<u@[192.0.2.1]x>", &mailbox), ADDRESS_SYNTAX);
}

/* N05, R03, R09, R12 and RFC 5321 4.1.1.3 "<Postmaster>": no domain is not a syntax error
 * here, so that the policy can refuse it with a precise reply. */
static void
test_mailbox_without_domain_has_empty_domain(void **state)
{
	struct smtp_mailbox mailbox;

	(void)state;
	assert_int_equal(parse("<Postmaster>", &mailbox), ADDRESS_OK);
	assert_string_equal(mailbox.local, "Postmaster");
	assert_string_equal(mailbox.domain, "");
	assert_int_equal(parse("<\"u@example.net@mx.example.org\">", &mailbox), ADDRESS_OK);
	assert_string_equal(mailbox.domain, "");
	assert_true(mailbox.local_quoted);
	assert_int_equal(parse("<example.net!u>", &mailbox), ADDRESS_OK);
	assert_string_equal(mailbox.local, "example.net!u");
}

/* RFC 5321 4.5.3.1.1: local part at most 64 octets. */
static void
test_local_part_over_64_octets_is_too_long(void **state)
{
	char text[200];
	struct smtp_mailbox mailbox;

	(void)state;
	snprintf(text, sizeof(text), "<%064d@example.org>", 0);
	assert_int_equal(parse(text, &mailbox), ADDRESS_OK);
	snprintf(text, sizeof(text), "<%065d@example.org>", 0);
	assert_int_equal(parse(text, &mailbox), ADDRESS_TOO_LONG);
	snprintf(text, sizeof(text), "<\"%063d\"@example.org>", 0);
	assert_int_equal(parse(text, &mailbox), ADDRESS_TOO_LONG);
}

/* RFC 5321 4.5.3.1.3: path at most 256 octets with the brackets. */
static void
test_path_over_256_octets_is_too_long(void **state)
{
	char text[400], domain[300];
	struct smtp_mailbox mailbox;
	size_t at = 0;

	(void)state;
	/* labels of 9 letters and a dot: 24 of them and "org" = 243 octets */
	for (int i = 0; i < 24; i++) {
		memcpy(domain + at, "abcdefghi.", 10);
		at += 10;
	}
	memcpy(domain + at, "org", 4);
	snprintf(text, sizeof(text), "<u@%s>", domain);
	assert_int_equal(parse(text, &mailbox), ADDRESS_OK);
	snprintf(text, sizeof(text), "<%060d@%s>", 0, domain);
	assert_int_equal(parse(text, &mailbox), ADDRESS_TOO_LONG);
}

static void
test_huge_domain_is_too_long_not_a_crash(void **state)
{
	static char text[100000];
	struct smtp_mailbox mailbox;

	(void)state;
	memcpy(text, "<u@", 3);
	memset(text + 3, 'a', sizeof(text) - 5);
	text[sizeof(text) - 2] = '>';
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(parse(text, &mailbox), ADDRESS_TOO_LONG);
}

static void
test_length_bounds_the_input(void **state)
{
	struct smtp_mailbox mailbox;
	const char *rest;
	const char *text = "<u@example.org>";

	(void)state;
	assert_int_equal(smtp_path_parse(text, strlen(text) - 1, false, &mailbox, &rest),
	    ADDRESS_SYNTAX);
	assert_int_equal(smtp_path_parse(text, 0, false, &mailbox, &rest), ADDRESS_SYNTAX);
}

static void
test_format_writes_mailbox_without_route(void **state)
{
	struct smtp_mailbox mailbox;
	char out[300];

	(void)state;
	assert_int_equal(parse("<@mx.example.org:\"u@example.net\"@example.org.>", &mailbox),
	    ADDRESS_OK);
	assert_int_equal(smtp_mailbox_format(&mailbox, out, sizeof(out)),
	    (int)strlen("\"u@example.net\"@example.org"));
	assert_string_equal(out, "\"u@example.net\"@example.org");
	assert_int_equal(parse("<postmaster>", &mailbox), ADDRESS_OK);
	smtp_mailbox_format(&mailbox, out, sizeof(out));
	assert_string_equal(out, "postmaster");
	assert_int_equal(smtp_mailbox_format(&mailbox, out, 4), -1);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_mailbox_is_split_into_local_and_domain),
		cmocka_unit_test(test_rest_points_after_the_closing_bracket),
		cmocka_unit_test(test_null_path_only_when_allowed),
		cmocka_unit_test(test_path_must_start_with_angle_bracket),
		cmocka_unit_test(test_source_route_is_stripped_and_flagged),
		cmocka_unit_test(test_source_route_through_address_literal_is_syntax_error),
		cmocka_unit_test(test_quoted_local_part_is_unquoted_and_flagged),
		cmocka_unit_test(test_quoted_pair_escapes_are_resolved),
		cmocka_unit_test(test_greater_than_inside_quotes_does_not_end_the_path),
		cmocka_unit_test(test_control_bytes_in_quotes_are_refused),
		cmocka_unit_test(test_percent_and_bang_local_parts_parse),
		cmocka_unit_test(test_double_at_sign_is_syntax_error),
		cmocka_unit_test(test_bad_dot_strings_are_refused),
		cmocka_unit_test(test_trailing_dot_on_domain_is_removed),
		cmocka_unit_test(test_domain_case_is_kept),
		cmocka_unit_test(test_bad_domains_are_refused),
		cmocka_unit_test(test_address_literals_are_parsed),
		cmocka_unit_test(test_bad_and_general_address_literals_are_refused),
		cmocka_unit_test(test_mailbox_without_domain_has_empty_domain),
		cmocka_unit_test(test_local_part_over_64_octets_is_too_long),
		cmocka_unit_test(test_path_over_256_octets_is_too_long),
		cmocka_unit_test(test_huge_domain_is_too_long_not_a_crash),
		cmocka_unit_test(test_length_bounds_the_input),
		cmocka_unit_test(test_format_writes_mailbox_without_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
