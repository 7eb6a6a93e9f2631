/* test_verdict.c - placeholder, being written. */
int main(void) { return 0; }
