/* receiver_main.h - entry point of `relayguard receiver` (the --confirm receiver as a
 * long-lived process writing arrivals to the store). Called by main.c only. */
#ifndef RELAYGUARD_CHECK_RECEIVER_MAIN_H
#define RELAYGUARD_CHECK_RECEIVER_MAIN_H

int receiver_main(int argc, char **argv);

#endif
