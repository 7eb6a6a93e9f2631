/* software.c - placeholder, being written. */
