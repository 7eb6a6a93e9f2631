/* test_smtp_reply.c - placeholder, being written. */
int main(void) { return 0; }
