/* smtp_path.c - placeholder, being written. */
