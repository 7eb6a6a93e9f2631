/* lint_main.h - `relayguard lint [-c FILE] [-o key=value ...]`: audit an smtpd configuration.
 * Called by main.c only; exits 1 on any fatal problem, 0 otherwise, 2 on usage errors. */
#ifndef RELAYGUARD_SMTPD_LINT_MAIN_H
#define RELAYGUARD_SMTPD_LINT_MAIN_H

/* lint_main - argv[0] is "lint". Returns the exit status. */
int lint_main(int argc, char **argv);

#endif
