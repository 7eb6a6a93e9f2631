/* test_smtp_path.c - unit tests of the RFC 5321 mailbox/path writers (core/smtp_path.h).
 * The odd addresses of the relay battery must come out byte for byte as the design says. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/smtp_path.h"

#define OUT_SIZE 512

/* needs_quoting - smtp_local_part_needs_quoting on a C string. */
static bool
needs_quoting(const char *local)
{
	return smtp_local_part_needs_quoting(local, strlen(local));
}

/* domain_valid - smtp_domain_is_valid on a C string. */
static bool
domain_valid(const char *domain)
{
	return smtp_domain_is_valid(domain, strlen(domain));
}

/* RFC 5321 4.1.2: Dot-string = Atom *("." Atom), atext from RFC 5322. */
static void
test_dot_string_local_parts_need_no_quoting(void **state)
{
	(void)state;
	assert_false(needs_quoting("u"));
	assert_false(needs_quoting("first.last"));
	assert_false(needs_quoting("u%example.net"));
	assert_false(needs_quoting("example.net!u"));
	assert_false(needs_quoting("a+tag"));
	assert_false(needs_quoting("!#$%&'*+-/=?^_`{|}~"));
}

static void
test_local_parts_outside_dot_string_need_quoting(void **state)
{
	(void)state;
	assert_true(needs_quoting("u@example.net"));
	assert_true(needs_quoting(""));
	assert_true(needs_quoting(".u"));
	assert_true(needs_quoting("u."));
	assert_true(needs_quoting("a..b"));
	assert_true(needs_quoting("with space"));
	assert_true(needs_quoting("a\"b"));
	assert_true(needs_quoting("a\\b"));
	assert_true(needs_quoting("a(b)"));
	assert_true(needs_quoting("a,b"));
	assert_true(needs_quoting("a:b"));
	assert_true(needs_quoting("[a]"));
	assert_true(needs_quoting("caf\xc3\xa9"));
}

static void
test_embedded_nul_counts_against_dot_string(void **state)
{
	(void)state;
	assert_true(smtp_local_part_needs_quoting("a\0b", 3));
	assert_false(smtp_local_part_needs_quoting("a\0b", 1));
}

static void
test_quoted_string_escapes_quote_and_backslash(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_quoted_string_write(out, sizeof(out), "a\"b\\c", 5), 9);
	assert_string_equal(out, "\"a\\\"b\\\\c\"");
}

static void
test_quoted_string_of_empty_local_part_is_two_quotes(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_quoted_string_write(out, sizeof(out), "", 0), 2);
	assert_string_equal(out, "\"\"");
}

static void
test_quoted_string_refuses_control_bytes(void **state)
{
	const char *const bad[] = { "a\rb", "a\nb", "a\tb", "a\x01", "a\x7f" };
	char out[OUT_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(out, 'z', sizeof(out));
		assert_int_equal(smtp_quoted_string_write(out, sizeof(out), bad[i], strlen(bad[i])),
		    -1);
		assert_string_equal(out, "");
	}
	assert_int_equal(smtp_quoted_string_write(out, sizeof(out), "a\0b", 3), -1);
}

static void
test_quoted_string_passes_utf8_through(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_quoted_string_write(out, sizeof(out), "caf\xc3\xa9", 5), 7);
	assert_string_equal(out, "\"caf\xc3\xa9\"");
}

static void
test_quoted_string_that_does_not_fit_fails_with_empty_output(void **state)
{
	char out[8];

	(void)state;
	/* "\"abcdef\"" needs 8 bytes plus the NUL. */
	assert_int_equal(smtp_quoted_string_write(out, sizeof(out), "abcdef", 6), -1);
	assert_string_equal(out, "");
	assert_int_equal(smtp_quoted_string_write(out, sizeof(out), "abcde", 5), 7);
	assert_string_equal(out, "\"abcde\"");
	assert_int_equal(smtp_quoted_string_write(out, 0, "a", 1), -1);
	assert_int_equal(smtp_quoted_string_write(out, 1, "a", 1), -1);
	assert_string_equal(out, "");
}

/* Battery R06: RCPT "u@V"@[I]. */
static void
test_mailbox_quotes_local_part_with_at_sign(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "u@V", "[192.0.2.1]"),
	    (int)strlen("\"u@V\"@[192.0.2.1]"));
	assert_string_equal(out, "\"u@V\"@[192.0.2.1]");
}

/* Battery R01 and R12-R14: % and ! are atext, so they travel unquoted. */
static void
test_mailbox_leaves_percent_and_bang_unquoted(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "u%V", "[192.0.2.1]"),
	    (int)strlen("u%V@[192.0.2.1]"));
	assert_string_equal(out, "u%V@[192.0.2.1]");
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "V!u", NULL), 3);
	assert_string_equal(out, "V!u");
}

