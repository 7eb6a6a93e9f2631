/* result.c - names of verdicts, stages and outcomes, and the lifetime of a target_result.
 * The names are the words of relayguard(1) and of the JSON output; never rename one lightly. */
#include "check/result.h"

#include <stdlib.h>

#include "core/log.h"

const char *
verdict_name(enum verdict verdict)
{
	switch (verdict) {
	case VERDICT_OPEN: return "open";
	case VERDICT_SUSPECT: return "suspect";
	case VERDICT_CLOSED: return "closed";
	case VERDICT_INCONCLUSIVE: return "inconclusive";
	case VERDICT_UNREACHABLE: return "unreachable";
	}
	return "unknown";
}

const char *
stage_name(enum stage stage)
{
	switch (stage) {
	case STAGE_NONE: return NULL;
	case STAGE_MAIL: return "mail";
	case STAGE_RCPT: return "rcpt";
	case STAGE_DATA: return "data";
	case STAGE_DELIVERED: return "delivered";
	}
	return NULL;
}

const char *
outcome_name(enum test_outcome outcome)
{
	switch (outcome) {
	case OUTCOME_SKIPPED: return "skipped";
	case OUTCOME_REFUSED: return "refused";
	case OUTCOME_ACCEPTED: return "accepted";
	case OUTCOME_DEFERRED: return "deferred";
	case OUTCOME_DATA_REFUSED: return "data-refused";
	case OUTCOME_DATA_ACCEPTED: return "data-accepted";
	case OUTCOME_DELIVERED: return "delivered";
	case OUTCOME_NOT_DELIVERED: return "not-delivered";
	case OUTCOME_ERROR: return "error";
	case OUTCOME_NOT_APPLICABLE: return "not-applicable";
	}
	return "unknown";
}

void
result_add_note(struct target_result *result, const char *note)
{
	if (result->note_count < RESULT_NOTES_MAX)
		result->notes[result->note_count++] = xstrdup(note);
}

void
result_free(struct target_result *result)
{
	if (result == NULL)
		return;
	free(result->banner);
	free(result->ehlo);
	for (size_t i = 0; i < result->note_count; i++)
		free(result->notes[i]);
	for (size_t i = 0; i < result->test_count; i++) {
		free(result->tests[i].mail_from);
		free(result->tests[i].rcpt_to);
		for (size_t r = 0; r < result->tests[i].reply_count; r++)
			free(result->tests[i].replies[r].text);
	}
	for (size_t i = 0; i < result->transcript_count; i++)
		free(result->transcript[i].text);
	free(result->transcript);
	free(result);
}
