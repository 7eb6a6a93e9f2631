/* check_options.c - placeholder, being written. */
