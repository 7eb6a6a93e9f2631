/* test_smtp_path.c - placeholder, being written. */
int main(void) { return 0; }
