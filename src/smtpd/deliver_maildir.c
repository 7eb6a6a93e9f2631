/* deliver_maildir.c - the local delivery agent: one message into MAILDIR/DOMAIN/LOCAL/new.
 * Called by the queue manager's thread; writes through tmp/ and fsyncs before reporting OK,
 * and never creates a mailbox for a user that does not exist. */
#include "smtpd/deliver.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/smtp_path.h"
#include "smtpd/queue_spool.h"
#include "smtpd/users.h"

#define MAILDIR_DIR_MODE 0700
#define MAILDIR_FILE_MODE 0600
/* LF-converted output is written in chunks of this size. */
#define MAILDIR_WRITE_CHUNK (64 * 1024)
/* Room for a Maildir file name: time, microseconds, pid, counter, host. */
#define MAILDIR_NAME_MAX 512
#define MAILDIR_HEADER_MAX 1200
#define NS_PER_US 1000

static atomic_uint maildir_counter;

/* deliver_maildir_split - split and check "local@domain" for use as two path components. */
bool
deliver_maildir_split(const char *recipient, char *local, size_t local_size, char *domain,
    size_t domain_size, char *err, size_t err_size)
{
	const char *at = strrchr(recipient, '@');
	size_t local_length, domain_length, out = 0;
	const char *p, *end;

	if (at == NULL || at == recipient) {
		snprintf(err, err_size, "recipient has no local part or no domain");
		return false;
	}
	domain_length = strlen(at + 1);
	if (domain_length == 0 || domain_length >= domain_size ||
	    !smtp_domain_is_valid(at + 1, domain_length)) {
		snprintf(err, err_size, "recipient domain is not a valid domain name");
		return false;
	}
	for (size_t i = 0; i <= domain_length; i++)
		domain[i] = (char)tolower((unsigned char)at[1 + i]);
	p = recipient;
	end = at;
	local_length = (size_t)(end - p);
	if (local_length >= 2 && p[0] == '"' && end[-1] == '"') {
		p++;
		end--;
	}
	while (p < end) {
		char c = *p++;

		if (c == '\\' && p < end && recipient[0] == '"')
			c = *p++;
		if (out + 1 >= local_size) {
			snprintf(err, err_size, "local part too long");
			return false;
		}
		local[out++] = (char)tolower((unsigned char)c);
	}
	local[out] = '\0';
	if (out == 0 || local[0] == '.') {
		snprintf(err, err_size, "local part is empty or starts with a dot");
		return false;
	}
	for (size_t i = 0; i < out; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c == '/' || c < 0x20 || c == 0x7f) {
			snprintf(err, err_size, "local part holds '/' or a control byte");
			return false;
		}
	}
	return true;
}

