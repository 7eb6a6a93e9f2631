/* reload.c - the loader thread of `relayguard dnsbl`: notice changed data files, load them
 * aside, swap in a new zone snapshot. Never touches the served snapshot in place, and never
 * replaces good data with nothing: a missing, unreadable or half-written file is logged and
 * the last good dataset stays in service. */
#include "dnsbl/reload.h"

#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/event_loop.h"
#include "core/log.h"

/* After a file event, wait for this much quiet before looking (a burst of renames). */
#define SETTLE_MS 50
/* ... but never longer than this after the first event. */
#define SETTLE_MAX_MS 2000
#define MS_PER_SECOND 1000
/* Room for a burst of inotify events in one read. */
#define INOTIFY_BUFFER_SIZE 8192
#define INOTIFY_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | \
	IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

/* What identifies one version of a file (rbldnsd looks at the mtime in seconds only). */
struct file_stamp {
	bool present;
	dev_t device;
	ino_t inode;
	off_t size;
	struct timespec mtime;
};

/* One dataset and what was last loaded from, or last tried on, its files. */
struct source {
	enum dataset_type type;
	char **paths;
	size_t path_count;
	struct file_stamp *loaded;	/* stamps of the files data came from */
	struct file_stamp *tried;	/* stamps at the last attempt, good or bad */
	struct file_stamp *before;	/* scratch: stamps before and after a load */
	struct file_stamp *after;
	bool tried_failed;
	struct zone_data *data;		/* NULL until the first good load */
	struct store_feed *feed;	/* a store-fed dataset: no paths; data is its IPv4 */
	struct zone_data *data6;	/* and this its IPv6 half */
};

struct zone_state {
	char *name;
	struct source *sources;
	size_t source_count;
};

struct reload {
	struct zone_state *zones;
	size_t zone_count;
	struct zone_defaults defaults;
	struct zone_snapshot_slot *slot;
	unsigned check_interval_s;
	uint64_t generation;		/* loader thread only */

	pthread_t thread;
	bool started;
	int inotify_fd;			/* -1 when inotify is not used */
	int wake_fd;			/* eventfd: requests and stop */
	int notify_fd;			/* eventfd: a round has finished */

	pthread_mutex_t lock;		/* guards what follows */
	bool stopping;
	bool force_requested;
	uint64_t requested;
	uint64_t completed;
	struct reload_status status;
};

/* ---- files ----------------------------------------------------------------------------- */

/* stamp_file - what the file looks like now */
static void
stamp_file(const char *path, struct file_stamp *stamp)
{
	struct stat st;

	memset(stamp, 0, sizeof(*stamp));
	if (stat(path, &st) != 0)
		return;
	stamp->present = true;
	stamp->device = st.st_dev;
	stamp->inode = st.st_ino;
	stamp->size = st.st_size;
	stamp->mtime = st.st_mtim;
}

/* stamps_equal - same presence, inode, size and nanosecond mtime */
static bool
stamps_equal(const struct file_stamp *a, const struct file_stamp *b, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (a[i].present != b[i].present || a[i].device != b[i].device ||
		    a[i].inode != b[i].inode || a[i].size != b[i].size ||
		    a[i].mtime.tv_sec != b[i].mtime.tv_sec ||
		    a[i].mtime.tv_nsec != b[i].mtime.tv_nsec)
			return false;
	}
	return true;
}

/* ---- status ---------------------------------------------------------------------------- */

/* note_failure - remember and log why a dataset kept its old data */
static void
note_failure(struct reload *reload, const char *zone, const struct source *source,
    const char *error)
{
	char escaped[RELOAD_ERROR_MAX];

	log_escape(error, strlen(error), escaped, sizeof(escaped));
	log_warn("event=reload_failed zone=%s type=%s error=%s detail=\"%s\"", zone,
	    source->feed != NULL ? STORE_FEED_TYPE_NAME : dataset_type_name(source->type),
	    escaped, source->data != NULL ?
	    "keeping the last good data" : "no data loaded yet");
	pthread_mutex_lock(&reload->lock);
	reload->status.failures++;
	reload->status.last_failure = (int64_t)time(NULL);
	snprintf(reload->status.last_error, sizeof(reload->status.last_error), "zone %s: %s",
	    zone, error);
	pthread_mutex_unlock(&reload->lock);
}

/* ---- loading --------------------------------------------------------------------------- */

