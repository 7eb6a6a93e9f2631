/* battery.c - placeholder, being written. */
