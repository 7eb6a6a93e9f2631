/* check_store.c - records `relayguard check` results in the store (--db): one transaction
 * per target with its tests and tokens, so that late arrivals can upgrade the verdict. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check_run.h"
#include "check/report.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/store.h"

void
check_store_result(struct check_run *run, const struct target_result *result)
{
	struct store_test tests[BATTERY_SIZE];
	char *replies[BATTERY_SIZE];
	size_t count = 0;
	char address[INET6_ADDRSTRLEN];
	char tricks[256];
	char err[512];
	int64_t result_id;

	for (size_t i = 0; i < result->test_count; i++) {
		const struct test_result *test = &result->tests[i];
		if (!test->selected)
			continue;
		replies[count] = report_json_replies(test);
		tests[count] = (struct store_test) {
			.test_id = test->test->id,
			.outcome = outcome_name(test->outcome),
			.stage = stage_name(test->stage),
			.mail_from = test->mail_from,
			.rcpt_to = test->rcpt_to,
			.replies_json = replies[count],
			.attempts = test->attempts,
			.elapsed_ms = (int64_t)test->elapsed_ms,
			/* Only a token that was sent in a message can ever arrive. */
			.token = test->stage >= STAGE_DATA ? test->token : NULL,
		};
		count++;
	}
	if (result->expanded)
		netaddr_format(&result->target.address, address, sizeof(address));
	report_tricks(result, tricks, sizeof(tricks));
	char *report = report_json_text(result);
	const struct check_target *target = &result->target;
	struct store_result row = {
		.target = target->input,
		.address = result->expanded ? address : NULL,
		.port = result->expanded ? target->port : 0,
		.family = result->expanded ? (target->address.family == AF_INET6 ? "ipv6" : "ipv4")
					   : NULL,
		.mx_host = target->from_mx ? target->mx_host : NULL,
		.mx_preference = (int)target->mx_preference,
		.mail_domain = target->mail_domain[0] ? target->mail_domain : NULL,
		.banner = result->banner,
		.software = result->have_software ? result->software.name : NULL,
		.software_version = result->have_software && result->software.version[0]
		    ? result->software.version : NULL,
		.verdict = verdict_name(result->verdict),
		.stage = stage_name(result->stage),
		.reason = result->reason,
		.tricks = tricks,
		.started_at = (int64_t)result->started.tv_sec,
		.elapsed_ms = (int64_t)result->elapsed_ms,
		.report_json = report,
		.tests = tests,
		.test_count = count,
	};
	if (store_result_add(run->store, run->store_run_id, &row, &result_id, err,
	    sizeof(err)) != 0)
		log_error("event=store_failed target=%s error=\"%s\"", target->input, err);
	free(report);
	for (size_t i = 0; i < count; i++)
		free(replies[i]);
}

#define ARRIVAL_POLL_MS 1000
#define ARRIVAL_POLL_BATCH 1000

static void
arrival_seen(void *arg, const struct store_arrival_row *row)
{
	check_run_token_arrived(arg, row->token, row->peer ? row->peer : "?");
}

/* arrival_poll - hand new arrivals to the probes still waiting for them. */
static void
arrival_poll(evutil_socket_t fd, short what, void *arg)
{
	struct check_run *run = arg;
	char err[512];

	(void)fd;
	(void)what;
	if (store_arrivals_after(run->store, run->last_arrival_id, ARRIVAL_POLL_BATCH,
	    arrival_seen, run, &run->last_arrival_id, err, sizeof(err)) != 0)
		log_error("event=store_failed detail=\"polling arrivals\" error=\"%s\"", err);
}

bool
check_store_watch_arrivals(struct check_run *run)
{
	char err[512];

	if (store_arrivals_last_id(run->store, &run->last_arrival_id, err, sizeof(err)) != 0) {
		fprintf(stderr, "relayguard check: --db: %s\n", err);
		return false;
	}
	run->arrival_timer = event_new(run->base, -1, EV_PERSIST, arrival_poll, run);
	if (run->arrival_timer == NULL)
		fatal("event=event_new_failed");
	struct timeval interval = event_loop_timeval(ARRIVAL_POLL_MS);
	event_add(run->arrival_timer, &interval);
	return true;
}

void
check_store_unwatch_arrivals(struct check_run *run)
{
	if (run->arrival_timer == NULL)
		return;
	event_free(run->arrival_timer);
	run->arrival_timer = NULL;
}
