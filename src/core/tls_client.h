/* tls_client.h - OpenSSL client side for STARTTLS and implicit TLS.
 * An auditor must talk to broken servers: certificates are recorded, not enforced. */
#ifndef RELAYGUARD_CORE_TLS_CLIENT_H
#define RELAYGUARD_CORE_TLS_CLIENT_H

#include <openssl/ssl.h>
#include <stddef.h>

struct tls_description {
	char version[32];
	char cipher[64];
	char peer_subject[256];
	long verify_result;     /* X509_V_OK when the chain verified against the system store */
};

/* tls_client_context_new - a client context (TLS 1.0+, system CA store for the record);
 * NULL and a message in err on failure. */
SSL_CTX *tls_client_context_new(char *err, size_t err_size);
/* tls_client_session_new - an SSL for one connection; server_name is sent as SNI when it
 * is a host name (not an address). NULL on failure. */
SSL *tls_client_session_new(SSL_CTX *context, const char *server_name);
/* tls_client_describe - protocol, cipher and peer certificate subject of a finished handshake. */
void tls_client_describe(SSL *ssl, struct tls_description *out);
/* tls_client_last_error - the newest OpenSSL error as text (clears the queue). */
const char *tls_client_last_error(char *out, size_t out_size);

#endif
