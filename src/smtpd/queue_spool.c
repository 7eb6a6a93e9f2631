/* queue_spool.c - the queue directory on disk: areas, ids, synchronous durable stores.
 * Called by the writer and the manager; never decides what to deliver. */
#include "smtpd/queue_spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define QUEUE_DIR_MODE 0700
#define QUEUE_FILE_MODE 0600
#define MS_PER_SECOND 1000
#define NS_PER_MS 1000000
#define US_PER_SECOND 1000000
#define NS_PER_US 1000

static const char *const area_names[QUEUE_AREA_COUNT] = {
	[QUEUE_AREA_TMP] = "tmp",
	[QUEUE_AREA_INCOMING] = "incoming",
	[QUEUE_AREA_ACTIVE] = "active",
	[QUEUE_AREA_DEFERRED] = "deferred",
	[QUEUE_AREA_CORRUPT] = "corrupt",
};

/* queue_area_name - the subdirectory name of an area. */
const char *
queue_area_name(enum queue_area area)
{
	if (area < 0 || area >= QUEUE_AREA_COUNT)
		return "?";
	return area_names[area];
}

/* queue_spool_open - create and open the queue directory and its areas. */
bool
queue_spool_open(struct queue_spool *spool, const char *path, char *err, size_t err_size)
{
	spool->root_fd = -1;
	for (int i = 0; i < QUEUE_AREA_COUNT; i++)
		spool->area_fd[i] = -1;
	if (path == NULL || path[0] == '\0') {
		snprintf(err, err_size, "queue_dir is not set");
		return false;
	}
	if (mkdir(path, QUEUE_DIR_MODE) != 0 && errno != EEXIST) {
		snprintf(err, err_size, "mkdir %s: %s", path, strerror(errno));
		return false;
	}
	spool->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (spool->root_fd < 0) {
		snprintf(err, err_size, "open %s: %s", path, strerror(errno));
		return false;
	}
	for (int i = 0; i < QUEUE_AREA_COUNT; i++) {
		if (mkdirat(spool->root_fd, area_names[i], QUEUE_DIR_MODE) != 0 &&
		    errno != EEXIST) {
			snprintf(err, err_size, "mkdir %s/%s: %s", path, area_names[i],
			    strerror(errno));
			queue_spool_close(spool);
			return false;
		}
		spool->area_fd[i] = openat(spool->root_fd, area_names[i],
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (spool->area_fd[i] < 0) {
			snprintf(err, err_size, "open %s/%s: %s", path, area_names[i],
			    strerror(errno));
			queue_spool_close(spool);
			return false;
		}
	}
	/* The areas themselves must survive a crash before anything is acknowledged. */
	if (fsync(spool->root_fd) != 0) {
		snprintf(err, err_size, "fsync %s: %s", path, strerror(errno));
		queue_spool_close(spool);
		return false;
	}
	return true;
}

/* queue_spool_close - close every descriptor of the spool. */
void
queue_spool_close(struct queue_spool *spool)
{
	for (int i = 0; i < QUEUE_AREA_COUNT; i++) {
		if (spool->area_fd[i] >= 0)
			close(spool->area_fd[i]);
		spool->area_fd[i] = -1;
	}
	if (spool->root_fd >= 0)
		close(spool->root_fd);
	spool->root_fd = -1;
}

/* queue_spool_sync_area - fsync an area's directory. */
bool
queue_spool_sync_area(const struct queue_spool *spool, enum queue_area area)
{
	return fsync(spool->area_fd[area]) == 0;
}

/* queue_spool_move - rename a queue file between areas. */
bool
queue_spool_move(const struct queue_spool *spool, const char *id, enum queue_area from,
    enum queue_area to)
{
	return renameat(spool->area_fd[from], id, spool->area_fd[to], id) == 0;
}

/* queue_spool_write_all - write everything, retrying short writes and EINTR. */
bool
queue_spool_write_all(int fd, const char *data, size_t length)
{
	while (length > 0) {
		ssize_t n = write(fd, data, length);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		data += n;
		length -= (size_t)n;
	}
	return true;
}

/* queue_spool_store - the synchronous commit used for messages the manager makes (DSNs). */
bool
queue_spool_store(const struct queue_spool *spool, const char *id, const char *envelope,
    size_t envelope_length, const char *message, size_t message_length, char *err,
    size_t err_size)
{
	int tmp_fd = spool->area_fd[QUEUE_AREA_TMP];
	int fd;

	fd = openat(tmp_fd, id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, QUEUE_FILE_MODE);
	if (fd < 0) {
		snprintf(err, err_size, "create tmp/%s: %s", id, strerror(errno));
		return false;
	}
	if (!queue_spool_write_all(fd, envelope, envelope_length) ||
	    !queue_spool_write_all(fd, message, message_length) || fsync(fd) != 0) {
		snprintf(err, err_size, "write tmp/%s: %s", id, strerror(errno));
		close(fd);
		unlinkat(tmp_fd, id, 0);
		return false;
	}
	if (close(fd) != 0) {
		snprintf(err, err_size, "close tmp/%s: %s", id, strerror(errno));
		unlinkat(tmp_fd, id, 0);
		return false;
	}
	if (!queue_spool_move(spool, id, QUEUE_AREA_TMP, QUEUE_AREA_INCOMING)) {
		snprintf(err, err_size, "rename tmp/%s: %s", id, strerror(errno));
		unlinkat(tmp_fd, id, 0);
		return false;
	}
	if (!queue_spool_sync_area(spool, QUEUE_AREA_INCOMING)) {
		snprintf(err, err_size, "fsync incoming: %s", strerror(errno));
		unlinkat(spool->area_fd[QUEUE_AREA_INCOMING], id, 0);
		return false;
	}
	return true;
}

/* queue_id_generate - time-ordered unique id. */
void
queue_id_generate(char out[QUEUE_ID_MAX])
{
	struct timespec now;
	uint32_t random_bits = 0;
	uint64_t microseconds;

	clock_gettime(CLOCK_REALTIME, &now);
	microseconds = (uint64_t)now.tv_sec * US_PER_SECOND + (uint64_t)now.tv_nsec / NS_PER_US;
	if (getrandom(&random_bits, sizeof(random_bits), 0) != sizeof(random_bits))
		fatal("queue: getrandom failed: %s", strerror(errno));
	snprintf(out, QUEUE_ID_MAX, "%013" PRIX64 "%08" PRIX32, microseconds, random_bits);
}

/* queue_wall_ms - wall clock milliseconds. */
uint64_t
queue_wall_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec * MS_PER_SECOND + (uint64_t)now.tv_nsec / NS_PER_MS;
}
