/* progress.c - the live status line of `relayguard check` on a terminal (stderr).
 * Silent when stderr is not a terminal or with --quiet; redrawn once a second. */
#include <event2/event.h>
#include <stdio.h>
#include <unistd.h>

#include "check/check_run.h"
#include "core/event_loop.h"
#include "core/log.h"

#define PROGRESS_INTERVAL_MS 1000

/* progress_draw - one line: done/total, verdict counts, rate and ETA. */
static void
progress_draw(struct check_run *run, bool final)
{
	const struct check_counts *counts = &run->counts;
	uint64_t elapsed_ms = event_loop_now_ms() - run->started_ms;
	double rate = elapsed_ms > 0 ? (double)counts->done * 1000.0 / (double)elapsed_ms : 0.0;
	uint64_t total = target_source_known_total(run->source);
	char total_text[32] = "?";
	char eta[32] = "";

	if (total > 0) {
		snprintf(total_text, sizeof(total_text), "%llu", (unsigned long long)total);
		uint64_t finished = counts->done + counts->skipped;
		if (rate > 0 && total > finished) {
			unsigned long seconds = (unsigned long)((double)(total - finished) / rate);
			snprintf(eta, sizeof(eta), " ETA %lu:%02lu:%02lu", seconds / 3600,
			    (seconds / 60) % 60, seconds % 60);
		}
	}
	fprintf(stderr, "\r\033[K%llu/%s checked  open %llu  suspect %llu  closed %llu  "
	    "inconclusive %llu  unreachable %llu  errors %llu  %.1f/s%s%s",
	    (unsigned long long)counts->done, total_text,
	    (unsigned long long)counts->by_verdict[VERDICT_OPEN],
	    (unsigned long long)counts->by_verdict[VERDICT_SUSPECT],
	    (unsigned long long)counts->by_verdict[VERDICT_CLOSED],
	    (unsigned long long)counts->by_verdict[VERDICT_INCONCLUSIVE],
	    (unsigned long long)counts->by_verdict[VERDICT_UNREACHABLE],
	    (unsigned long long)counts->input_errors, rate, eta, final ? "\n" : "");
	fflush(stderr);
}

static void
progress_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	progress_draw(arg, false);
}

void
progress_start(struct check_run *run)
{
	if (!run->options.progress || run->options.quiet || !isatty(STDERR_FILENO))
		return;
	run->progress_timer = event_new(run->base, -1, EV_PERSIST, progress_tick, run);
	if (run->progress_timer == NULL)
		fatal("event=event_new_failed");
	struct timeval interval = event_loop_timeval(PROGRESS_INTERVAL_MS);
	event_add(run->progress_timer, &interval);
}

void
progress_stop(struct check_run *run)
{
	if (run->progress_timer == NULL)
		return;
	event_free(run->progress_timer);
	run->progress_timer = NULL;
	progress_draw(run, true);
}
