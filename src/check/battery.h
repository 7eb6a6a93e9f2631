/* battery.h - the ordered list of relay tricks (S01..X03) and how their addresses are built.
 * Pure: expands a test's MAIL FROM / RCPT TO templates for one target; no I/O. */
#ifndef RELAYGUARD_CHECK_BATTERY_H
#define RELAYGUARD_CHECK_BATTERY_H

#include <stdbool.h>
#include <stddef.h>

#define BATTERY_ID_LENGTH 4
#define BATTERY_ADDRESS_MAX 600   /* a rendered path; RFC 5321 allows 256 for a path */
#define BATTERY_SIZE 32

/* Extra protocol steps a test takes around MAIL/RCPT. */
enum battery_flag {
	BATTERY_AUTH_FIRST = 1 << 0,          /* X02: bogus AUTH PLAIN before MAIL */
	BATTERY_RCPT_DESPITE_MAIL_REFUSAL = 1 << 1, /* X03: send RCPT even after a 5xx MAIL */
};

struct battery_test {
	const char *id;        /* "S01" */
	const char *mail_form; /* template, see battery_render() */
	const char *rcpt_form;
	unsigned flags;
	const char *summary;   /* one line for the man page and the table */
};

/* What the templates' placeholders stand for, for one target and one test. */
struct battery_values {
	const char *sender_local;      /* {s} */
	const char *recipient_local;   /* {u}: "relaytest", or the probe token with --confirm */
	const char *victim_domain;     /* {V} */
	const char *host_name;         /* {H} */
	const char *mail_domain;       /* {T} */
	const char *address_literal;   /* {I}: "[192.0.2.1]" or "[IPv6:2001:db8::1]" */
	const char *random_label;      /* {R} */
	const char *foreign_literal4;  /* {L4}: third-party IPv4 literal (N01) */
	const char *foreign_literal6;  /* {L6}: third-party IPv6 literal (N02) */
};

/* battery_all - the whole battery in its fixed order; *count receives BATTERY_SIZE. */
const struct battery_test *battery_all(size_t *count);
/* battery_find - the test with this id (case-insensitive), or NULL. */
const struct battery_test *battery_find(const char *id);
/* battery_select - parse a --tests list ("all", classes "S,R,N,X", ids "S01,R05") into a
 * selection mask indexed like battery_all(); false and a message naming the bad item. */
bool battery_select(const char *list, bool selected[BATTERY_SIZE], char *err, size_t err_size);
/* battery_render - expand one template into out (the text between < and >).
 * Returns the length, or -1 when it does not fit or a placeholder is unknown. */
int battery_render(const char *form, const struct battery_values *values, char *out,
    size_t out_size);

#endif
