/* check_main.c - `relayguard check`: set up the loop, resolver, receiver, store and target
 * source, run (check_run.c), report; or, with --since, print stored history only. */
#include "check/check_main.h"

#include <event2/event.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check/check_options.h"
#include "check/check_run.h"
#include "check/receiver.h"
#include "check/report.h"
#include "core/event_loop.h"
#include "core/hostport.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/resolver.h"
#include "core/smtp_path.h"
#include "core/store.h"
#include "core/tls_client.h"

#define ADVISORIES_FILE_NAME "advisories.ini"

/* load_advisories - the data file: --advisories, or the first readable default. */
static bool
load_advisories(struct check_run *run)
{
	char err[512];

	if (run->options.advisories_file != NULL) {
		run->advisories = advisory_db_load(run->options.advisories_file, err, sizeof(err));
		if (run->advisories == NULL) {
			fprintf(stderr, "relayguard check: %s\n", err);
			return false;
		}
		return true;
	}
	/* The environment, the installed copy, then the source tree (running from a build). */
	const char *candidates[3] = { getenv("RELAYGUARD_ADVISORIES"),
		RELAYGUARD_DATADIR "/" ADVISORIES_FILE_NAME,
		RELAYGUARD_SOURCE_DATADIR "/" ADVISORIES_FILE_NAME };
	for (size_t i = 0; i < 3; i++) {
		if (candidates[i] == NULL || access(candidates[i], R_OK) != 0)
			continue;
		run->advisories = advisory_db_load(candidates[i], err, sizeof(err));
		if (run->advisories != NULL)
			return true;
		log_warn("event=advisories_unreadable error=\"%s\"", err);
	}
	log_warn("event=advisories_missing detail=\"no advisories.ini found; banners are "
		 "recognised without advisories\"");
	return true;
}

/* set_receiver_literals - N01/N02 aim at the receiver's own address with --confirm. */
static bool
set_receiver_literals(struct check_run *run)
{
	struct hostport where;
	char err[256] = "";

	if (!hostport_parse(run->options.receiver_address, &where, err, sizeof(err)) ||
	    !where.is_address || where.port == 0) {
		fprintf(stderr, "relayguard check: --receiver wants ADDRESS:PORT, not '%s'%s%s\n",
		    run->options.receiver_address, err[0] ? ": " : "", err);
		return false;
	}
	char literal[64];
	smtp_address_literal_write(literal, sizeof(literal), &where.address);
	if (where.address.family == AF_INET) {
		snprintf(run->receiver_literal4, sizeof(run->receiver_literal4), "%s", literal);
		run->probe_config.receiver_literal4 = run->receiver_literal4;
	} else {
		snprintf(run->receiver_literal6, sizeof(run->receiver_literal6), "%s", literal);
		run->probe_config.receiver_literal6 = run->receiver_literal6;
	}
	return true;
}

static void
fill_probe_config(struct check_run *run)
{
	const struct check_options *options = &run->options;
	struct probe_config *config = &run->probe_config;

	config->helo_name = options->helo_name;
	config->sender_local = options->sender_local;
	config->recipient_local = options->recipient_local;
	config->victim_domain = options->confirm ? options->probe_domain : options->victim_domain;
	config->message_from = options->message_from;
	config->depth = options->depth;
	config->confirm = options->confirm;
	config->starttls_allowed = options->starttls_allowed;
	config->implicit_tls = options->implicit_tls;
	config->tls_context = run->tls_context;
	config->greeting_timeout_ms = options->greeting_timeout_ms;
	config->reply_timeout_ms = options->reply_timeout_ms;
	config->deadline_ms = options->deadline_ms;
	config->greylist_delay_ms = options->greylist_delay_ms;
	config->greylist_retries = options->greylist_retries;
	config->confirm_wait_ms = options->confirm_wait_ms;
	memcpy(config->selected, options->selected, sizeof(config->selected));
}

