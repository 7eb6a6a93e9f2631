/* report_text.c - placeholder, being written. */
