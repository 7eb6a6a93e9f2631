/* metrics.h - counters of `relayguard dnsbl` (per zone and rcode, per query type, latency
 * histogram, drops) kept per worker without locks, a Prometheus text endpoint and the
 * control socket (status, reload, metrics). The endpoints run on the main libevent loop. */
#ifndef RELAYGUARD_DNSBL_METRICS_H
#define RELAYGUARD_DNSBL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnsbl/reload.h"
#include "dnsbl/zone.h"

/* Upper bounds of the latency histogram buckets, in microseconds (then +Inf). */
#define METRICS_LATENCY_BOUNDS_US { 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000 }
#define METRICS_LATENCY_BUCKETS 12

struct event_base;
struct evbuffer;
struct metrics;
/* One thread's counters: only that thread writes them (no atomic read-modify-write). */
struct metrics_shard;

/* metrics_new - counters for zone_count zones (names copied) and shard_count writers */
struct metrics *metrics_new(const char *const *zone_names, size_t zone_count,
    size_t shard_count);
void metrics_free(struct metrics *metrics);
struct metrics_shard *metrics_shard_get(struct metrics *metrics, size_t index);

/* metrics_count_answer - one packet answered (or ignored) as info says */
void metrics_count_answer(struct metrics_shard *shard, const struct zone_answer_info *info);
/* metrics_count_latency - count queries that each took nanoseconds from arrival to send */
void metrics_count_latency(struct metrics_shard *shard, uint64_t nanoseconds, size_t queries);
/* metrics_note_kernel_drops - the kernel's running count of datagrams dropped on the
 * shard's own socket (SO_RXQ_OVFL) */
void metrics_note_kernel_drops(struct metrics_shard *shard, uint32_t dropped_total);
void metrics_count_send_error(struct metrics_shard *shard);
void metrics_count_tcp_connection(struct metrics_shard *shard, bool refused);

/* metrics_total_queries - all packets counted so far, over every shard */
uint64_t metrics_total_queries(struct metrics *metrics);
/* metrics_render - the Prometheus text exposition (format 0.0.4) into out; snapshot
 * (may be NULL) gives the zone gauges, status the reload ones */
void metrics_render(struct metrics *metrics, const struct zone_snapshot *snapshot,
    const struct reload_status *status, struct evbuffer *out);

/* metrics_listen_tcp - a listening TCP socket for the Prometheus endpoint ("ADDR:PORT");
 * -1 and a message when it cannot be had. Bound before privileges are dropped. */
int metrics_listen_tcp(const char *address, char *err, size_t err_size);
/* metrics_listen_control - a listening Unix socket at path (a stale one is replaced),
 * mode 0660; -1 and a message on failure */
int metrics_listen_control(const char *path, char *err, size_t err_size);

/* The endpoints on the main loop. http_fd and control_fd may be -1 (not served). */
struct metrics_service;
struct metrics_service *metrics_service_new(struct event_base *base, struct metrics *metrics,
    struct zone_snapshot_slot *slot, struct reload *reload, int http_fd, int control_fd);
void metrics_service_free(struct metrics_service *service);

#endif
