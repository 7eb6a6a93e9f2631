/* smtpd_placeholder.c - keeps the smtpd library non-empty while its modules are written.
 * Removed as soon as src/smtpd has a real source file. */
int smtpd_placeholder(void);

int
smtpd_placeholder(void)
{
	return 0;
}
