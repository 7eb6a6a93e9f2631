/* target.c - placeholder, being written. */
