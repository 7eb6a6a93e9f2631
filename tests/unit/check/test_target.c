/* test_target.c - placeholder, being written. */
int main(void) { return 0; }
