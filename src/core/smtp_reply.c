/* smtp_reply.c - placeholder, being written. */
