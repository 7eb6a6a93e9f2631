/* result.h - what one checked target produced: per-test outcomes, transcript, verdict.
 * Filled by probe.c, judged by verdict.c, printed by report_text.c and report_json.c. */
#ifndef RELAYGUARD_CHECK_RESULT_H
#define RELAYGUARD_CHECK_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "check/battery.h"
#include "check/software.h"
#include "check/target.h"

#define RESULT_TOKEN_SIZE 32
#define RESULT_REASON_MAX 256
#define RESULT_REPLIES_MAX 6
#define RESULT_NOTES_MAX 4
#define RESULT_ADVISORIES_MAX 8

enum verdict {
	VERDICT_OPEN,
	VERDICT_SUSPECT,
	VERDICT_CLOSED,
	VERDICT_INCONCLUSIVE,
	VERDICT_UNREACHABLE,
};

/* How far a probe, or a verdict, got. */
enum stage {
	STAGE_NONE,
	STAGE_MAIL,
	STAGE_RCPT,
	STAGE_DATA,
	STAGE_DELIVERED,
};

enum test_outcome {
	OUTCOME_SKIPPED,       /* not run (deadline, or never reached) */
	OUTCOME_REFUSED,       /* 5xx to MAIL or RCPT */
	OUTCOME_ACCEPTED,      /* RCPT 2xx and --depth rcpt */
	OUTCOME_DEFERRED,      /* 4xx still after every retry */
	OUTCOME_DATA_REFUSED,  /* DATA or the final dot refused */
	OUTCOME_DATA_ACCEPTED, /* 250 after the final dot */
	OUTCOME_DELIVERED,     /* the probe token reached our receiver */
	OUTCOME_NOT_DELIVERED, /* accepted, never arrived within --confirm-wait */
	OUTCOME_ERROR,         /* timeout, drop, garbage, TLS or AUTH required */
	OUTCOME_NOT_APPLICABLE,/* the trick's premise did not hold (X03: MAIL was accepted) */
};

enum depth {
	DEPTH_RCPT,
	DEPTH_DATA,
};

struct test_reply {
	char command[8];  /* "MAIL", "RCPT", "DATA", "DOT", "AUTH" */
	int code;         /* 0 when the reply was garbage or missing */
	char *text;       /* sanitised reply text */
};

struct test_result {
	const struct battery_test *test;
	bool selected;
	char *mail_from;  /* the path sent, with < >; NULL until the test was rendered */
	char *rcpt_to;
	char token[RESULT_TOKEN_SIZE];
	enum test_outcome outcome;
	enum stage stage;
	struct test_reply replies[RESULT_REPLIES_MAX];
	size_t reply_count;
	unsigned attempts;
	unsigned greylist_retries;
	uint64_t elapsed_ms;
	const char *error;  /* static text for OUTCOME_ERROR / OUTCOME_DEFERRED */
};

struct transcript_line {
	uint64_t t_ms;
	char direction;  /* 'S' server, 'C' client, 'I' information */
	int test_index;  /* the battery test this line belongs to, or -1 */
	char *text;
};

struct tls_state {
	bool used;
	char version[32];
	char cipher[64];
	char peer_subject[256];
};

struct target_result {
	struct check_target target;
	bool expanded;            /* false: expansion failed, no address */
	char *banner;
	char *ehlo;
	const char *greeting;     /* "EHLO", "HELO" or NULL */
	bool have_software;
	struct software_id software;
	const struct advisory *advisories[RESULT_ADVISORIES_MAX];
	size_t advisory_count;
	enum verdict verdict;
	enum stage stage;
	char reason[RESULT_REASON_MAX];
	char *notes[RESULT_NOTES_MAX];
	size_t note_count;
	struct tls_state tls;
	struct timespec started;
	uint64_t elapsed_ms;
	struct test_result tests[BATTERY_SIZE];
	size_t test_count;
	struct transcript_line *transcript;
	size_t transcript_count;
	size_t transcript_capacity;
};

const char *verdict_name(enum verdict verdict);
const char *stage_name(enum stage stage);
const char *outcome_name(enum test_outcome outcome);

/* result_add_note - append a note (copied); extra notes beyond the limit are dropped. */
void result_add_note(struct target_result *result, const char *note);
/* result_free - free everything a result owns, and the result itself. */
void result_free(struct target_result *result);

#endif
