/* test_receiver.c - placeholder, being written. */
int main(void) { return 0; }
