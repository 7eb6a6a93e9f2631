/* receiver.c - placeholder, being written. */
