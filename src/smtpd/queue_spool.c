/* queue_spool.c - the queue directory on disk: areas, ids, synchronous durable stores.
 * Called by the writer and the manager; never decides what to deliver. */
#include "smtpd/queue_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "smtpd/queue_file.h"

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
	[QUEUE_AREA_RECYCLE] = "recycle",
};

/* The names in recycle/ that are free for reuse (a stack: the last one in is warm). */
struct queue_recycle {
	pthread_mutex_t lock;		/* guards what follows */
	size_t count;
	char names[QUEUE_RECYCLE_MAX][QUEUE_ID_MAX];
};

/* recycle_take - pop a free name into name; false when there is none. */
static bool
recycle_take(struct queue_recycle *recycle, char name[QUEUE_ID_MAX])
{
	bool found = false;

	pthread_mutex_lock(&recycle->lock);
	if (recycle->count > 0) {
		recycle->count--;
		memcpy(name, recycle->names[recycle->count], QUEUE_ID_MAX);
		found = true;
	}
	pthread_mutex_unlock(&recycle->lock);
	return found;
}

/* recycle_put - push a name (a valid queue id); false when the stack is full. */
static bool
recycle_put(struct queue_recycle *recycle, const char *name)
{
	bool stored = false;

	pthread_mutex_lock(&recycle->lock);
	if (recycle->count < QUEUE_RECYCLE_MAX) {
		snprintf(recycle->names[recycle->count], QUEUE_ID_MAX, "%s", name);
		recycle->count++;
		stored = true;
	}
	pthread_mutex_unlock(&recycle->lock);
	return stored;
}

/* recycle_has_room - true while another file may move to recycle/. */
static bool
recycle_has_room(struct queue_recycle *recycle)
{
	bool room;

	pthread_mutex_lock(&recycle->lock);
	room = recycle->count < QUEUE_RECYCLE_MAX;
	pthread_mutex_unlock(&recycle->lock);
	return room;
}

/* recycle_adopt - take over what a previous run left in recycle/; unlink the surplus and
 * anything that is not named like a queue file. */
static void
recycle_adopt(struct queue_spool *spool)
{
	int fd = openat(spool->area_fd[QUEUE_AREA_RECYCLE], ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *d;
	DIR *dir;

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (!queue_file_id_valid(d->d_name, strlen(d->d_name)) ||
		    !recycle_put(spool->recycle, d->d_name))
			unlinkat(spool->area_fd[QUEUE_AREA_RECYCLE], d->d_name, 0);
	}
	closedir(dir);
}

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
	spool->recycle = NULL;
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
	spool->recycle = xcalloc(1, sizeof(*spool->recycle));
	pthread_mutex_init(&spool->recycle->lock, NULL);
	recycle_adopt(spool);
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
	if (spool->recycle != NULL) {
		pthread_mutex_destroy(&spool->recycle->lock);
		free(spool->recycle);
		spool->recycle = NULL;
	}
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

/* queue_spool_create - tmp/ID to write: a recycled file when one is free, else a new one. */
int
queue_spool_create(const struct queue_spool *spool, const char *id, off_t *stale_size)
{
	int tmp_fd = spool->area_fd[QUEUE_AREA_TMP];
	char name[QUEUE_ID_MAX];
	struct stat st;
	int fd;

	*stale_size = 0;
	if (recycle_take(spool->recycle, name) &&
	    renameat2(spool->area_fd[QUEUE_AREA_RECYCLE], name, tmp_fd, id,
	    RENAME_NOREPLACE) == 0) {
		fd = openat(tmp_fd, id, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		/* Only a file that nothing else links to may be overwritten: after a crash and
		 * an fsck, a name left behind in recycle/ could share its inode with a queued
		 * message. */
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
			*stale_size = st.st_size;
			return fd;
		}
		if (fd >= 0)
			close(fd);
		unlinkat(tmp_fd, id, 0);
	}
	return openat(tmp_fd, id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, QUEUE_FILE_MODE);
}

/* queue_spool_remove - move a finished file to recycle/, or unlink it when that is full. */
bool
queue_spool_remove(const struct queue_spool *spool, enum queue_area area, const char *id)
{
	int recycle_fd = spool->area_fd[QUEUE_AREA_RECYCLE];

	if (recycle_has_room(spool->recycle) &&
	    renameat(spool->area_fd[area], id, recycle_fd, id) == 0) {
		if (!recycle_put(spool->recycle, id))
			unlinkat(recycle_fd, id, 0);
		return true;
	}
	return unlinkat(spool->area_fd[area], id, 0) == 0;
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
	off_t stale_size, length = (off_t)(envelope_length + message_length);
	int fd;

	fd = queue_spool_create(spool, id, &stale_size);
	if (fd < 0) {
		snprintf(err, err_size, "create tmp/%s: %s", id, strerror(errno));
		return false;
	}
	if (!queue_spool_write_all(fd, envelope, envelope_length) ||
	    !queue_spool_write_all(fd, message, message_length) ||
	    (stale_size > length && ftruncate(fd, length) != 0) || fsync(fd) != 0) {
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
