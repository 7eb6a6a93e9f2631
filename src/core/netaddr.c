/* netaddr.c - placeholder, being written. */
