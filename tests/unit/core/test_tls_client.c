/* test_tls_client.c - placeholder, being written. */
int main(void) { return 0; }
