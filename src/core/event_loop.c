/* event_loop.c - creating the libevent base, signal handling inside the loop, clocks.
 * Signals are delivered as loop events, so handlers may touch any state safely. */
#include "core/event_loop.h"

#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"

struct event_loop_signals {
	struct event *interrupt;
	struct event *terminate;
	void (*on_signal)(void *arg, int signo);
	void *arg;
};

struct event_base *
event_loop_new(void)
{
	struct event_config *config = event_config_new();
	if (config == NULL)
		fatal("event=event_config_new_failed");
	event_config_set_flag(config, EVENT_BASE_FLAG_PRECISE_TIMER);
	struct event_base *base = event_base_new_with_config(config);
	event_config_free(config);
	if (base == NULL)
		fatal("event=event_base_new_failed");
	return base;
}

/* signal_fired - forward a signal to the owner's handler. */
static void
signal_fired(evutil_socket_t signo, short what, void *arg)
{
	struct event_loop_signals *signals = arg;

	(void)what;
	signals->on_signal(signals->arg, (int)signo);
}

struct event_loop_signals *
event_loop_stop_on_signals(struct event_base *base, void (*on_signal)(void *arg, int signo),
    void *arg)
{
	struct event_loop_signals *signals = xcalloc(1, sizeof(*signals));

	signals->on_signal = on_signal;
	signals->arg = arg;
	signals->interrupt = evsignal_new(base, SIGINT, signal_fired, signals);
	signals->terminate = evsignal_new(base, SIGTERM, signal_fired, signals);
	if (signals->interrupt == NULL || signals->terminate == NULL)
		fatal("event=evsignal_new_failed");
	evsignal_add(signals->interrupt, NULL);
	evsignal_add(signals->terminate, NULL);
	return signals;
}

void
event_loop_signals_free(struct event_loop_signals *signals)
{
	if (signals == NULL)
		return;
	event_free(signals->interrupt);
	event_free(signals->terminate);
	free(signals);
}

uint64_t
event_loop_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

struct timeval
event_loop_timeval(uint64_t milliseconds)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(milliseconds / 1000u);
	tv.tv_usec = (suseconds_t)((milliseconds % 1000u) * 1000u);
	return tv;
}
