/* report.h - how `relayguard check` prints results: JSON Lines or a table with evidence.
 * Printing only; the verdict is decided before a result reaches these functions. */
#ifndef RELAYGUARD_CHECK_REPORT_H
#define RELAYGUARD_CHECK_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "check/result.h"

/* report_json_write - one JSON object on one line for one target. */
void report_json_write(FILE *out, const struct target_result *result);
/* report_json_text - the same object as a string (free() it). */
char *report_json_text(const struct target_result *result);
/* report_json_replies - one test's replies as a JSON array string (free() it). */
char *report_json_replies(const struct test_result *test);
/* report_text_table - the table, one row per target, in the order given. */
void report_text_table(FILE *out, struct target_result *const *results, size_t count,
    bool colour);
/* report_text_evidence - for an open or suspect target, the transcript of the first probe
 * that worked; with full, the whole transcript whatever the verdict. */
void report_text_evidence(FILE *out, const struct target_result *result, bool full,
    bool colour);
/* report_tricks - the ids supporting the verdict, comma-separated, into out. */
void report_tricks(const struct target_result *result, char *out, size_t out_size);

#endif
