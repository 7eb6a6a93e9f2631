/* check_main.h - entry point of `relayguard check`. */
#ifndef RELAYGUARD_CHECK_MAIN_H
#define RELAYGUARD_CHECK_MAIN_H

/* check_main - run `relayguard check` with argv[0] == "check"; returns the exit status. */
int check_main(int argc, char **argv);

#endif
