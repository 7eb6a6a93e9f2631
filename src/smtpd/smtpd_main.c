/* smtpd_main.c - `relayguard smtpd`: options, configuration and lint, then the start-up order
 * bind (as root) -> drop privileges -> queue -> workers -> serve, and signals. Exits only at
 * start-up or on SIGTERM/SIGINT; never on anything a client does. */
#include "smtpd/smtpd_main.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/event_loop.h"
#include "core/log.h"
#include "smtpd/config.h"
#include "smtpd/queue.h"
#include "smtpd/server.h"

#define SMTPD_PROBLEMS_MAX 256
#define SMTPD_OVERRIDES_MAX 256
#define SMTPD_LINE_MAX (PATH_MAX + 512)
#define SMTPD_ERR_MAX 1024
#define SMTPD_PROGRAM "relayguard-smtpd"
/* Mode of the queue and Maildir roots when smtpd creates them. */
#define SMTPD_DIRECTORY_MODE 0700

struct smtpd_run {
	struct event_base *base;
	struct smtpd_server *server;
};

/* smtpd_usage - the synopsis. */
static void
smtpd_usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard smtpd [-f] [-c FILE] [-o key=value ...]\n"
	    "  -c FILE        the configuration file ([smtpd] section, see relayguard.conf(5))\n"
	    "  -o key=value   override one key (repeatable), as Postfix's master.cf -o\n"
	    "  -f             stay in the foreground (default: detach)\n"
	    "  -h             this text\n"
	    "The configuration is linted first (relayguard lint); a fatal problem stops the\n"
	    "start. SIGTERM or SIGINT stop it gracefully. See relayguard-smtpd(8).\n");
}

/* smtpd_print_problems - every problem on stderr; true when one is fatal. */
static bool
smtpd_print_problems(const struct smtpd_config *config, const struct config_problem *problems,
    size_t count)
{
	char line[SMTPD_LINE_MAX];
	bool fatal_found = false;

	for (size_t i = 0; i < count && i < SMTPD_PROBLEMS_MAX; i++) {
		if (smtpd_config_problem_format(config, &problems[i], line, sizeof(line)) < 0)
			snprintf(line, sizeof(line), "%s: %s", problems[i].key,
			    problems[i].message);
		fprintf(stderr, "relayguard smtpd: %s\n", line);
		fatal_found = fatal_found || problems[i].fatal;
	}
	return fatal_found;
}

/* smtpd_raise_file_limit - thousands of sessions need thousands of descriptors. */
static void
smtpd_raise_file_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
		return;
	limit.rlim_cur = limit.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
		log_warn("event=setrlimit_failed error=\"%s\"", strerror(errno));
}

/* smtpd_prepare_directory - create a root directory the unprivileged user will write in,
 * owned by that user (only when we create it: an existing one is the operator's). */
static bool
smtpd_prepare_directory(const char *key, const char *path, const struct passwd *user,
    char *err, size_t err_size)
{
	if (path[0] == '\0')
		return true;
	if (mkdir(path, SMTPD_DIRECTORY_MODE) != 0) {
		if (errno == EEXIST)
			return true;
		snprintf(err, err_size, "%s %s: %s", key, path, strerror(errno));
		return false;
	}
	if (user != NULL && chown(path, user->pw_uid, user->pw_gid) != 0) {
		snprintf(err, err_size, "%s %s: chown: %s", key, path, strerror(errno));
		return false;
	}
	return true;
}

/* smtpd_drop_privileges - as root: become config->user (all groups dropped, then gid,
 * then uid, and check that root cannot be regained). A "root" user keeps root, with a
 * warning (tests run as root with their files in root-only directories). */
