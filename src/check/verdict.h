/* verdict.h - turn per-test outcomes into one verdict per target (DESIGN.md "verdict").
 * Pure: the rules that decide open/suspect/closed/inconclusive live only here. */
#ifndef RELAYGUARD_CHECK_VERDICT_H
#define RELAYGUARD_CHECK_VERDICT_H

#include "check/result.h"

/* What the conversation as a whole achieved, beyond the single tests. */
struct session_summary {
	bool connected;          /* at least one TCP connection was made */
	bool greeted;            /* at least one 220 banner and a 250 to EHLO/HELO */
	const char *failure;     /* why no test could run (NULL when some ran) */
	bool confirm;            /* --confirm was in force */
};

/* verdict_decide - set result->verdict, ->stage and ->reason from result->tests. */
void verdict_decide(struct target_result *result, const struct session_summary *session);
/* verdict_trick_counts - true if this test's outcome supports the target's verdict
 * (the ids listed as "tricks"). */
bool verdict_test_supports(const struct target_result *result, const struct test_result *test);

#endif
