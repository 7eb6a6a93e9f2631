/* event_loop.h - the libevent loop every long-running part uses, plus time helpers.
 * One loop per thread; nothing here blocks. */
#ifndef RELAYGUARD_CORE_EVENT_LOOP_H
#define RELAYGUARD_CORE_EVENT_LOOP_H

#include <stdint.h>
#include <sys/time.h>

struct event_base;

/* event_loop_new - a new event base, or fatal(). */
struct event_base *event_loop_new(void);
/* event_loop_stop_on_signals - SIGINT and SIGTERM call on_signal(arg, signo) from the loop.
 * Returns an opaque handle to free with event_loop_signals_free(). */
struct event_loop_signals;
struct event_loop_signals *event_loop_stop_on_signals(struct event_base *base,
    void (*on_signal)(void *arg, int signo), void *arg);
void event_loop_signals_free(struct event_loop_signals *signals);
/* event_loop_now_ms - monotonic milliseconds. */
uint64_t event_loop_now_ms(void);
/* event_loop_timeval - milliseconds as a struct timeval. */
struct timeval event_loop_timeval(uint64_t milliseconds);

#endif