/* validate_arguments - every command-line target must parse before anything is contacted. */
static bool
validate_arguments(const struct check_options *options)
{
	for (int i = 0; i < options->target_count; i++) {
		const char *text = options->targets[i];
		struct hostport parsed;
		struct netprefix prefix;
		char err[256];
		if (strchr(text, '/') != NULL) {
			if (!netprefix_parse(text, &prefix)) {
				fprintf(stderr, "relayguard check: bad range '%s'\n", text);
				return false;
			}
			unsigned bits = (prefix.address.family == AF_INET ? 32 : 128) - prefix.length;
			if (bits >= 64 || (UINT64_C(1) << bits) > options->max_targets) {
				fprintf(stderr, "relayguard check: range %s is larger than --max-targets "
				    "%llu\n", text, (unsigned long long)options->max_targets);
				return false;
			}
			continue;
		}
		if (!hostport_parse(text, &parsed, err, sizeof(err))) {
			fprintf(stderr, "relayguard check: bad target '%s': %s\n", text, err);
			return false;
		}
	}
	return true;
}

static int
compare_results(const void *a, const void *b)
{
	const struct target_result *left = *(const struct target_result *const *)a;
	const struct target_result *right = *(const struct target_result *const *)b;
	int order = strcmp(left->target.input, right->target.input);

	if (order != 0)
		return order;
	if (left->target.mx_preference != right->target.mx_preference)
		return left->target.mx_preference < right->target.mx_preference ? -1 : 1;
	if (left->target.address.family != right->target.address.family)
		return left->target.address.family == AF_INET ? -1 : 1;
	int bytes = memcmp(left->target.address.bytes, right->target.address.bytes, 16);
	if (bytes != 0)
		return bytes;
	return (int)left->target.port - (int)right->target.port;
}

static void
print_text_report(struct check_run *run)
{
	qsort(run->results, run->result_count, sizeof(*run->results), compare_results);
	report_text_table(stdout, run->results, run->result_count, run->colour);
	for (size_t i = 0; i < run->result_count; i++)
		report_text_evidence(stdout, run->results[i], run->options.transcript, run->colour);
}

/* ---- history (--since) ------------------------------------------------------------- */

/* print_history_json - the report as printed when checked, with the verdict, stage and
 * tricks it has now (a late arrival may have upgraded them since). */
