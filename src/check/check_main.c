/* check_main.c - `relayguard check`: expand targets, run probes concurrently, report.
 * Owns the event loop, the resolver, the receiver and the queue; the conversation is probe.c. */
#include "check/check_main.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check_options.h"
#include "check/probe.h"
#include "check/receiver.h"
#include "check/report.h"
#include "check/result.h"
#include "check/software.h"
#include "check/target.h"
#include "core/event_loop.h"
#include "core/hostport.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/resolver.h"
#include "core/smtp_path.h"
#include "core/tls_client.h"

#define ADVISORIES_FILE_NAME "advisories.ini"

/* The state of one `relayguard check` run. */
struct check_run {
	struct check_options options;
	struct probe_config probe_config;
	struct event_base *base;
	struct resolver *resolver;
	struct receiver *receiver;
	struct advisory_db *advisories;
	struct netprefix_set exclusions;
	SSL_CTX *tls_context;
	bool colour;

	/* targets waiting for a free slot */
	struct check_target *queue;
	size_t queue_head;
	size_t queue_count;
	size_t queue_capacity;

	/* probes running now */
	struct probe **active;
	size_t active_count;

	size_t expansions_pending;
	bool interrupted;
	bool closing;            /* cleanup: late callbacks only count down */

	/* finished results, kept for the table (text mode only) */
	struct target_result **results;
	size_t result_count;
	size_t result_capacity;
	size_t open_count;

	char receiver_literal4[64];
	char receiver_literal6[64];
};

static void run_pump(struct check_run *run);

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
	char err[256];

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

/* ---- results ----------------------------------------------------------------------- */

static void
keep_result(struct check_run *run, struct target_result *result)
{
	char tricks[256];
	char address[INET6_ADDRSTRLEN] = "-";

	if (result->verdict == VERDICT_OPEN)
		run->open_count++;
	if (result->expanded)
		netaddr_format(&result->target.address, address, sizeof(address));
	report_tricks(result, tricks, sizeof(tricks));
	log_info("event=target_checked target=%s address=%s port=%u verdict=%s stage=%s "
		 "tricks=%s elapsed_ms=%llu", result->target.input, address,
	    (unsigned)result->target.port, verdict_name(result->verdict),
	    stage_name(result->stage) ? stage_name(result->stage) : "-",
	    tricks[0] ? tricks : "-", (unsigned long long)result->elapsed_ms);
	if (run->options.json) {
		report_json_write(stdout, result);
		result_free(result);
		return;
	}
	if (run->result_count == run->result_capacity) {
		run->result_capacity = run->result_capacity ? run->result_capacity * 2 : 16;
		run->results = xrealloc(run->results, run->result_capacity * sizeof(*run->results));
	}
	run->results[run->result_count++] = result;
}

/* unreached_result - a result for a target we never talked to (DNS, exclusion). */
static struct target_result *
unreached_result(const struct check_target *target, bool expanded, const char *reason)
{
	struct target_result *result = xcalloc(1, sizeof(*result));
	size_t count;
	const struct battery_test *tests = battery_all(&count);

	result->target = *target;
	result->expanded = expanded;
	clock_gettime(CLOCK_REALTIME, &result->started);
	result->test_count = count;
	for (size_t i = 0; i < count; i++)
		result->tests[i].test = &tests[i];
	result->verdict = VERDICT_UNREACHABLE;
	snprintf(result->reason, sizeof(result->reason), "%s", reason);
	return result;
}

static void
probe_done(void *arg, struct target_result *result)
{
	struct check_run *run = arg;

	if (result->banner != NULL || result->ehlo != NULL) {
		result->have_software = software_recognise(result->banner, result->ehlo,
		    &result->software);
		if (result->have_software && run->advisories != NULL)
			result->advisory_count = advisory_db_match(run->advisories,
			    &result->software, result->advisories, RESULT_ADVISORIES_MAX);
	}
	keep_result(run, result);
}

/* probe_finished - wrapper so the run knows which probe ended. */
struct probe_slot {
	struct check_run *run;
	struct probe *probe;
};

