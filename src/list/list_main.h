/* list_main.h - entry point of `relayguard list`: the DNSBL listings of a relayguard store
 * (add, remove, show, export, import, sync, recheck; relayguard-list(1)). Called by main.c. */
#ifndef RELAYGUARD_LIST_MAIN_H
#define RELAYGUARD_LIST_MAIN_H

#include <stdbool.h>
#include <stdint.h>

/* list_main - run `relayguard list` with argv[0] == "list"; returns the exit status: 0 done,
 * 1 nothing to do (not listed, nothing found), 2 usage or store error. */
int list_main(int argc, char **argv);

/* list_duration_parse - "90", "45s", "30m", "12h", "7d", "2w" in seconds; "never" is 0 when
 * never_ok. False for anything else. */
bool list_duration_parse(const char *text, bool never_ok, int64_t *seconds);

#endif
