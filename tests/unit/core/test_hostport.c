/* test_hostport.c - every accepted and rejected target/server form of hostport_parse, with
 * the exact error messages the command line shows. Pure: no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "core/hostport.h"

#define ERR_SIZE 256

/* parse_ok - parse text, assert success, return the result. */
static struct hostport
parse_ok(const char *text)
{
	struct hostport out;
	char err[ERR_SIZE] = "unchanged";

	if (!hostport_parse(text, &out, err, sizeof(err)))
		fail_msg("'%s' rejected: %s", text, err);
	assert_string_equal(err, "");
	return out;
}

/* parse_error - parse text, assert failure, return the message through err. */
static void
parse_error(const char *text, char *err)
{
	struct hostport out;

	err[0] = '\0';
	assert_false(hostport_parse(text, &out, err, ERR_SIZE));
	assert_true(err[0] != '\0');
}

static void
test_name_alone_has_no_port(void **state)
{
	(void)state;
	struct hostport out = parse_ok("mail.example.com");
	assert_string_equal(out.host, "mail.example.com");
	assert_int_equal(out.port, 0);
	assert_false(out.is_address);
}

static void
test_name_is_lower_cased_and_loses_trailing_dot(void **state)
{
	(void)state;
	struct hostport out = parse_ok("Mail.Example.COM.");
	assert_string_equal(out.host, "mail.example.com");
	assert_false(out.is_address);
}

static void
test_name_with_port(void **state)
{
	(void)state;
	struct hostport out = parse_ok("mail.example.com:2525");
	assert_string_equal(out.host, "mail.example.com");
	assert_int_equal(out.port, 2525);
	assert_false(out.is_address);
}

static void
test_single_label_name_is_accepted(void **state)
{
	(void)state;
	struct hostport out = parse_ok("localhost");
	assert_string_equal(out.host, "localhost");
}

static void
test_ipv4_literal(void **state)
{
	(void)state;
	struct hostport out = parse_ok("192.0.2.1");
	assert_true(out.is_address);
	assert_int_equal(out.address.family, AF_INET);
	assert_string_equal(out.host, "192.0.2.1");
	assert_int_equal(out.port, 0);
	assert_memory_equal(out.address.bytes, ((uint8_t[]){ 192, 0, 2, 1 }), 4);
}

static void
test_ipv4_literal_with_port(void **state)
{
	(void)state;
	struct hostport out = parse_ok("192.0.2.1:25");
	assert_true(out.is_address);
	assert_string_equal(out.host, "192.0.2.1");
	assert_int_equal(out.port, 25);
}

static void
test_bare_ipv6_literal(void **state)
{
	(void)state;
	struct hostport out = parse_ok("2001:db8::1");
	assert_true(out.is_address);
	assert_int_equal(out.address.family, AF_INET6);
	assert_string_equal(out.host, "2001:db8::1");
	assert_int_equal(out.port, 0);
}

/* A bare IPv6 address cannot carry a port: the last group is part of the address. */
static void
test_bare_ipv6_cannot_carry_a_port(void **state)
{
	(void)state;
	struct hostport out = parse_ok("2001:db8::1:25");
	assert_true(out.is_address);
	assert_string_equal(out.host, "2001:db8::1:25");
	assert_int_equal(out.port, 0);
}

static void
test_bracketed_ipv6_without_port(void **state)
{
	(void)state;
	struct hostport out = parse_ok("[2001:db8::1]");
	assert_true(out.is_address);
	assert_int_equal(out.address.family, AF_INET6);
	assert_string_equal(out.host, "2001:db8::1");
	assert_int_equal(out.port, 0);
}

static void
test_bracketed_ipv6_with_port(void **state)
{
	(void)state;
	struct hostport out = parse_ok("[2001:db8::1]:2525");
	assert_string_equal(out.host, "2001:db8::1");
	assert_int_equal(out.port, 2525);
}

static void
test_bracketed_loopback_with_port(void **state)
{
	(void)state;
	struct hostport out = parse_ok("[::1]:2525");
	assert_true(out.is_address);
	assert_string_equal(out.host, "::1");
	assert_int_equal(out.port, 2525);
	assert_memory_equal(out.address.bytes,
	    ((uint8_t[]){ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }), 16);
}

static void
test_address_text_is_canonical(void **state)
{
	(void)state;
	struct hostport out = parse_ok("[2001:DB8:0::1]");
	assert_string_equal(out.host, "2001:db8::1");
}