/* load_store_source - poll a store-fed dataset (store_feed.c); true when its data was
 * replaced. On failure the old data stays. */
static bool
load_store_source(struct reload *reload, const char *zone, struct source *source, bool force,
    bool *failed)
{
	struct store_feed_data loaded;
	char err[RELOAD_ERROR_MAX];
	uint64_t started = event_loop_now_ms();

	*failed = false;
	switch (store_feed_poll(source->feed, force, (int64_t)time(NULL), &loaded, err,
	    sizeof(err))) {
	case STORE_FEED_UNCHANGED:
		return false;
	case STORE_FEED_FAILED:
		*failed = true;
		note_failure(reload, zone, source, err);
		return false;
	case STORE_FEED_LOADED:
		break;
	}
	zone_data_unref(source->data);
	zone_data_unref(source->data6);
	source->data = zone_data_new(loaded.ipv4, DATASET_IP4TRIE);
	source->data6 = zone_data_new(loaded.ipv6, DATASET_IP6TRIE);
	log_info("event=dataset_loaded zone=%s type=%s entries=%zu bytes=%zu elapsed_ms=%llu",
	    zone, STORE_FEED_TYPE_NAME,
	    dataset_entry_count(loaded.ipv4) + dataset_entry_count(loaded.ipv6),
	    dataset_memory_bytes(loaded.ipv4) + dataset_memory_bytes(loaded.ipv6),
	    (unsigned long long)(event_loop_now_ms() - started));
	pthread_mutex_lock(&reload->lock);
	reload->status.loads++;
	pthread_mutex_unlock(&reload->lock);
	return true;
}

/* load_source - load one dataset if its files changed (or force); true when source->data
 * was replaced. On failure the old data stays. */
static bool
load_source(struct reload *reload, const char *zone, struct source *source, bool force,
    bool *failed)
{
	struct file_stamp *before = source->before;
	struct file_stamp *after = source->after;
	size_t stamps_size = source->path_count * sizeof(*before);
	char err[RELOAD_ERROR_MAX];

	if (source->feed != NULL)
		return load_store_source(reload, zone, source, force, failed);
	*failed = false;
	for (size_t i = 0; i < source->path_count; i++)
		stamp_file(source->paths[i], &before[i]);
	if (!force && source->data != NULL &&
	    stamps_equal(before, source->loaded, source->path_count))
		return false;
	/* A failed try is not repeated until a file changes again (no log storms). */
	if (!force && source->tried_failed &&
	    stamps_equal(before, source->tried, source->path_count)) {
		*failed = true;
		return false;
	}
	memcpy(source->tried, before, stamps_size);
	source->tried_failed = true;
	*failed = true;
	for (size_t i = 0; i < source->path_count; i++) {
		if (!before[i].present) {
			char reason[RELOAD_ERROR_MAX];
			snprintf(reason, sizeof(reason), "%s: missing (%s)", source->paths[i],
			    strerror(ENOENT));
			note_failure(reload, zone, source, reason);
			return false;
		}
	}
	uint64_t started = event_loop_now_ms();
	struct dataset *set = dataset_load_files(source->type, (const char *const *)source->paths,
	    source->path_count, err, sizeof(err));
	if (set == NULL) {
		note_failure(reload, zone, source, err);
		return false;
	}
	for (size_t i = 0; i < source->path_count; i++)
		stamp_file(source->paths[i], &after[i]);
	if (!stamps_equal(before, after, source->path_count)) {
		/* Written while we read it: rbldnsd's "use temp file and rename(2)" case. */
		dataset_free(set);
		note_failure(reload, zone, source, "a data file changed while it was being read "
		    "(write a temporary file and rename it); will try again");
		return false;
	}
	source->tried_failed = false;
	*failed = false;
	memcpy(source->loaded, before, stamps_size);
	zone_data_unref(source->data);
	source->data = zone_data_new(set, source->type);
	log_info("event=dataset_loaded zone=%s type=%s file=%s files=%zu entries=%zu bytes=%zu "
		 "elapsed_ms=%llu", zone, dataset_type_name(source->type), source->paths[0],
	    source->path_count, dataset_entry_count(set), dataset_memory_bytes(set),
	    (unsigned long long)(event_loop_now_ms() - started));
	pthread_mutex_lock(&reload->lock);
	reload->status.loads++;
	pthread_mutex_unlock(&reload->lock);
	return true;
}

