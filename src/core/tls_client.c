/* tls_client.c - placeholder, being written. */
