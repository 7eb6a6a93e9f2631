/* check_options.h - the command line of `relayguard check`, parsed and validated.
 * Every default lives in check_options.c's table, and relayguard(1) documents each one. */
#ifndef RELAYGUARD_CHECK_OPTIONS_H
#define RELAYGUARD_CHECK_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "check/result.h"

#define CHECK_OPTIONS_FILES_MAX 64

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
	bool implicit_tls;
	unsigned concurrency;
	const char *advisories_file;
	bool json;
	bool transcript;
	bool quiet;
	bool verbose;
	char **targets;
	int target_count;
	char *files[CHECK_OPTIONS_FILES_MAX]; /* -f FILE, repeatable; "-" is standard input */
	size_t file_count;
	uint64_t max_targets;     /* largest CIDR range accepted */
	unsigned shard_index;     /* --shard K/N: 1..N */
	unsigned shard_count;
	unsigned rate;            /* new connections per second, 0 = unlimited */
	unsigned retry_queue;     /* greylisted targets parked at once */
	bool retry_queue_set;
	const char *db_url;       /* --db: SQLite file or postgresql:// URL */
	bool history;             /* --since given: show stored results, contact nothing */
	int64_t since;            /* unix seconds */
	bool progress;            /* live status line on stderr */
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