/* Battery R03 and R09: a quoted local part with no domain. */
static void
test_mailbox_without_domain_is_just_the_local_part(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "u@V", NULL), 5);
	assert_string_equal(out, "\"u@V\"");
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "u@V@mail.example.com", ""),
	    (int)strlen("\"u@V@mail.example.com\""));
	assert_string_equal(out, "\"u@V@mail.example.com\"");
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "s", NULL), 1);
	assert_string_equal(out, "s");
}

static void
test_mailbox_with_plain_domain(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "postmaster", "example.com"),
	    (int)strlen("postmaster@example.com"));
	assert_string_equal(out, "postmaster@example.com");
}

static void
test_mailbox_refuses_line_breaks_and_unquotable_bytes(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "u", "example.com\r\nRSET"), -1);
	assert_string_equal(out, "");
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "u\r\nRSET", "example.com"), -1);
	assert_string_equal(out, "");
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), NULL, "example.com"), -1);
}

static void
test_mailbox_that_does_not_fit_fails(void **state)
{
	char out[12];

	(void)state;
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "u", "example.com"), -1);
	assert_string_equal(out, "");
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "u", "example.c"), 11);
	assert_string_equal(out, "u@example.c");
	/* The quoted local part fits, the domain does not. */
	assert_int_equal(smtp_mailbox_write(out, sizeof(out), "u@V", "example.com"), -1);
	assert_string_equal(out, "");
}

static void
test_address_literal_of_ipv4(void **state)
{
	struct netaddr address;
	char out[SMTP_ADDRESS_LITERAL_MAX];

	(void)state;
	assert_true(netaddr_parse("192.0.2.1", &address));
	assert_int_equal(smtp_address_literal_write(out, sizeof(out), &address), 11);
	assert_string_equal(out, "[192.0.2.1]");
}

/* RFC 5321 4.1.3: IPv6-address-literal = "IPv6:" IPv6-addr */
static void
test_address_literal_of_ipv6_has_tag(void **state)
{
	struct netaddr address;
	char out[SMTP_ADDRESS_LITERAL_MAX];

	(void)state;
	assert_true(netaddr_parse("2001:db8::1", &address));
	assert_int_equal(smtp_address_literal_write(out, sizeof(out), &address),
	    (int)strlen("[IPv6:2001:db8::1]"));
	assert_string_equal(out, "[IPv6:2001:db8::1]");
}

static void
test_address_literal_of_longest_ipv6_fits_the_constant(void **state)
{
	struct netaddr address;
	char out[SMTP_ADDRESS_LITERAL_MAX];

	(void)state;
	assert_true(netaddr_parse("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", &address));
	assert_true(smtp_address_literal_write(out, sizeof(out), &address) > 0);
	assert_int_equal(smtp_address_literal_write(out, 8, &address), -1);
	assert_string_equal(out, "");
}

static void
test_address_literal_round_trips_through_parse(void **state)
{
	const char *const literals[] = { "[192.0.2.1]", "[IPv6:2001:db8::1]", "[IPv6:::1]" };

	(void)state;
	for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		struct netaddr address;
		char out[SMTP_ADDRESS_LITERAL_MAX];
		assert_true(smtp_address_literal_parse(literals[i], strlen(literals[i]), &address));
		assert_int_equal(smtp_address_literal_write(out, sizeof(out), &address),
		    (int)strlen(literals[i]));
		assert_string_equal(out, literals[i]);
	}
}

static void
test_address_literal_parse_tag_is_case_insensitive(void **state)
{
	struct netaddr address;

	(void)state;
	assert_true(smtp_address_literal_parse("[ipv6:2001:db8::2]", 18, &address));
	assert_int_equal(address.family, AF_INET6);
	assert_int_equal(address.bytes[15], 2);
}

static void
test_address_literal_parse_refuses_malformed_literals(void **state)
{
	const char *const bad[] = {
		"192.0.2.1", "[192.0.2.1", "192.0.2.1]", "[]", "[2001:db8::1]",
		"[IPv6:192.0.2.1]", "[IPv6:]", "[192.0.2.256]", "[x-tag:whatever]",
		"[ 192.0.2.1]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct netaddr address;
		assert_false(smtp_address_literal_parse(bad[i], strlen(bad[i]), &address));
	}
}

static void
test_path_wraps_mailbox_in_angle_brackets(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_path_write(out, sizeof(out), "\"u@V\"@[192.0.2.1]"),
	    (int)strlen("<\"u@V\"@[192.0.2.1]>"));
	assert_string_equal(out, "<\"u@V\"@[192.0.2.1]>");
}

/* Battery S01: the null reverse-path. */
static void
test_empty_mailbox_gives_null_path(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_path_write(out, sizeof(out), ""), 2);
	assert_string_equal(out, "<>");
	assert_int_equal(smtp_path_write(out, sizeof(out), NULL), 2);
	assert_string_equal(out, "<>");
}

