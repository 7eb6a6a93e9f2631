/* event_loop.c - placeholder, being written. */