static void
slot_done(void *arg, struct target_result *result)
{
	struct probe_slot *slot = arg;
	struct check_run *run = slot->run;

	for (size_t i = 0; i < run->active_count; i++) {
		if (run->active[i] == slot->probe) {
			run->active[i] = run->active[--run->active_count];
			break;
		}
	}
	probe_done(run, result);
	free(slot);
	run_pump(run);
}

/* ---- queue ------------------------------------------------------------------------- */

static void
queue_push(struct check_run *run, const struct check_target *target)
{
	if (run->queue_head + run->queue_count == run->queue_capacity) {
		if (run->queue_head > 0) {
			memmove(run->queue, run->queue + run->queue_head,
			    run->queue_count * sizeof(*run->queue));
			run->queue_head = 0;
		}
		if (run->queue_count == run->queue_capacity) {
			run->queue_capacity = run->queue_capacity ? run->queue_capacity * 2 : 64;
			run->queue = xrealloc(run->queue, run->queue_capacity * sizeof(*run->queue));
		}
	}
	run->queue[run->queue_head + run->queue_count++] = *target;
}

/* run_pump - start probes while there is room; stop the loop when all is done. */
static void
run_pump(struct check_run *run)
{
	while (!run->interrupted && run->queue_count > 0 &&
	    run->active_count < run->options.concurrency) {
		struct check_target *target = &run->queue[run->queue_head++];
		run->queue_count--;
		struct probe_slot *slot = xcalloc(1, sizeof(*slot));
		slot->run = run;
		slot->probe = probe_start(run->base, &run->probe_config, target, slot_done, slot);
		run->active[run->active_count++] = slot->probe;
	}
	if (run->queue_count == 0)
		run->queue_head = 0;
	bool nothing_left = run->expansions_pending == 0 && run->queue_count == 0;
	if ((nothing_left || run->interrupted) && run->active_count == 0)
		event_base_loopexit(run->base, NULL);
}

static void
target_found(void *arg, const struct check_target *target)
{
	struct check_run *run = arg;
	const struct netprefix *excluded;

	if (run->closing || run->interrupted)
		return;
	excluded = netprefix_set_find(&run->exclusions, &target->address);

	if (excluded != NULL) {
		char prefix[64];
		char reason[160];
		netprefix_format(excluded, prefix, sizeof(prefix));
		snprintf(reason, sizeof(reason), "excluded by --exclude (%s): never contacted",
		    prefix);
		keep_result(run, unreached_result(target, true, reason));
		return;
	}
	queue_push(run, target);
	run_pump(run);
}

static void
target_done(void *arg, const char *input, enum target_expand_status status, const char *message)
{
	struct check_run *run = arg;

	run->expansions_pending--;
	if (run->closing || run->interrupted)
		return;
	if (status != TARGET_EXPAND_OK) {
		struct check_target target;
		memset(&target, 0, sizeof(target));
		snprintf(target.input, sizeof(target.input), "%s", input);
		keep_result(run, unreached_result(&target, false, message));
	}
	run_pump(run);
}

static void
token_arrived(void *arg, const char *token, const char *peer, const char *mail_from,
    const char *rcpt_to)
{
	struct check_run *run = arg;

	(void)mail_from;
	(void)rcpt_to;
	for (size_t i = 0; i < run->active_count; i++)
		if (probe_token_arrived(run->active[i], token, peer))
			return;
	log_info("event=token_unknown token=%s peer=%s", token, peer);
}

static void
interrupted(void *arg, int signo)
{
	struct check_run *run = arg;

	log_warn("event=interrupted signal=%d detail=\"stopping; finished targets are reported\"",
	    signo);
	run->interrupted = true;
	run->queue_count = 0;
	while (run->active_count > 0)
		probe_stop(run->active[run->active_count - 1]);
	run_pump(run);
}

/* ---- set-up ------------------------------------------------------------------------ */

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
	config->tls_context = run->tls_context;
	config->greeting_timeout_ms = options->greeting_timeout_ms;
	config->reply_timeout_ms = options->reply_timeout_ms;
	config->deadline_ms = options->deadline_ms;
	config->greylist_delay_ms = options->greylist_delay_ms;
	config->greylist_retries = options->greylist_retries;
	config->confirm_wait_ms = options->confirm_wait_ms;
	memcpy(config->selected, options->selected, sizeof(config->selected));
}