/* Battery R10: source routes are written as given. */
static void
test_path_keeps_source_route_text(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_path_write(out, sizeof(out), "@[192.0.2.1]:u@example.net"),
	    (int)strlen("<@[192.0.2.1]:u@example.net>"));
	assert_string_equal(out, "<@[192.0.2.1]:u@example.net>");
}

static void
test_path_refuses_line_breaks_and_short_buffers(void **state)
{
	char out[OUT_SIZE];

	(void)state;
	assert_int_equal(smtp_path_write(out, sizeof(out), "u@example.net>\r\nDATA"), -1);
	assert_string_equal(out, "");
	assert_int_equal(smtp_path_write(out, sizeof(out), "u\n"), -1);
	assert_int_equal(smtp_path_write(out, 3, "u"), -1);
	assert_string_equal(out, "");
	assert_int_equal(smtp_path_write(out, 4, "u"), 3);
	assert_string_equal(out, "<u>");
	assert_int_equal(smtp_path_write(out, 2, ""), -1);
}

static void
test_valid_domains_are_accepted(void **state)
{
	(void)state;
	assert_true(domain_valid("example.com"));
	assert_true(domain_valid("mail-1.example.net"));
	assert_true(domain_valid("a"));
	assert_true(domain_valid("3com.example"));
	assert_true(domain_valid("EXAMPLE.ORG"));
}

static void
test_invalid_domains_are_refused(void **state)
{
	(void)state;
	assert_false(domain_valid(""));
	assert_false(domain_valid("example.com."));
	assert_false(domain_valid(".example.com"));
	assert_false(domain_valid("a..b"));
	assert_false(domain_valid("-a.example"));
	assert_false(domain_valid("a-.example"));
	assert_false(domain_valid("under_score.example"));
	assert_false(domain_valid("[192.0.2.1]"));
	assert_false(domain_valid("ex ample.com"));
	assert_false(domain_valid("caf\xc3\xa9.example"));
	assert_false(smtp_domain_is_valid("a\0b", 3));
}

/* RFC 1035 2.3.4: labels of at most 63 octets, names of at most 255. */
static void
test_domain_length_limits(void **state)
{
	char name[300];

	(void)state;
	memset(name, 'a', 63);
	assert_true(smtp_domain_is_valid(name, 63));
	memset(name, 'a', 64);
	assert_false(smtp_domain_is_valid(name, 64));
	/* 4 labels of 63 plus 3 dots: 255 octets. */
	for (size_t i = 0; i < 4; i++) {
		memset(name + i * 64, 'b', 63);
		if (i < 3)
			name[i * 64 + 63] = '.';
	}
	assert_true(smtp_domain_is_valid(name, 255));
	name[255] = 'c';
	assert_false(smtp_domain_is_valid(name, 256));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dot_string_local_parts_need_no_quoting),
		cmocka_unit_test(test_local_parts_outside_dot_string_need_quoting),
		cmocka_unit_test(test_embedded_nul_counts_against_dot_string),
		cmocka_unit_test(test_quoted_string_escapes_quote_and_backslash),
		cmocka_unit_test(test_quoted_string_of_empty_local_part_is_two_quotes),
		cmocka_unit_test(test_quoted_string_refuses_control_bytes),
		cmocka_unit_test(test_quoted_string_passes_utf8_through),
		cmocka_unit_test(test_quoted_string_that_does_not_fit_fails_with_empty_output),
		cmocka_unit_test(test_mailbox_quotes_local_part_with_at_sign),
		cmocka_unit_test(test_mailbox_leaves_percent_and_bang_unquoted),
		cmocka_unit_test(test_mailbox_without_domain_is_just_the_local_part),
		cmocka_unit_test(test_mailbox_with_plain_domain),
		cmocka_unit_test(test_mailbox_refuses_line_breaks_and_unquotable_bytes),
		cmocka_unit_test(test_mailbox_that_does_not_fit_fails),
		cmocka_unit_test(test_address_literal_of_ipv4),
		cmocka_unit_test(test_address_literal_of_ipv6_has_tag),
		cmocka_unit_test(test_address_literal_of_longest_ipv6_fits_the_constant),
		cmocka_unit_test(test_address_literal_round_trips_through_parse),
		cmocka_unit_test(test_address_literal_parse_tag_is_case_insensitive),
		cmocka_unit_test(test_address_literal_parse_refuses_malformed_literals),
		cmocka_unit_test(test_path_wraps_mailbox_in_angle_brackets),
		cmocka_unit_test(test_empty_mailbox_gives_null_path),
		cmocka_unit_test(test_path_keeps_source_route_text),
		cmocka_unit_test(test_path_refuses_line_breaks_and_short_buffers),
		cmocka_unit_test(test_valid_domains_are_accepted),
		cmocka_unit_test(test_invalid_domains_are_refused),
		cmocka_unit_test(test_domain_length_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