/* open_or_create_dir - openat a subdirectory, creating it first when create is set. */
static int
open_or_create_dir(int parent_fd, const char *name, bool create)
{
	if (create && mkdirat(parent_fd, name, MAILDIR_DIR_MODE) != 0 && errno != EEXIST)
		return -1;
	return openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* unique_name - "SECONDS.MmicrosPpidQcounter.HOST" (cr.yp.to/proto/maildir.html), with
 * '/' and ':' in the host name escaped as the Maildir convention says. */
static void
unique_name(const char *hostname, char *out, size_t out_size)
{
	struct timespec now;
	char host[256];
	size_t used = 0;

	for (const char *p = hostname; *p != '\0' && used + 5 < sizeof(host); p++) {
		if (*p == '/' || *p == ':') {
			used += (size_t)snprintf(host + used, sizeof(host) - used, "\\%03o",
			    (unsigned)(unsigned char)*p);
		} else {
			host[used++] = *p;
		}
	}
	host[used] = '\0';
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(out, out_size, "%lld.M%06ldP%dQ%u.%s", (long long)now.tv_sec,
	    now.tv_nsec / NS_PER_US, (int)getpid(), atomic_fetch_add(&maildir_counter, 1) + 1,
	    host[0] != '\0' ? host : "localhost");
}

/* write_lf - write message with every CRLF turned into LF. */
static bool
write_lf(int fd, const char *message, size_t length)
{
	char *chunk = xmalloc(MAILDIR_WRITE_CHUNK);
	size_t used = 0;
	bool ok = true;

	for (size_t i = 0; i < length && ok; i++) {
		if (message[i] == '\r' && i + 1 < length && message[i + 1] == '\n')
			continue;
		chunk[used++] = message[i];
		if (used == MAILDIR_WRITE_CHUNK) {
			ok = queue_spool_write_all(fd, chunk, used);
			used = 0;
		}
	}
	if (ok && used > 0)
		ok = queue_spool_write_all(fd, chunk, used);
	free(chunk);
	return ok;
}

/* io_failure - an I/O error is temporary; a full disk or quota says so in the status. */
static void
io_failure(struct deliver_result *result, const char *what, int error)
{
	deliver_result_set(result, DELIVER_TEMPORARY,
	    error == ENOSPC || error == EDQUOT ? "4.2.2" : "4.3.0", "maildir: %s: %s", what,
	    strerror(error));
}

/* write_message - tmp/NAME, fsync, link into new/, unlink tmp/NAME, fsync new/. */
static void
write_message(int mailbox_fd, const char *hostname, const char *header, size_t header_length,
    const char *message, size_t message_length, struct deliver_result *result)
{
	char name[MAILDIR_NAME_MAX];
	int tmp_fd = -1, new_fd = -1, fd = -1;
	int error;

	if ((tmp_fd = open_or_create_dir(mailbox_fd, "tmp", true)) < 0 ||
	    (new_fd = open_or_create_dir(mailbox_fd, "new", true)) < 0) {
		io_failure(result, "open tmp/ or new/", errno);
		goto out;
	}
	if (mkdirat(mailbox_fd, "cur", MAILDIR_DIR_MODE) != 0 && errno != EEXIST) {
		io_failure(result, "mkdir cur/", errno);
		goto out;
	}
	unique_name(hostname, name, sizeof(name));
	fd = openat(tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, MAILDIR_FILE_MODE);
	if (fd < 0) {
		io_failure(result, "create tmp file", errno);
		goto out;
	}
	if (!queue_spool_write_all(fd, header, header_length) ||
	    !write_lf(fd, message, message_length) || fsync(fd) != 0) {
		error = errno;
		close(fd);
		fd = -1;
		unlinkat(tmp_fd, name, 0);
		io_failure(result, "write", error);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		error = errno;
		unlinkat(tmp_fd, name, 0);
		io_failure(result, "close", error);
		goto out;
	}
	fd = -1;
	if (linkat(tmp_fd, name, new_fd, name, 0) != 0) {
		/* Some filesystems have no hard links: rename is as safe here (unique name). */
		if ((errno != EPERM && errno != ENOTSUP) ||
		    renameat(tmp_fd, name, new_fd, name) != 0) {
			error = errno;
			unlinkat(tmp_fd, name, 0);
			io_failure(result, "move into new/", error);
			goto out;
		}
	} else {
		unlinkat(tmp_fd, name, 0);
	}
	if (fsync(new_fd) != 0) {
		io_failure(result, "fsync new/", errno);
		goto out;
	}
	deliver_result_set(result, DELIVER_OK, "2.0.0", "maildir: delivered as new/%s", name);
out:
	if (tmp_fd >= 0)
		close(tmp_fd);
	if (new_fd >= 0)
		close(new_fd);
}

/* deliver_maildir - deliver one recipient's copy into its Maildir. */
void
deliver_maildir(const char *maildir_root, const struct user_table *users,
    const char *hostname, const char *mail_from, const char *recipient,
    const char *message, size_t message_length, struct deliver_result *result)
{
	char local[256], domain[256], reason[128], header[MAILDIR_HEADER_MAX];
	int root_fd = -1, domain_fd = -1, mailbox_fd = -1;
	bool known;
	int n;

	result->remote[0] = '\0';
	if (maildir_root == NULL || maildir_root[0] == '\0') {
		deliver_result_set(result, DELIVER_TEMPORARY, "4.3.5",
		    "maildir: no maildir root is configured");
		return;
	}
	if (!deliver_maildir_split(recipient, local, sizeof(local), domain, sizeof(domain),
	    reason, sizeof(reason))) {
		deliver_result_set(result, DELIVER_PERMANENT, "5.1.3", "maildir: %s", reason);
		return;
	}
	root_fd = open(maildir_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		io_failure(result, "open maildir root", errno);
		return;
	}
	known = strcmp(local, "postmaster") == 0 ||
	    (users != NULL && user_table_find(users, local, domain) != NULL);
	domain_fd = open_or_create_dir(root_fd, domain, known);
	if (domain_fd >= 0)
		mailbox_fd = open_or_create_dir(domain_fd, local, known);
	if (mailbox_fd < 0) {
		if (errno == ENOENT && !known)
			deliver_result_set(result, DELIVER_PERMANENT, "5.1.1",
			    "maildir: no such mailbox %s@%s", local, domain);
		else
			io_failure(result, "open mailbox", errno);
		goto out;
	}
	n = snprintf(header, sizeof(header), "Return-Path: <%s>\nDelivered-To: %s@%s\n",
	    mail_from, local, domain);
	if (n < 0 || (size_t)n >= sizeof(header)) {
		deliver_result_set(result, DELIVER_PERMANENT, "5.1.3",
		    "maildir: addresses too long");
		goto out;
	}
	write_message(mailbox_fd, hostname, header, (size_t)n, message, message_length, result);
out:
	if (mailbox_fd >= 0)
		close(mailbox_fd);
	if (domain_fd >= 0)
		close(domain_fd);
	close(root_fd);
}