static void
test_lowest_and_highest_ports(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("example.com:1").port, 1);
	assert_int_equal(parse_ok("example.com:65535").port, 65535);
}

static void
test_longest_label_and_longest_name_are_accepted(void **state)
{
	char name[HOSTPORT_NAME_MAX + 2];

	(void)state;
	/* 63 + "." + 63 + "." + 63 + "." + 61 = 253 */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[HOSTPORT_NAME_MAX] = '\0';
	struct hostport out = parse_ok(name);
	assert_int_equal(strlen(out.host), HOSTPORT_NAME_MAX);
}

static void
test_empty_string_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("", err);
	assert_string_equal(err, "empty target");
}

static void
test_null_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error(NULL, err);
	assert_string_equal(err, "empty target");
}

static void
test_port_above_65535_is_rejected_with_precise_message(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("x:99999", err);
	assert_string_equal(err, "bad port '99999' in 'x:99999'");
}

static void
test_port_zero_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("example.com:0", err);
	assert_string_equal(err, "bad port '0' in 'example.com:0'");
}

static void
test_empty_port_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("example.com:", err);
	assert_string_equal(err, "bad port '' in 'example.com:'");
}

static void
test_port_with_junk_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("example.com:25a", err);
	assert_string_equal(err, "bad port '25a' in 'example.com:25a'");
	parse_error("example.com:+25", err);
	assert_string_equal(err, "bad port '+25' in 'example.com:+25'");
	parse_error("192.0.2.1:-1", err);
	assert_string_equal(err, "bad port '-1' in '192.0.2.1:-1'");
}

static void
test_port_without_host_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error(":25", err);
	assert_string_equal(err, "empty host in ':25'");
}

static void
test_unclosed_bracket_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("[2001:db8::1", err);
	assert_string_equal(err, "missing ']' in '[2001:db8::1'");
}

static void
test_junk_after_bracket_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("[2001:db8::1]x", err);
	assert_string_equal(err, "junk after ']' in '[2001:db8::1]x'");
}

static void
test_bracket_with_empty_port_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("[::1]:", err);
	assert_string_equal(err, "bad port '' in '[::1]:'");
	parse_error("[::1]:70000", err);
	assert_string_equal(err, "bad port '70000' in '[::1]:70000'");
}

static void
test_empty_brackets_are_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("[]:25", err);
	assert_string_equal(err, "empty address in '[]:25'");
}

static void
test_name_in_brackets_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("[example.com]:25", err);
	assert_string_equal(err, "bad IP address 'example.com' in '[example.com]:25'");
}

static void
test_bad_bare_ipv6_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("2001:db8::zz", err);
	assert_string_equal(err,
	    "bad IPv6 address '2001:db8::zz' (write [address]:port for a port)");
	parse_error("example.com:25:26", err);
	assert_non_null(strstr(err, "bad IPv6 address"));
}

static void
test_ipv4_with_octet_above_255_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("192.0.2.300", err);
	assert_string_equal(err, "'192.0.2.300' is neither an IP address nor a host name");
	parse_error("256.1.1.1:25", err);
	assert_string_equal(err, "'256.1.1.1' is neither an IP address nor a host name");
}

static void
test_name_with_underscore_or_space_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("mail_1.example.com", err);
	assert_string_equal(err, "bad character in host name 'mail_1.example.com'");
	parse_error("mail example.com", err);
	assert_string_equal(err, "bad character in host name 'mail example.com'");
}

static void
test_label_starting_or_ending_with_hyphen_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("-mail.example.com", err);
	assert_string_equal(err,
	    "label starts or ends with '-' in host name '-mail.example.com'");
	parse_error("mail-.example.com:25", err);
	assert_string_equal(err,
	    "label starts or ends with '-' in host name 'mail-.example.com'");
}

static void
test_empty_label_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("mail..example.com", err);
	assert_string_equal(err, "empty label in host name 'mail..example.com'");
	parse_error(".example.com", err);
	assert_string_equal(err, "empty label in host name '.example.com'");
}

static void
test_root_alone_is_rejected(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error(".", err);
	assert_string_equal(err, "empty host name in '.'");
}

