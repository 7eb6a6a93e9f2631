/* test_battery.c - unit tests of the relay-test battery: ids, order, selection, rendering.
 * The rendered forms are the exact strings of DESIGN.md's battery table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "check/battery.h"

static const struct battery_values values = {
	.sender_local = "s",
	.recipient_local = "u",
	.victim_domain = "victim.example.net",
	.host_name = "mx.example.com",
	.mail_domain = "example.com",
	.address_literal = "[192.0.2.7]",
	.random_label = "r1234",
	.foreign_literal4 = "[192.0.2.1]",
	.foreign_literal6 = "[IPv6:2001:db8::1]",
};

/* render_test - MAIL and RCPT of one id, rendered. */
static void
render_test(const char *id, char *mail, char *rcpt)
{
	const struct battery_test *test = battery_find(id);
	assert_non_null(test);
	assert_true(battery_render(test->mail_form, &values, mail, BATTERY_ADDRESS_MAX) >= 0);
	assert_true(battery_render(test->rcpt_form, &values, rcpt, BATTERY_ADDRESS_MAX) >= 0);
}

static void
test_battery_has_every_design_id_in_order(void **state)
{
	static const char *const ids[] = { "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08",
		"S09", "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11",
		"R12", "R13", "R14", "R15", "R17", "N01", "N02", "N03", "N04", "N05", "X02", "X03" };
	size_t count;
	const struct battery_test *tests = battery_all(&count);

	(void)state;
	assert_int_equal(count, BATTERY_SIZE);
	assert_int_equal(count, sizeof(ids) / sizeof(ids[0]));
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		assert_string_equal(tests[i].id, ids[i]);
}

static void
test_sender_tricks_render_as_designed(void **state)
{
	char mail[BATTERY_ADDRESS_MAX], rcpt[BATTERY_ADDRESS_MAX];

	(void)state;
	render_test("S01", mail, rcpt);
	assert_string_equal(mail, "");
	assert_string_equal(rcpt, "u@victim.example.net");
	render_test("S03", mail, rcpt);
	assert_string_equal(mail, "s@r1234.victim.example.net");
	render_test("S06", mail, rcpt);
	assert_string_equal(mail, "s@[192.0.2.7]");
	render_test("S08", mail, rcpt);
	assert_string_equal(mail, "s");
	render_test("S09", mail, rcpt);
	assert_string_equal(mail, "postmaster@mx.example.com");
}

static void
test_recipient_tricks_render_as_designed(void **state)
{
	static const struct {
		const char *id;
		const char *rcpt;
	} expected[] = {
		{ "R01", "u%victim.example.net@[192.0.2.7]" },
		{ "R02", "u%victim.example.net@mx.example.com" },
		{ "R03", "\"u@victim.example.net\"" },
		{ "R04", "\"u%victim.example.net\"" },
		{ "R05", "u@victim.example.net@[192.0.2.7]" },
		{ "R06", "\"u@victim.example.net\"@[192.0.2.7]" },
		{ "R07", "u@victim.example.net@mx.example.com" },
		{ "R08", "\"u@victim.example.net\"@example.com" },
		{ "R09", "\"u@victim.example.net@mx.example.com\"" },
		{ "R10", "@[192.0.2.7]:u@victim.example.net" },
		{ "R11", "@mx.example.com:u@victim.example.net" },
		{ "R12", "victim.example.net!u" },
		{ "R13", "victim.example.net!u@[192.0.2.7]" },
		{ "R14", "victim.example.net!u@mx.example.com" },
		{ "R15", "u@victim.example.net@" },
		{ "R17", "IMCEASMTP-u+40victim.example.net@example.com" },
		{ "N01", "u@[192.0.2.1]" },
		{ "N02", "u@[IPv6:2001:db8::1]" },
		{ "N03", "u@VICTIM.EXAMPLE.NET" },
		{ "N04", "u@victim.example.net." },
		{ "N05", "u" },
	};
	char mail[BATTERY_ADDRESS_MAX], rcpt[BATTERY_ADDRESS_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		render_test(expected[i].id, mail, rcpt);
		assert_string_equal(rcpt, expected[i].rcpt);
	}
}

static void
test_extra_tests_carry_their_flags(void **state)
{
	(void)state;
	assert_true(battery_find("X02")->flags & BATTERY_AUTH_FIRST);
	assert_true(battery_find("X03")->flags & BATTERY_RCPT_DESPITE_MAIL_REFUSAL);
	assert_int_equal(battery_find("S01")->flags, 0);
}

static void
test_render_refuses_overflow_and_unknown_placeholders(void **state)
{
	char small[8];

	(void)state;
	assert_int_equal(battery_render("{u}@{V}", &values, small, sizeof(small)), -1);
	assert_int_equal(battery_render("{nope}", &values, small, sizeof(small)), -1);
	assert_int_equal(battery_render("{u", &values, small, sizeof(small)), -1);
}

static void
test_select_classes_ids_and_all(void **state)
{
	bool selected[BATTERY_SIZE];
	char err[256];
	size_t count;
	const struct battery_test *tests = battery_all(&count);

	(void)state;
	assert_true(battery_select("R01, s09", selected, err, sizeof(err)));
	for (size_t i = 0; i < count; i++)
		assert_int_equal(selected[i], strcmp(tests[i].id, "R01") == 0 ||
		    strcmp(tests[i].id, "S09") == 0);
	assert_true(battery_select("X", selected, err, sizeof(err)));
	for (size_t i = 0; i < count; i++)
		assert_int_equal(selected[i], tests[i].id[0] == 'X');
	assert_true(battery_select("all", selected, err, sizeof(err)));
	for (size_t i = 0; i < count; i++)
		assert_true(selected[i]);
}

static void
test_select_names_the_unknown_item(void **state)
{
	bool selected[BATTERY_SIZE];
	char err[256];

	(void)state;
	assert_false(battery_select("S01,R16", selected, err, sizeof(err)));
	assert_non_null(strstr(err, "'R16'"));
	assert_false(battery_select("S01,,S02", selected, err, sizeof(err)));
	assert_false(battery_select("Q", selected, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_battery_has_every_design_id_in_order),
		cmocka_unit_test(test_sender_tricks_render_as_designed),
		cmocka_unit_test(test_recipient_tricks_render_as_designed),
		cmocka_unit_test(test_extra_tests_carry_their_flags),
		cmocka_unit_test(test_render_refuses_overflow_and_unknown_placeholders),
		cmocka_unit_test(test_select_classes_ids_and_all),
		cmocka_unit_test(test_select_names_the_unknown_item),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