/* publish - build a snapshot of the sources' current data and swap it in */
static bool
publish(struct reload *reload, char *err, size_t err_size)
{
	size_t room = reload->zone_count ? reload->zone_count : 1;
	struct zone_spec *specs = xcalloc(room, sizeof(*specs));
	struct zone_data ***data = xcalloc(room, sizeof(*data));
	struct zone_snapshot *snapshot;

	for (size_t z = 0; z < reload->zone_count; z++) {
		struct zone_state *zone = &reload->zones[z];
		/* two per source: a store-fed one brings an IPv6 half */
		data[z] = xcalloc(zone->source_count ? 2 * zone->source_count : 1,
		    sizeof(*data[z]));
		size_t count = 0;
		for (size_t s = 0; s < zone->source_count; s++) {
			if (zone->sources[s].data != NULL)
				data[z][count++] = zone->sources[s].data;
			if (zone->sources[s].data6 != NULL)
				data[z][count++] = zone->sources[s].data6;
		}
		specs[z].name = zone->name;
		specs[z].data = data[z];
		specs[z].data_count = count;
	}
	reload->defaults.serial = (uint32_t)time(NULL);
	snapshot = zone_snapshot_build(specs, reload->zone_count, &reload->defaults,
	    reload->generation + 1, err, err_size);
	for (size_t z = 0; z < reload->zone_count; z++)
		free(data[z]);
	free(data);
	free(specs);
	if (snapshot == NULL)
		return false;
	reload->generation++;
	zone_snapshot_swap(reload->slot, snapshot);
	for (size_t z = 0; z < zone_snapshot_zone_count(snapshot); z++) {
		size_t entries;
		size_t bytes;
		uint32_t serial;
		zone_snapshot_zone_stats(snapshot, z, &entries, &bytes, &serial);
		log_info("event=zone_ready zone=%s generation=%llu entries=%zu bytes=%zu serial=%u",
		    zone_snapshot_zone_name(snapshot, z), (unsigned long long)reload->generation,
		    entries, bytes, serial);
	}
	pthread_mutex_lock(&reload->lock);
	reload->status.generation = reload->generation;
	reload->status.last_success = (int64_t)time(NULL);
	pthread_mutex_unlock(&reload->lock);
	return true;
}

bool
reload_run_round(struct reload *reload, bool force)
{
	bool changed = false;
	bool any_failed = false;
	char err[RELOAD_ERROR_MAX];

	for (size_t z = 0; z < reload->zone_count; z++) {
		struct zone_state *zone = &reload->zones[z];
		for (size_t s = 0; s < zone->source_count; s++) {
			bool failed;
			if (load_source(reload, zone->name, &zone->sources[s], force, &failed))
				changed = true;
			any_failed |= failed;
		}
	}
	pthread_mutex_lock(&reload->lock);
	reload->status.rounds++;
	if (!any_failed)
		reload->status.last_error[0] = '\0';
	pthread_mutex_unlock(&reload->lock);
	if (!changed)
		return false;
	if (!publish(reload, err, sizeof(err))) {
		log_error("event=snapshot_failed error=\"%s\" detail=\"keeping the served "
			  "snapshot\"", err);
		return false;
	}
	return true;
}

bool
reload_load_initial(struct reload *reload, char *err, size_t err_size)
{
	reload_run_round(reload, true);
	for (size_t z = 0; z < reload->zone_count; z++) {
		for (size_t s = 0; s < reload->zones[z].source_count; s++) {
			if (reload->zones[z].sources[s].data == NULL) {
				pthread_mutex_lock(&reload->lock);
				snprintf(err, err_size, "%s", reload->status.last_error);
				pthread_mutex_unlock(&reload->lock);
				return false;
			}
		}
	}
	if (reload->generation == 0)
		return publish(reload, err, err_size);
	return true;
}

/* ---- the loader thread ----------------------------------------------------------------- */

static void add_watches(struct reload *reload, bool log_failures);

/* drain_fd - empty an eventfd or the inotify queue */
static void
drain_fd(int fd)
{
	char buffer[INOTIFY_BUFFER_SIZE];

	while (read(fd, buffer, sizeof(buffer)) > 0)
		;
}