static void
test_label_of_64_characters_is_rejected(void **state)
{
	char name[80], err[ERR_SIZE];

	(void)state;
	memset(name, 'a', 64);
	memcpy(name + 64, ".test", sizeof(".test"));
	parse_error(name, err);
	assert_non_null(strstr(err, "label longer than 63 characters"));
}

static void
test_name_of_254_characters_is_rejected(void **state)
{
	char name[HOSTPORT_NAME_MAX + 2], err[ERR_SIZE];

	(void)state;
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[HOSTPORT_NAME_MAX + 1] = '\0';
	parse_error(name, err);
	assert_non_null(strstr(err, "host name longer than 253 characters"));
}

static void
test_control_bytes_are_not_echoed_in_messages(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	parse_error("mail\x1b[31m.example.com", err);
	assert_string_equal(err, "bad character in host name 'mail?[31m.example.com'");
}

static void
test_message_is_cut_to_the_buffer(void **state)
{
	struct hostport out;
	char err[12];

	(void)state;
	assert_false(hostport_parse("x:99999", &out, err, sizeof(err)));
	assert_string_equal(err, "bad port '9");
}

static void
test_null_error_buffer_is_allowed(void **state)
{
	struct hostport out;

	(void)state;
	assert_false(hostport_parse("x:99999", &out, NULL, 0));
	assert_true(hostport_parse("example.com", &out, NULL, 0));
}

static void
test_name_validation_is_available_on_its_own(void **state)
{
	char err[ERR_SIZE];

	(void)state;
	assert_true(hostport_name_valid("mx1.example.net.", strlen("mx1.example.net."), err,
	    sizeof(err)));
	/* The length bounds the name: only "mx1" is checked here. */
	assert_true(hostport_name_valid("mx1 junk", 3, err, sizeof(err)));
	assert_false(hostport_name_valid("mx1 junk", 8, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_alone_has_no_port),
		cmocka_unit_test(test_name_is_lower_cased_and_loses_trailing_dot),
		cmocka_unit_test(test_name_with_port),
		cmocka_unit_test(test_single_label_name_is_accepted),
		cmocka_unit_test(test_ipv4_literal),
		cmocka_unit_test(test_ipv4_literal_with_port),
		cmocka_unit_test(test_bare_ipv6_literal),
		cmocka_unit_test(test_bare_ipv6_cannot_carry_a_port),
		cmocka_unit_test(test_bracketed_ipv6_without_port),
		cmocka_unit_test(test_bracketed_ipv6_with_port),
		cmocka_unit_test(test_bracketed_loopback_with_port),
		cmocka_unit_test(test_address_text_is_canonical),
		cmocka_unit_test(test_lowest_and_highest_ports),
		cmocka_unit_test(test_longest_label_and_longest_name_are_accepted),
		cmocka_unit_test(test_empty_string_is_rejected),
		cmocka_unit_test(test_null_is_rejected),
		cmocka_unit_test(test_port_above_65535_is_rejected_with_precise_message),
		cmocka_unit_test(test_port_zero_is_rejected),
		cmocka_unit_test(test_empty_port_is_rejected),
		cmocka_unit_test(test_port_with_junk_is_rejected),
		cmocka_unit_test(test_port_without_host_is_rejected),
		cmocka_unit_test(test_unclosed_bracket_is_rejected),
		cmocka_unit_test(test_junk_after_bracket_is_rejected),
		cmocka_unit_test(test_bracket_with_empty_port_is_rejected),
		cmocka_unit_test(test_empty_brackets_are_rejected),
		cmocka_unit_test(test_name_in_brackets_is_rejected),
		cmocka_unit_test(test_bad_bare_ipv6_is_rejected),
		cmocka_unit_test(test_ipv4_with_octet_above_255_is_rejected),
		cmocka_unit_test(test_name_with_underscore_or_space_is_rejected),
		cmocka_unit_test(test_label_starting_or_ending_with_hyphen_is_rejected),
		cmocka_unit_test(test_empty_label_is_rejected),
		cmocka_unit_test(test_root_alone_is_rejected),
		cmocka_unit_test(test_label_of_64_characters_is_rejected),
		cmocka_unit_test(test_name_of_254_characters_is_rejected),
		cmocka_unit_test(test_control_bytes_are_not_echoed_in_messages),
		cmocka_unit_test(test_message_is_cut_to_the_buffer),
		cmocka_unit_test(test_null_error_buffer_is_allowed),
		cmocka_unit_test(test_name_validation_is_available_on_its_own),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
