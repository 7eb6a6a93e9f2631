/* check_run.h - the state of one `relayguard check` run, shared by its modules:
 * check_main.c sets it up, check_run.c drives targets through probes, progress.c shows it. */
#ifndef RELAYGUARD_CHECK_RUN_H
#define RELAYGUARD_CHECK_RUN_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "check/check_options.h"
#include "check/probe.h"
#include "check/result.h"
#include "check/software.h"
#include "check/target_source.h"
#include "core/netaddr.h"

struct event_base;
struct event;
struct resolver;
struct receiver;
struct store;

/* Counts shown by the progress line and the final log line. */
struct check_counts {
	uint64_t done;
	uint64_t by_verdict[VERDICT_UNREACHABLE + 1];
	uint64_t skipped;        /* range addresses excluded, duplicates, other shards */
	uint64_t input_errors;   /* bad lines or ranges */
};

struct check_run {
	struct check_options options;
	struct probe_config probe_config;
	struct event_base *base;
	struct resolver *resolver;
	struct receiver *receiver;
	struct store *store;
	int64_t store_run_id;
	struct advisory_db *advisories;
	struct netprefix_set exclusions;   /* --exclude */
	struct netprefix_set reserved;     /* built-in reserved ranges */
	struct target_source *source;
	struct target_seen *seen;
	SSL_CTX *tls_context;
	bool colour;

	/* concrete targets waiting for a free slot (bounded: the source is read lazily) */
	struct check_target *queue;
	size_t queue_head;
	size_t queue_count;
	size_t queue_capacity;

	/* probes alive now, and their addresses (one connection per address at a time) */
	struct probe **active;
	struct netaddr *active_address;
	size_t active_count;
	size_t active_capacity;
	size_t parked_count;               /* of active: waiting for a greylist retry */

	size_t expansions_pending;
	bool source_ended;
	bool interrupted;
	bool closing;

	/* --rate: the next free connection slot */
	uint64_t next_connect_ms;

	/* finished results kept for the table (text mode only) */
	struct target_result **results;
	size_t result_count;
	size_t result_capacity;

	struct smtp_reply *scratch_reply;  /* shared by all probes: one loop, one reply at a time */
	struct check_counts counts;
	uint64_t started_ms;
	struct event *progress_timer;
	struct event *arrival_timer;       /* --confirm with an external receiver: poll the store */
	int64_t last_arrival_id;

	char receiver_literal4[64];
	char receiver_literal6[64];
};

/* check_run_start - begin pulling targets; the caller then runs the event loop. */
void check_run_start(struct check_run *run);
/* check_run_interrupt - stop starting targets, finish the running ones now. */
void check_run_interrupt(struct check_run *run);
/* check_run_token_arrived - the receiver saw a probe token. */
void check_run_token_arrived(struct check_run *run, const char *token, const char *peer);

/* progress_start / progress_stop - the live status line on stderr (a terminal only). */
void progress_start(struct check_run *run);
void progress_stop(struct check_run *run);

/* check_store_result - record one result in the store (--db); logs and goes on on error. */
void check_store_result(struct check_run *run, const struct target_result *result);
/* check_store_watch_arrivals - --confirm without --receiver: poll the store once a second
 * for arrivals recorded by `relayguard receiver`; false (and a message) on a store error. */
bool check_store_watch_arrivals(struct check_run *run);
void check_store_unwatch_arrivals(struct check_run *run);

#endif
