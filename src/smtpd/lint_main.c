/* lint_main.c - `relayguard lint [-c FILE] [-o key=value ...]`: load and audit a configuration.
 * Prints one "FILE:LINE: key: message" line per problem on stdout; changes nothing on disk. */
#include "smtpd/lint_main.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "smtpd/config.h"

#define LINT_PROBLEMS_MAX 256
#define LINT_OVERRIDES_MAX 256
#define LINT_LINE_MAX (PATH_MAX + 512)

/* lint_usage - the synopsis. */
static void
lint_usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard lint [-c FILE] [-o key=value ...]\n"
	    "  -c FILE        the configuration file ([smtpd] section); without it only the\n"
	    "                 defaults and the -o overrides are checked\n"
	    "  -o key=value   override one key, as relayguard smtpd -o does\n"
	    "exit status: 0 no fatal problem, 1 fatal problems, 2 usage error\n"
	    "see relayguard.conf(5) for the keys and the lint rules\n");
}

/* print_problems - one line each; returns true when any is fatal. */
static bool
print_problems(const struct smtpd_config *config, const struct config_problem *problems,
    size_t count)
{
	char line[LINT_LINE_MAX];
	bool fatal = false;

	for (size_t i = 0; i < count; i++) {
		if (smtpd_config_problem_format(config, &problems[i], line, sizeof(line)) < 0)
			snprintf(line, sizeof(line), "%s: %s", problems[i].key,
			    problems[i].message);
		printf("%s\n", line);
		fatal = fatal || problems[i].fatal;
	}
	return fatal;
}

/* lint_main - parse options, load, lint, print. */
int
lint_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *overrides[LINT_OVERRIDES_MAX];
	size_t override_count = 0;
	const char *path = NULL;
	int option;

	optind = 1;
	opterr = 0;
	while ((option = getopt_long(argc, argv, "c:o:h", options, NULL)) != -1) {
		switch (option) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			if (override_count >= LINT_OVERRIDES_MAX) {
				fprintf(stderr, "relayguard lint: more than %d -o options\n",
				    LINT_OVERRIDES_MAX);
				return 2;
			}
			overrides[override_count++] = optarg;
			break;
		case 'h':
			lint_usage(stdout);
			return 0;
		default:
			if (optopt != 0)
				fprintf(stderr, "relayguard lint: bad option or missing argument "
				    "'-%c'\n", optopt);
			else
				fprintf(stderr, "relayguard lint: bad option '%s'\n",
				    argv[optind - 1]);
			lint_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "relayguard lint: unexpected argument '%s'\n", argv[optind]);
		lint_usage(stderr);
		return 2;
	}

	struct smtpd_config *config = xmalloc(sizeof(*config));
	struct config_problem *problems = xcalloc(LINT_PROBLEMS_MAX, sizeof(*problems));
	size_t count = 0;
	bool loaded = smtpd_config_load(path, overrides, override_count, config, problems,
	    LINT_PROBLEMS_MAX, &count);
	bool fatal = print_problems(config, problems, count);
	if (loaded) {
		count = smtpd_config_lint(config, problems, LINT_PROBLEMS_MAX);
		fatal = print_problems(config, problems, count) || fatal;
	}
	smtpd_config_free(config);
	free(config);
	free(problems);
	fflush(stdout);
	return loaded && !fatal ? 0 : 1;
}
