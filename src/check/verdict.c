/* verdict.c - placeholder, being written. */