/* validate_targets - every command-line target must parse before anything is contacted. */
static bool
validate_targets(const struct check_options *options)
{
	for (int i = 0; i < options->target_count; i++) {
		struct hostport parsed;
		char err[256];
		if (!hostport_parse(options->targets[i], &parsed, err, sizeof(err))) {
			fprintf(stderr, "relayguard check: bad target '%s': %s\n",
			    options->targets[i], err);
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

static void
run_cleanup(struct check_run *run)
{
	/* The resolver first: it calls back for expansions still pending. */
	run->closing = true;
	if (run->resolver != NULL)
		resolver_free(run->resolver);
	run->resolver = NULL;
	for (size_t i = 0; i < run->result_count; i++)
		result_free(run->results[i]);
	free(run->results);
	free(run->queue);
	free(run->active);
	if (run->receiver != NULL)
		receiver_free(run->receiver);
	if (run->advisories != NULL)
		advisory_db_free(run->advisories);
	if (run->tls_context != NULL)
		SSL_CTX_free(run->tls_context);
	netprefix_set_free(&run->exclusions);
}

int
check_main(int argc, char **argv)
{
	struct check_run run;
	char err[512];
	int status = 2;

	memset(&run, 0, sizeof(run));
	switch (check_options_parse(argc, argv, &run.options)) {
	case CHECK_OPTIONS_HELP:
		return 0;
	case CHECK_OPTIONS_ERROR:
		return 2;
	case CHECK_OPTIONS_OK:
		break;
	}
	log_init("relayguard-check", LOG_SINK_STDERR, run.options.verbose ? LOG_LEVEL_DEBUG
	    : run.options.quiet ? LOG_LEVEL_ERROR : LOG_LEVEL_INFO);
	netprefix_set_init(&run.exclusions);
	if (!validate_targets(&run.options))
		goto out;
	if (run.options.exclude_file != NULL &&
	    netprefix_set_load_file(&run.exclusions, run.options.exclude_file, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "relayguard check: --exclude: %s\n", err);
		goto out;
	}
	if (!load_advisories(&run))
		goto out;
	run.tls_context = tls_client_context_new(err, sizeof(err));
	if (run.tls_context == NULL) {
		fprintf(stderr, "relayguard check: %s\n", err);
		goto out;
	}
	fill_probe_config(&run);
	if (run.options.confirm && !set_receiver_literals(&run))
		goto out;
	run.colour = !run.options.json && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	run.base = event_loop_new();
	run.resolver = resolver_new(run.base, run.options.dns_server, err, sizeof(err));
	if (run.resolver == NULL) {
		fprintf(stderr, "relayguard check: --dns: %s\n", err);
		goto out_base;
	}
	if (run.options.confirm) {
		run.receiver = receiver_start(run.base, run.options.receiver_address,
		    run.options.probe_domain, token_arrived, &run, err, sizeof(err));
		if (run.receiver == NULL) {
			fprintf(stderr, "relayguard check: receiver: %s\n", err);
			goto out_base;
		}
	}
	run.active = xcalloc(run.options.concurrency, sizeof(*run.active));
	struct event_loop_signals *signals = event_loop_stop_on_signals(run.base, interrupted, &run);
	run.expansions_pending = (size_t)run.options.target_count;
	for (int i = 0; i < run.options.target_count; i++)
		target_expand(run.resolver, run.options.targets[i], run.options.port, target_found,
		    target_done, &run);
	event_base_dispatch(run.base);
	event_loop_signals_free(signals);

	if (!run.options.json)
		print_text_report(&run);
	status = run.open_count > 0 ? 1 : 0;
	log_info("event=check_finished open=%zu interrupted=%s", run.open_count,
	    run.interrupted ? "yes" : "no");
	if (run.interrupted && status == 0)
		status = 2;
out_base:
	run_cleanup(&run);
	event_base_free(run.base);
	return status;
out:
	run_cleanup(&run);
	return status;
}
