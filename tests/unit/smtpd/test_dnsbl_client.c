/* placeholder while written */
int main(void) { return 0; }