static void
print_history_json(const struct store_history_row *row)
{
	json_error_t error;
	json_t *object = row->report_json ? json_loads(row->report_json, 0, &error) : NULL;

	if (object == NULL || !json_is_object(object)) {
		json_decref(object);
		object = json_pack("{s:s, s:o, s:i}", "target", row->target, "address",
		    row->address ? json_string(row->address) : json_null(), "port", row->port);
	}
	const char *checked_verdict = json_string_value(json_object_get(object, "verdict"));
	if (checked_verdict != NULL && strcmp(checked_verdict, row->verdict) != 0) {
		char reason[RESULT_REASON_MAX];
		snprintf(reason, sizeof(reason), "upgraded from %s: a probe message reached the "
		    "receiver after the check ended", checked_verdict);
		json_object_set_new(object, "verdict_when_checked", json_string(checked_verdict));
		json_object_set_new(object, "reason", json_string(reason));
	} else if (row->reason != NULL) {
		json_object_set_new(object, "reason", json_string(row->reason));
	}
	json_object_set_new(object, "verdict", json_string(row->verdict));
	json_object_set_new(object, "stage", row->stage ? json_string(row->stage) : json_null());
	json_t *tricks = json_array();
	for (const char *cursor = row->tricks; cursor != NULL && *cursor != '\0';) {
		size_t length = strcspn(cursor, ",");
		json_array_append_new(tricks, json_stringn(cursor, length));
		cursor += length;
		if (*cursor == ',')
			cursor++;
	}
	json_object_set_new(object, "tricks", tricks);
	json_object_set_new(object, "result_id", json_integer(row->result_id));
	char *text = json_dumps(object, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (text == NULL)
		fatal("event=json_dumps_failed");
	printf("%s\n", text);
	free(text);
	json_decref(object);
}

static void
print_history_row(void *arg, const struct store_history_row *row)
{
	bool json = *(bool *)arg;
	char when[32];
	time_t started = (time_t)row->started_at;
	struct tm tm;

	if (json) {
		print_history_json(row);
		return;
	}
	gmtime_r(&started, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-20s  %-28s %-26s %5d  %-12s %-9s %-20s %s\n", when, row->target,
	    row->address ? row->address : "-", row->port, row->verdict,
	    row->stage ? row->stage : "-", row->tricks[0] ? row->tricks : "-",
	    row->reason ? row->reason : "");
}

/* show_history - --since: stored results, newest first; nothing is contacted. */
static int
show_history(struct check_run *run)
{
	char err[512];
	int status = 0;

	if (!run->options.json)
		printf("%-20s  %-28s %-26s %5s  %-12s %-9s %-20s %s\n", "CHECKED", "TARGET",
		    "ADDRESS", "PORT", "VERDICT", "STAGE", "TRICKS", "REASON");
	if (run->options.target_count == 0) {
		if (store_history(run->store, NULL, run->options.since, 0, print_history_row,
		    &run->options.json, err, sizeof(err)) != 0) {
			fprintf(stderr, "relayguard check: --since: %s\n", err);
			status = 2;
		}
	}
	for (int i = 0; i < run->options.target_count; i++) {
		if (store_history(run->store, run->options.targets[i], run->options.since, 0,
		    print_history_row, &run->options.json, err, sizeof(err)) != 0) {
			fprintf(stderr, "relayguard check: --since: %s\n", err);
			status = 2;
		}
	}
	return status;
}

/* ---- set-up and tear-down ---------------------------------------------------------- */

static void
token_arrived(void *arg, const char *token, const char *peer, const char *mail_from,
    const char *rcpt_to)
{
	struct check_run *run = arg;
	char err[512];
	bool matched;

	check_run_token_arrived(run, token, peer);
	if (run->store != NULL && store_arrival_record(run->store, token, peer, mail_from, rcpt_to,
	    (int64_t)time(NULL), &matched, err, sizeof(err)) != 0)
		log_error("event=store_failed token=%s error=\"%s\"", token, err);
}

static void
interrupted(void *arg, int signo)
{
	struct check_run *run = arg;

	log_warn("event=interrupted signal=%d detail=\"stopping; finished targets are reported\"",
	    signo);
	check_run_interrupt(run);
}

/* open_store - --db: open it and record the run. */
static bool
open_store(struct check_run *run, int argc, char **argv)
{
	char err[512];
	char command[1024] = "";
	char node[256] = "";
	char shard[32];
	size_t used = 0;

	run->store = store_open(run->options.db_url, err, sizeof(err));
	if (run->store == NULL) {
		fprintf(stderr, "relayguard check: --db: %s\n", err);
		return false;
	}
	if (run->options.history)
		return true;
	for (int i = 0; i < argc && used + 2 < sizeof(command); i++) {
		int written = snprintf(command + used, sizeof(command) - used, "%s%s", i ? " " : "",
		    argv[i]);
		if (written < 0)
			break;
		used += (size_t)written;
		if (used >= sizeof(command))
			used = sizeof(command) - 1;
	}
	gethostname(node, sizeof(node) - 1);
	snprintf(shard, sizeof(shard), "%u/%u", run->options.shard_index, run->options.shard_count);
	struct store_run record = {
		.command = command,
		.version = RELAYGUARD_VERSION,
		.node = node,
		.shard = run->options.shard_count > 1 ? shard : NULL,
		.started_at = (int64_t)time(NULL),
	};
	if (store_run_begin(run->store, &record, &run->store_run_id, err, sizeof(err)) != 0) {
		fprintf(stderr, "relayguard check: --db: %s\n", err);
		return false;
	}
	return true;
}

static void
run_cleanup(struct check_run *run)
{
	char err[512];

	/* The resolver first: it calls back for expansions still pending. */
	run->closing = true;
	check_store_unwatch_arrivals(run);
	if (run->resolver != NULL)
		resolver_free(run->resolver);
	if (run->store != NULL && run->store_run_id != 0 &&
	    store_run_end(run->store, run->store_run_id, (int64_t)time(NULL),
	    run->interrupted ? "interrupted" : "finished", err, sizeof(err)) != 0)
		log_error("event=store_failed error=\"%s\"", err);
	store_close(run->store);
	for (size_t i = 0; i < run->result_count; i++)
		result_free(run->results[i]);
	free(run->results);
	free(run->queue);
	free(run->active);
	free(run->active_address);
	if (run->receiver != NULL)
		receiver_free(run->receiver);
	if (run->advisories != NULL)
		advisory_db_free(run->advisories);
	if (run->tls_context != NULL)
		SSL_CTX_free(run->tls_context);
	target_source_free(run->source);
	target_seen_free(run->seen);
	free(run->scratch_reply);
	netprefix_set_free(&run->exclusions);
	netprefix_set_free(&run->reserved);
	if (run->base != NULL)
		event_base_free(run->base);
}

/* prepare - everything that can fail before the first packet: exit 2 on any of it. */
static bool
prepare(struct check_run *run, int argc, char **argv)
{
	char err[512];

	if (!validate_arguments(&run->options))
		return false;
	if (run->options.exclude_file != NULL &&
	    netprefix_set_load_file(&run->exclusions, run->options.exclude_file, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "relayguard check: --exclude: %s\n", err);
		return false;
	}
	target_default_exclusions(&run->reserved);
	struct target_source_options source_options = {
		.arguments = run->options.targets,
		.argument_count = (size_t)run->options.target_count,
		.files = run->options.files,
		.file_count = run->options.file_count,
		.max_targets = run->options.max_targets,
		.shard_index = run->options.shard_index,
		.shard_count = run->options.shard_count,
	};
	run->source = target_source_new(&source_options, err, sizeof(err));
	if (run->source == NULL) {
		fprintf(stderr, "relayguard check: -f: %s\n", err);
		return false;
	}
	if (!load_advisories(run))
		return false;
	run->tls_context = tls_client_context_new(err, sizeof(err));
	if (run->tls_context == NULL) {
		fprintf(stderr, "relayguard check: %s\n", err);
		return false;
	}
	fill_probe_config(run);
	if (run->options.confirm && run->options.receiver_address != NULL &&
	    !set_receiver_literals(run))
		return false;
	if (run->options.db_url != NULL && !open_store(run, argc, argv))
		return false;
	run->colour = !run->options.json && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	run->base = event_loop_new();
	run->resolver = resolver_new(run->base, run->options.dns_server, err, sizeof(err));
	if (run->resolver == NULL) {
		fprintf(stderr, "relayguard check: --dns: %s\n", err);
		return false;
	}
	if (run->options.confirm && run->options.receiver_address != NULL) {
		run->receiver = receiver_start(run->base, run->options.receiver_address,
		    run->options.probe_domain, token_arrived, run, err, sizeof(err));
		if (run->receiver == NULL) {
			fprintf(stderr, "relayguard check: receiver: %s\n", err);
			return false;
		}
	} else if (run->options.confirm && !check_store_watch_arrivals(run)) {
		return false;
	}
	return true;
}

int
check_main(int argc, char **argv)
{
	struct check_run *run = xcalloc(1, sizeof(*run));
	int status = 2;

	switch (check_options_parse(argc, argv, &run->options)) {
	case CHECK_OPTIONS_HELP:
		free(run);
		return 0;
	case CHECK_OPTIONS_ERROR:
		free(run);
		return 2;
	case CHECK_OPTIONS_OK:
		break;
	}
	bool progress = run->options.progress && !run->options.quiet && isatty(STDERR_FILENO);
	log_init("relayguard-check", LOG_SINK_STDERR, run->options.verbose ? LOG_LEVEL_DEBUG
	    : run->options.quiet ? LOG_LEVEL_ERROR : progress ? LOG_LEVEL_WARN : LOG_LEVEL_INFO);
	netprefix_set_init(&run->exclusions);
	netprefix_set_init(&run->reserved);
	if (run->options.history) {
		if (open_store(run, argc, argv))
			status = show_history(run);
		run_cleanup(run);
		free(run);
		return status;
	}
	if (!prepare(run, argc, argv)) {
		run_cleanup(run);
		free(run);
		return 2;
	}
	struct event_loop_signals *signals = event_loop_stop_on_signals(run->base, interrupted, run);
	check_run_start(run);
	progress_start(run);
	event_base_dispatch(run->base);
	progress_stop(run);
	event_loop_signals_free(signals);

	if (!run->options.json)
		print_text_report(run);
	uint64_t open = run->counts.by_verdict[VERDICT_OPEN];
	log_info("event=check_finished checked=%llu open=%llu skipped=%llu input_errors=%llu "
		 "interrupted=%s", (unsigned long long)run->counts.done, (unsigned long long)open,
	    (unsigned long long)run->counts.skipped, (unsigned long long)run->counts.input_errors,
	    run->interrupted ? "yes" : "no");
	/* An open relay is the headline; otherwise any input error or interrupt is an error. */
	status = open > 0 ? 1 : (run->interrupted || run->counts.input_errors > 0) ? 2 : 0;
	run_cleanup(run);
	free(run);
	return status;
}
