/* main.c - the relayguard executable: dispatches to one subcommand.
 * Each subcommand lives in its own folder under src/ and owns its options. */
#include <stdio.h>
#include <string.h>

#include "check/check_main.h"
#include "check/receiver_main.h"
#include "dnsbl/dnsbl_main.h"
#include "list/list_main.h"
#include "smtpd/lint_main.h"
#include "smtpd/smtpd_main.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard COMMAND [OPTIONS] ...\n"
	    "\n"
	    "commands:\n"
	    "  check TARGET...   test mail servers for open relaying (see relayguard(1))\n"
	    "  dnsbl [ZONE...]   serve DNS blocklists (see relayguard-dnsbl(8))\n"
	    "  list COMMAND      DNSBL listings: add, remove, show, export, import, sync,\n"
	    "                    recheck (see relayguard-list(1))\n"
	    "  receiver          record --confirm probe arrivals in the store\n"
	    "  smtpd [-c FILE]   relay-safe SMTP server (see relayguard-smtpd(8))\n"
	    "  lint [-c FILE]    audit an smtpd configuration (see relayguard.conf(5))\n"
	    "  version           print the version\n"
	    "  help              print this text\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "check") == 0)
		return check_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "dnsbl") == 0)
		return dnsbl_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return list_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "receiver") == 0)
		return receiver_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "smtpd") == 0)
		return smtpd_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "lint") == 0)
		return lint_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("relayguard %s\n", RELAYGUARD_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "relayguard: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
