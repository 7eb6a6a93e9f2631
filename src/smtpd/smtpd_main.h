/* smtpd_main.h - `relayguard smtpd [-c FILE] [-o key=value ...] [-f]`: the relay-safe SMTP
 * daemon's entry point. Called by main.c only; refuses to start on a configuration lint marks
 * fatal. */
#ifndef RELAYGUARD_SMTPD_SMTPD_MAIN_H
#define RELAYGUARD_SMTPD_SMTPD_MAIN_H

/* smtpd_main - argv[0] is "smtpd". Returns the exit status: 0 after a clean stop, 1 when it
 * cannot start (configuration, ports, queue), 2 on usage errors. */
int smtpd_main(int argc, char **argv);

#endif
