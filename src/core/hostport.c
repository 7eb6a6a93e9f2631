/* hostport.c - placeholder, being written. */
