/* test_hostport.c - placeholder, being written. */
int main(void) { return 0; }
