/* check_options.h - the command line of `relayguard check`, parsed and validated.
 * Every default lives in check_options.c's table, and relayguard(1) documents each one. */
#ifndef RELAYGUARD_CHECK_OPTIONS_H
#define RELAYGUARD_CHECK_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "check/result.h"

struct check_options {
	uint16_t port;
	const char *dns_server;
	const char *exclude_file;
	bool selected[BATTERY_SIZE];
	enum depth depth;
	bool confirm;
	const char *probe_domain;
	const char *receiver_address;
	uint64_t confirm_wait_ms;
	const char *victim_domain;
	char sender_local[65];
	char message_from[336];
	const char *recipient_local;
	char helo_name[256];
	uint64_t greeting_timeout_ms;
	uint64_t reply_timeout_ms;
	uint64_t deadline_ms;
	uint64_t greylist_delay_ms;
	unsigned greylist_retries;
	bool starttls_allowed;
	unsigned concurrency;
	const char *advisories_file;
	bool json;
	bool transcript;
	bool quiet;
	bool verbose;
	char **targets;
	int target_count;
};

enum check_options_status {
	CHECK_OPTIONS_OK,
	CHECK_OPTIONS_HELP,     /* --help was printed */
	CHECK_OPTIONS_ERROR,    /* a message was printed; exit 2 */
};

/* check_options_parse - fill options from argv (argv[0] == "check"). */
enum check_options_status check_options_parse(int argc, char **argv,
    struct check_options *options);
/* check_options_usage - the short usage text. */
void check_options_usage(FILE *out);

#endif
