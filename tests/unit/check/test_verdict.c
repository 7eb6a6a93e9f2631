/* test_verdict.c - the verdict rules as a table: outcomes in, verdict/stage/tricks out.
 * Each case names the server behaviour it stands for (DESIGN.md "false-positive traps"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "check/verdict.h"

/* make_result - every test selected with the given outcome, except overrides. */
static struct target_result *
make_result(enum test_outcome all)
{
	static struct target_result result;
	size_t count;
	const struct battery_test *tests = battery_all(&count);

	memset(&result, 0, sizeof(result));
	result.test_count = count;
	for (size_t i = 0; i < count; i++) {
		result.tests[i].test = &tests[i];
		result.tests[i].selected = true;
		result.tests[i].outcome = all;
	}
	return &result;
}

static void
set_outcome(struct target_result *result, const char *id, enum test_outcome outcome)
{
	for (size_t i = 0; i < result->test_count; i++)
		if (strcmp(result->tests[i].test->id, id) == 0)
			result->tests[i].outcome = outcome;
}

static const struct session_summary greeted = { .connected = true, .greeted = true };
static const struct session_summary greeted_confirm = { .connected = true, .greeted = true,
	.confirm = true };

static void
test_secure_server_is_closed(void **state)
{
	struct target_result *result = make_result(OUTCOME_REFUSED);

	(void)state;
	verdict_decide(result, &greeted);
	assert_int_equal(result->verdict, VERDICT_CLOSED);
	assert_int_equal(result->stage, STAGE_NONE);
}

static void
test_end_of_data_acceptance_is_open_at_stage_data(void **state)
{
	struct target_result *result = make_result(OUTCOME_REFUSED);

	(void)state;
	set_outcome(result, "R01", OUTCOME_DATA_ACCEPTED);
	verdict_decide(result, &greeted);
	assert_int_equal(result->verdict, VERDICT_OPEN);
	assert_int_equal(result->stage, STAGE_DATA);
	assert_true(verdict_test_supports(result, &result->tests[9]));   /* R01 */
	assert_false(verdict_test_supports(result, &result->tests[0]));  /* S01 */
}

static void
test_rcpt_acceptance_alone_is_only_suspect(void **state)
{
	struct target_result *result = make_result(OUTCOME_ACCEPTED);

	(void)state;
	verdict_decide(result, &greeted);
	assert_int_equal(result->verdict, VERDICT_SUSPECT);
	assert_int_equal(result->stage, STAGE_RCPT);
}

static void
test_rejection_at_data_is_never_open(void **state)
{
	struct target_result *result = make_result(OUTCOME_DATA_REFUSED);

	(void)state;
	verdict_decide(result, &greeted);
	assert_int_equal(result->verdict, VERDICT_CLOSED);
}

static void
test_accept_then_drop_is_closed_under_confirm(void **state)
{
	struct target_result *result = make_result(OUTCOME_NOT_DELIVERED);

	(void)state;
	verdict_decide(result, &greeted_confirm);
	assert_int_equal(result->verdict, VERDICT_CLOSED);
	assert_non_null(strstr(result->reason, "never delivered"));
}

static void
test_delivery_beats_everything(void **state)
{
	struct target_result *result = make_result(OUTCOME_NOT_DELIVERED);

	(void)state;
	set_outcome(result, "R12", OUTCOME_DELIVERED);
	set_outcome(result, "S01", OUTCOME_ERROR);
	verdict_decide(result, &greeted_confirm);
	assert_int_equal(result->verdict, VERDICT_OPEN);
	assert_int_equal(result->stage, STAGE_DELIVERED);
}

static void
test_persistent_greylisting_is_inconclusive(void **state)
{
	struct target_result *result = make_result(OUTCOME_REFUSED);

	(void)state;
	set_outcome(result, "S02", OUTCOME_DEFERRED);
	result->tests[1].error = "temporary failure (4xx) after every greylisting retry";
	verdict_decide(result, &greeted);
	assert_int_equal(result->verdict, VERDICT_INCONCLUSIVE);
	assert_non_null(strstr(result->reason, "S02"));
}

static void
test_no_connection_is_unreachable(void **state)
{
	struct target_result *result = make_result(OUTCOME_SKIPPED);
	struct session_summary session = { .failure = "cannot connect: Connection refused" };

	(void)state;
	verdict_decide(result, &session);
	assert_int_equal(result->verdict, VERDICT_UNREACHABLE);
	assert_string_equal(result->reason, "cannot connect: Connection refused");
}

static void
test_refused_service_at_connect_is_inconclusive(void **state)
{
	struct target_result *result = make_result(OUTCOME_SKIPPED);
	struct session_summary session = { .connected = true,
		.failure = "server refused service at connect: 421 busy" };

	(void)state;
	verdict_decide(result, &session);
	assert_int_equal(result->verdict, VERDICT_INCONCLUSIVE);
	assert_non_null(strstr(result->reason, "421"));
}

static void
test_unselected_tests_do_not_count(void **state)
{
	struct target_result *result = make_result(OUTCOME_SKIPPED);

	(void)state;
	for (size_t i = 0; i < result->test_count; i++)
		result->tests[i].selected = false;
	result->tests[0].selected = true;
	result->tests[0].outcome = OUTCOME_REFUSED;
	verdict_decide(result, &greeted);
	assert_int_equal(result->verdict, VERDICT_CLOSED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secure_server_is_closed),
		cmocka_unit_test(test_end_of_data_acceptance_is_open_at_stage_data),
		cmocka_unit_test(test_rcpt_acceptance_alone_is_only_suspect),
		cmocka_unit_test(test_rejection_at_data_is_never_open),
		cmocka_unit_test(test_accept_then_drop_is_closed_under_confirm),
		cmocka_unit_test(test_delivery_beats_everything),
		cmocka_unit_test(test_persistent_greylisting_is_inconclusive),
		cmocka_unit_test(test_no_connection_is_unreachable),
		cmocka_unit_test(test_refused_service_at_connect_is_inconclusive),
		cmocka_unit_test(test_unselected_tests_do_not_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