static bool
smtpd_drop_privileges(const struct smtpd_config *config, char *err, size_t err_size)
{
	const struct passwd *user = NULL;

	if (geteuid() == 0) {
		user = getpwnam(config->user);
		if (user == NULL) {
			snprintf(err, err_size, "user %s: no such user", config->user);
			return false;
		}
	}
	if (config->chroot[0] == '\0' &&
	    (!smtpd_prepare_directory("queue_dir", config->queue_dir, user, err, err_size) ||
	    !smtpd_prepare_directory("maildir", config->maildir, user, err, err_size)))
		return false;
	if (config->chroot[0] != '\0') {
		/* After getpwnam (which reads /etc/passwd) and before giving up root. */
		if (chroot(config->chroot) != 0 || chdir("/") != 0) {
			snprintf(err, err_size, "chroot %.512s: %s", config->chroot,
			    strerror(errno));
			return false;
		}
		log_info("event=chrooted directory=%s", config->chroot);
	}
	if (user == NULL)
		return true;
	if (user->pw_uid == 0) {
		log_warn("event=privileges_kept user=%s reason=\"configured user is root\"",
		    config->user);
		return true;
	}
	gid_t gid = user->pw_gid;
	uid_t uid = user->pw_uid;
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, err_size, "cannot become %s: %s", config->user, strerror(errno));
		return false;
	}
	if (setuid(0) == 0) {
		snprintf(err, err_size, "could regain root after becoming %s", config->user);
		return false;
	}
	log_info("event=privileges_dropped user=%s uid=%u gid=%u", config->user,
	    (unsigned)uid, (unsigned)gid);
	return true;
}

/* strip_root - turn an absolute path inside root into the same path seen from root. */
static void
strip_root(char *path, size_t path_size, const char *root)
{
	size_t length = strlen(root);

	while (length > 1 && root[length - 1] == '/')
		length--;
	if (path[0] == '\0' || strncmp(path, root, length) != 0 || path[length] != '/')
		return;
	memmove(path, path + length, strlen(path + length) + 1);
	(void)path_size;
}

/* smtpd_enter_chroot_paths - chroot: make queue_dir and maildir (checked by lint to lie
 * inside it) ready while they can still be reached, then rewrite them as seen from inside,
 * before the policy and the queue copy them. The chroot itself happens at the privilege
 * drop, after the ports are bound. */
static bool
smtpd_enter_chroot_paths(struct smtpd_config *config, char *err, size_t err_size)
{
	const struct passwd *user = NULL;

	if (geteuid() != 0) {
		snprintf(err, err_size, "chroot %.512s needs root", config->chroot);
		return false;
	}
	user = getpwnam(config->user);
	if (user == NULL) {
		snprintf(err, err_size, "user %s: no such user", config->user);
		return false;
	}
	if (!smtpd_prepare_directory("queue_dir", config->queue_dir, user, err, err_size) ||
	    !smtpd_prepare_directory("maildir", config->maildir, user, err, err_size))
		return false;
	strip_root(config->queue_dir, sizeof(config->queue_dir), config->chroot);
	strip_root(config->maildir, sizeof(config->maildir), config->chroot);
	return true;
}

/* smtpd_detach - the usual daemon dance; stderr is kept when the log goes there. */
static bool
smtpd_detach(bool keep_stderr, char *err, size_t err_size)
{
	pid_t child = fork();

	if (child < 0) {
		snprintf(err, err_size, "fork: %s", strerror(errno));
		return false;
	}
	if (child > 0)
		_exit(0);
	if (setsid() < 0) {
		snprintf(err, err_size, "setsid: %s", strerror(errno));
		return false;
	}
	if (chdir("/") != 0) {
		snprintf(err, err_size, "chdir /: %s", strerror(errno));
		return false;
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0) {
		snprintf(err, err_size, "/dev/null: %s", strerror(errno));
		return false;
	}
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	if (!keep_stderr)
		dup2(null, STDERR_FILENO);
	close(null);
	return true;
}

/* smtpd_on_signal - SIGTERM/SIGINT: stop accepting, let the workers finish, leave the loop. */
static void
smtpd_on_signal(void *arg, int signo)
{
	struct smtpd_run *run = arg;

	log_info("event=signal signal=%d action=stop", signo);
	smtpd_server_stop(run->server);
	event_base_loopexit(run->base, NULL);
}

/* smtpd_on_hangup - SIGHUP: a reload is not implemented yet; say so and go on. */
static void
smtpd_on_hangup(evutil_socket_t signo, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("event=signal signal=%d action=none reason=\"reload not supported yet: "
	    "restart to apply a new configuration\"", (int)signo);
}

