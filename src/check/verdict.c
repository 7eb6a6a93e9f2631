/* verdict.c - the only place where test outcomes become a target's verdict.
 * Rules (relayguard(1) "DEPTH AND VERDICTS"): proof beats suspicion beats doubt. */
#include "check/verdict.h"

#include <stdio.h>
#include <string.h>

bool
verdict_test_supports(const struct target_result *result, const struct test_result *test)
{
	switch (result->verdict) {
	case VERDICT_OPEN:
		if (result->stage == STAGE_DELIVERED)
			return test->outcome == OUTCOME_DELIVERED;
		return test->outcome == OUTCOME_DATA_ACCEPTED;
	case VERDICT_SUSPECT:
		return test->outcome == OUTCOME_ACCEPTED;
	default:
		return false;
	}
}

/* count_outcome - how many selected tests ended with this outcome. */
static size_t
count_outcome(const struct target_result *result, enum test_outcome outcome)
{
	size_t count = 0;

	for (size_t i = 0; i < result->test_count; i++)
		if (result->tests[i].selected && result->tests[i].outcome == outcome)
			count++;
	return count;
}

/* first_with_outcome - the first selected test with this outcome, or NULL. */
static const struct test_result *
first_with_outcome(const struct target_result *result, enum test_outcome outcome)
{
	for (size_t i = 0; i < result->test_count; i++)
		if (result->tests[i].selected && result->tests[i].outcome == outcome)
			return &result->tests[i];
	return NULL;
}

void
verdict_decide(struct target_result *result, const struct session_summary *session)
{
	size_t delivered = count_outcome(result, OUTCOME_DELIVERED);
	size_t data_accepted = count_outcome(result, OUTCOME_DATA_ACCEPTED);
	size_t accepted = count_outcome(result, OUTCOME_ACCEPTED);
	size_t not_delivered = count_outcome(result, OUTCOME_NOT_DELIVERED);
	size_t data_refused = count_outcome(result, OUTCOME_DATA_REFUSED);
	size_t refused = count_outcome(result, OUTCOME_REFUSED);
	size_t selected = 0;

	for (size_t i = 0; i < result->test_count; i++)
		if (result->tests[i].selected)
			selected++;
	result->stage = STAGE_NONE;

	if (delivered > 0) {
		result->verdict = VERDICT_OPEN;
		result->stage = STAGE_DELIVERED;
		snprintf(result->reason, sizeof(result->reason),
		    "relayed: %zu probe message(s) for a third party reached our receiver",
		    delivered);
		return;
	}
	if (data_accepted > 0 && !session->confirm) {
		result->verdict = VERDICT_OPEN;
		result->stage = STAGE_DATA;
		snprintf(result->reason, sizeof(result->reason),
		    "accepted %zu probe message(s) for a third party at end of data",
		    data_accepted);
		return;
	}
	if (accepted > 0) {
		result->verdict = VERDICT_SUSPECT;
		result->stage = STAGE_RCPT;
		snprintf(result->reason, sizeof(result->reason),
		    "accepted %zu third-party recipient(s) at RCPT; nothing proved delivery",
		    accepted);
		return;
	}
	if (!session->connected) {
		result->verdict = VERDICT_UNREACHABLE;
		snprintf(result->reason, sizeof(result->reason), "%s",
		    session->failure ? session->failure : "no connection");
		return;
	}
	if (!session->greeted) {
		result->verdict = VERDICT_INCONCLUSIVE;
		snprintf(result->reason, sizeof(result->reason), "%s",
		    session->failure ? session->failure : "no SMTP session could be opened");
		return;
	}
	const struct test_result *doubt = first_with_outcome(result, OUTCOME_ERROR);
	if (doubt == NULL)
		doubt = first_with_outcome(result, OUTCOME_DEFERRED);
	if (doubt == NULL)
		doubt = first_with_outcome(result, OUTCOME_SKIPPED);
	if (doubt != NULL) {
		result->verdict = VERDICT_INCONCLUSIVE;
		snprintf(result->reason, sizeof(result->reason), "%s (first at %s); no relay proved",
		    doubt->error ? doubt->error : "test not run", doubt->test->id);
		return;
	}
	result->verdict = VERDICT_CLOSED;
	if (not_delivered > 0)
		snprintf(result->reason, sizeof(result->reason),
		    "accepted but never delivered: %zu probe message(s) accepted at end of data "
		    "did not reach our receiver", not_delivered);
	else if (data_refused > 0)
		snprintf(result->reason, sizeof(result->reason),
		    "refused every probe: %zu at RCPT or MAIL, %zu at DATA or after the final dot",
		    refused, data_refused);
	else
		snprintf(result->reason, sizeof(result->reason),
		    "refused all %zu probes", selected);
}
