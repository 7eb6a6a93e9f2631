/* dnsbl_main.c - placeholder while `relayguard dnsbl` is being written.
 * Replaced by the real command line and [dnsbl] configuration. */
#include <stdio.h>

#include "dnsbl/dnsbl_main.h"

int
dnsbl_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "relayguard dnsbl: not built yet\n");
	return 2;
}