/* smtpd_serve - everything after the configuration was accepted. */
static int
smtpd_serve(struct smtpd_config *config, bool foreground)
{
	char err[SMTPD_ERR_MAX] = "";
	struct smtpd_run run;

	signal(SIGPIPE, SIG_IGN);
	smtpd_raise_file_limit();
	if (config->chroot[0] != '\0' && !smtpd_enter_chroot_paths(config, err, sizeof(err))) {
		log_error("event=start_failed reason=\"%s\"", err);
		fprintf(stderr, "relayguard smtpd: %s\n", err);
		return 1;
	}
	run.server = smtpd_server_new(config, err, sizeof(err));
	if (run.server == NULL) {
		log_error("event=start_failed reason=\"%s\"", err);
		fprintf(stderr, "relayguard smtpd: %s\n", err);
		return 1;
	}
	if (!foreground && !smtpd_detach(strcmp(config->log, "syslog") != 0, err, sizeof(err))) {
		log_error("event=start_failed reason=\"%s\"", err);
		smtpd_server_free(run.server);
		return 1;
	}
	if (!smtpd_drop_privileges(config, err, sizeof(err))) {
		log_error("event=start_failed reason=\"%s\"", err);
		fprintf(stderr, "relayguard smtpd: %s\n", err);
		smtpd_server_free(run.server);
		return 1;
	}
	run.base = event_loop_new();
	struct queue *queue = queue_open(run.base, config, err, sizeof(err));
	if (queue == NULL) {
		log_error("event=start_failed reason=\"queue: %s\"", err);
		fprintf(stderr, "relayguard smtpd: queue: %s\n", err);
		smtpd_server_free(run.server);
		event_base_free(run.base);
		return 1;
	}
	struct event_loop_signals *signals = event_loop_stop_on_signals(run.base,
	    smtpd_on_signal, &run);
	struct event *hangup = evsignal_new(run.base, SIGHUP, smtpd_on_hangup, NULL);
	if (hangup == NULL || evsignal_add(hangup, NULL) != 0)
		fatal("event=evsignal_new_failed signal=SIGHUP");
	int status = 0;
	if (!smtpd_server_start(run.server, run.base, queue, err, sizeof(err))) {
		log_error("event=start_failed reason=\"%s\"", err);
		fprintf(stderr, "relayguard smtpd: %s\n", err);
		smtpd_server_stop(run.server);
		status = 1;
	} else {
		event_base_dispatch(run.base);
	}
	smtpd_server_wait(run.server);
	queue_close(queue);
	smtpd_server_free(run.server);
	event_free(hangup);
	event_loop_signals_free(signals);
	event_base_free(run.base);
	log_info("event=stopped status=%d", status);
	return status;
}

/* smtpd_main - options, configuration, lint, then serve. */
int
smtpd_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *overrides[SMTPD_OVERRIDES_MAX];
	size_t override_count = 0;
	const char *path = NULL;
	bool foreground = false;
	int option;

	optind = 1;
	while ((option = getopt_long(argc, argv, "c:o:fh", options, NULL)) != -1) {
		switch (option) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			if (override_count >= SMTPD_OVERRIDES_MAX) {
				fprintf(stderr, "relayguard smtpd: more than %d -o options\n",
				    SMTPD_OVERRIDES_MAX);
				return 2;
			}
			overrides[override_count++] = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'h':
			smtpd_usage(stdout);
			return 0;
		default:
			smtpd_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "relayguard smtpd: unexpected argument '%s'\n", argv[optind]);
		smtpd_usage(stderr);
		return 2;
	}

	struct smtpd_config *config = xcalloc(1, sizeof(*config));
	struct config_problem *problems = xcalloc(SMTPD_PROBLEMS_MAX, sizeof(*problems));
	size_t problem_count = 0;
	bool loaded = smtpd_config_load(path, overrides, override_count, config, problems,
	    SMTPD_PROBLEMS_MAX, &problem_count);
	bool fatal_found = smtpd_print_problems(config, problems, problem_count);
	if (loaded && !fatal_found) {
		problem_count = smtpd_config_lint(config, problems, SMTPD_PROBLEMS_MAX);
		fatal_found = smtpd_print_problems(config, problems, problem_count);
	}
	free(problems);
	if (!loaded || fatal_found) {
		fprintf(stderr, "relayguard smtpd: refusing to start: the configuration has fatal "
		    "problems (see relayguard lint and relayguard.conf(5))\n");
		smtpd_config_free(config);
		free(config);
		return 1;
	}
	log_init(SMTPD_PROGRAM, strcmp(config->log, "syslog") == 0 ? LOG_SINK_SYSLOG :
	    LOG_SINK_STDERR, LOG_LEVEL_INFO);
	int status = smtpd_serve(config, foreground);
	smtpd_config_free(config);
	free(config);
	return status;
}