/* settle - after a file event, wait until the directory is quiet for SETTLE_MS */
static void
settle(struct reload *reload)
{
	uint64_t deadline = event_loop_now_ms() + SETTLE_MAX_MS;
	struct pollfd watch = { .fd = reload->inotify_fd, .events = POLLIN };

	drain_fd(reload->inotify_fd);
	while (event_loop_now_ms() < deadline && poll(&watch, 1, SETTLE_MS) > 0)
		drain_fd(reload->inotify_fd);
}

/* loader_main - wait for an event, a request or the interval; then one round */
static void *
loader_main(void *arg)
{
	struct reload *reload = arg;
	struct pollfd fds[2] = { { .fd = reload->wake_fd, .events = POLLIN },
		{ .fd = reload->inotify_fd, .events = POLLIN } };
	nfds_t count = reload->inotify_fd >= 0 ? 2 : 1;
	int timeout = reload->check_interval_s ? (int)(reload->check_interval_s * MS_PER_SECOND) :
	    -1;
	struct sched_param idle = { .sched_priority = 0 };

	/* Loading runs only on CPU time the workers leave: a reload must not stall answers
	 * when both share a core. */
	int error = pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
	if (error != 0)
		log_debug("event=loader_priority_unchanged error=\"%s\"", strerror(error));

	for (;;) {
		int ready = poll(fds, count, timeout);
		if (ready < 0 && errno != EINTR)
			log_warn("event=loader_poll_failed error=\"%s\"", strerror(errno));
		if (ready > 0 && (fds[0].revents & POLLIN))
			drain_fd(reload->wake_fd);
		if (ready > 0 && count == 2 && (fds[1].revents & POLLIN))
			settle(reload);
		pthread_mutex_lock(&reload->lock);
		bool stopping = reload->stopping;
		bool force = reload->force_requested;
		uint64_t target = reload->requested;
		reload->force_requested = false;
		pthread_mutex_unlock(&reload->lock);
		if (stopping)
			break;
		add_watches(reload, false);
		reload_run_round(reload, force);
		pthread_mutex_lock(&reload->lock);
		reload->completed = target;
		pthread_mutex_unlock(&reload->lock);
		uint64_t one = 1;
		if (write(reload->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("event=loader_notify_failed error=\"%s\"", strerror(errno));
	}
	return NULL;
}

/* add_watches - an inotify watch on the directory of every data file (files are replaced
 * by rename, so the directory is what sees the new version arrive). Called again before
 * every round: a directory that was replaced gets watched anew (the kernel keeps one watch
 * per directory however often it is added). */
static void
add_watches(struct reload *reload, bool log_failures)
{
	if (reload->inotify_fd < 0)
		return;
	for (size_t z = 0; z < reload->zone_count; z++) {
		struct zone_state *zone = &reload->zones[z];
		for (size_t s = 0; s < zone->source_count; s++) {
			for (size_t p = 0; p < zone->sources[s].path_count; p++) {
				char *copy = xstrdup(zone->sources[s].paths[p]);
				const char *directory = dirname(copy);
				if (inotify_add_watch(reload->inotify_fd, directory, INOTIFY_MASK) < 0 &&
				    log_failures)
					log_warn("event=inotify_watch_failed directory=%s error=\"%s\"",
					    directory, strerror(errno));
				free(copy);
			}
		}
	}
}

/* watch_directories - start inotify, or say that only the periodic check is left */
static void
watch_directories(struct reload *reload)
{
	reload->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (reload->inotify_fd < 0) {
		log_warn("event=inotify_unavailable error=\"%s\" detail=\"checking files every "
			 "%u s only\"", strerror(errno), reload->check_interval_s);
		return;
	}
	add_watches(reload, true);
}

bool
reload_start(struct reload *reload, char *err, size_t err_size)
{
	sigset_t all;
	sigset_t previous;

	watch_directories(reload);
	/* The loader takes no signals: the main thread handles SIGHUP and SIGTERM. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &previous);
	int error = pthread_create(&reload->thread, NULL, loader_main, reload);
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	if (error != 0) {
		snprintf(err, err_size, "cannot start the loader thread: %s", strerror(error));
		return false;
	}
	reload->started = true;
	return true;
}

uint64_t
reload_request(struct reload *reload, bool force)
{
	uint64_t ticket;
	uint64_t one = 1;

	pthread_mutex_lock(&reload->lock);
	ticket = ++reload->requested;
	reload->force_requested |= force;
	pthread_mutex_unlock(&reload->lock);
	if (write(reload->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("event=loader_wake_failed error=\"%s\"", strerror(errno));
	return ticket;
}

bool
reload_ticket_done(struct reload *reload, uint64_t ticket)
{
	bool done;

	pthread_mutex_lock(&reload->lock);
	done = reload->completed >= ticket;
	pthread_mutex_unlock(&reload->lock);
	return done;
}

int
reload_notify_fd(const struct reload *reload)
{
	return reload->notify_fd;
}

void
reload_notify_drain(struct reload *reload)
{
	drain_fd(reload->notify_fd);
}

void
reload_get_status(struct reload *reload, struct reload_status *out)
{
	pthread_mutex_lock(&reload->lock);
	*out = reload->status;
	pthread_mutex_unlock(&reload->lock);
}

/* ---- life cycle ------------------------------------------------------------------------ */

struct reload *
reload_new(const struct reload_zone_config *zones, size_t zone_count,
    const struct zone_defaults *defaults, struct zone_snapshot_slot *slot,
    unsigned check_interval_s)
{
	struct reload *reload = xcalloc(1, sizeof(*reload));

	reload->zones = xcalloc(zone_count ? zone_count : 1, sizeof(*reload->zones));
	reload->zone_count = zone_count;
	for (size_t z = 0; z < zone_count; z++) {
		struct zone_state *zone = &reload->zones[z];
		zone->name = xstrdup(zones[z].name);
		zone->source_count = zones[z].dataset_count;
		zone->sources = xcalloc(zone->source_count ? zone->source_count : 1,
		    sizeof(*zone->sources));
		for (size_t s = 0; s < zone->source_count; s++) {
			const struct reload_dataset_config *config = &zones[z].datasets[s];
			struct source *source = &zone->sources[s];
			source->type = config->type;
			source->path_count = config->path_count;
			source->paths = xcalloc(config->path_count ? config->path_count : 1,
			    sizeof(*source->paths));
			for (size_t p = 0; p < config->path_count; p++)
				source->paths[p] = xstrdup(config->paths[p]);
			source->loaded = xcalloc(config->path_count ? config->path_count : 1,
			    sizeof(*source->loaded));
			source->tried = xcalloc(config->path_count ? config->path_count : 1,
			    sizeof(*source->tried));
			source->before = xcalloc(config->path_count ? config->path_count : 1,
			    sizeof(*source->before));
			source->after = xcalloc(config->path_count ? config->path_count : 1,
			    sizeof(*source->after));
			if (config->store != NULL)
				source->feed = store_feed_new(config->store);
		}
	}
	reload->defaults = *defaults;
	reload->slot = slot;
	reload->check_interval_s = check_interval_s;
	reload->inotify_fd = -1;
	reload->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	reload->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (reload->wake_fd < 0 || reload->notify_fd < 0)
		fatal("event=eventfd_failed error=\"%s\"", strerror(errno));
	if (pthread_mutex_init(&reload->lock, NULL) != 0)
		fatal("event=mutex_init_failed");
	return reload;
}

void
reload_stop(struct reload *reload)
{
	uint64_t one = 1;

	if (reload == NULL || !reload->started)
		return;
	pthread_mutex_lock(&reload->lock);
	reload->stopping = true;
	pthread_mutex_unlock(&reload->lock);
	if (write(reload->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("event=loader_wake_failed error=\"%s\"", strerror(errno));
	pthread_join(reload->thread, NULL);
	reload->started = false;
}

void
reload_free(struct reload *reload)
{
	if (reload == NULL)
		return;
	reload_stop(reload);
	for (size_t z = 0; z < reload->zone_count; z++) {
		struct zone_state *zone = &reload->zones[z];
		for (size_t s = 0; s < zone->source_count; s++) {
			struct source *source = &zone->sources[s];
			for (size_t p = 0; p < source->path_count; p++)
				free(source->paths[p]);
			free(source->paths);
			free(source->loaded);
			free(source->tried);
			free(source->before);
			free(source->after);
			zone_data_unref(source->data);
			zone_data_unref(source->data6);
			store_feed_free(source->feed);
		}
		free(zone->sources);
		free(zone->name);
	}
	free(reload->zones);
	if (reload->inotify_fd >= 0)
		close(reload->inotify_fd);
	close(reload->wake_fd);
	close(reload->notify_fd);
	pthread_mutex_destroy(&reload->lock);
	free(reload);
}
