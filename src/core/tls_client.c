/* tls_client.c - OpenSSL contexts and sessions for relayguard's SMTP client.
 * Verification results are recorded for the report; a bad certificate never stops a test. */
#include "core/tls_client.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

SSL_CTX *
tls_client_context_new(char *err, size_t err_size)
{
	SSL_CTX *context = SSL_CTX_new(TLS_client_method());

	if (context == NULL) {
		char reason[256];
		snprintf(err, err_size, "cannot create TLS context: %s",
		    tls_client_last_error(reason, sizeof(reason)));
		return NULL;
	}
	/* Old mail servers still speak TLS 1.0; the report says which version was used. */
	SSL_CTX_set_min_proto_version(context, TLS1_VERSION);
	SSL_CTX_set_security_level(context, 0);
	SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_default_verify_paths(context);
	SSL_CTX_set_mode(context, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return context;
}

/* is_address_text - true when name is an IPv4 or IPv6 address (no SNI for those). */
static int
is_address_text(const char *name)
{
	unsigned char buffer[16];

	return inet_pton(AF_INET, name, buffer) == 1 || inet_pton(AF_INET6, name, buffer) == 1;
}

SSL *
tls_client_session_new(SSL_CTX *context, const char *server_name)
{
	SSL *ssl = SSL_new(context);

	if (ssl == NULL)
		return NULL;
	if (server_name != NULL && server_name[0] != '\0' && !is_address_text(server_name))
		SSL_set_tlsext_host_name(ssl, server_name);
	return ssl;
}

void
tls_client_describe(SSL *ssl, struct tls_description *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->version, sizeof(out->version), "%s", SSL_get_version(ssl));
	const char *cipher = SSL_get_cipher_name(ssl);
	snprintf(out->cipher, sizeof(out->cipher), "%s", cipher ? cipher : "");
	X509 *peer = SSL_get1_peer_certificate(ssl);
	if (peer != NULL) {
		X509_NAME_oneline(X509_get_subject_name(peer), out->peer_subject,
		    (int)sizeof(out->peer_subject));
		X509_free(peer);
	}
	out->verify_result = SSL_get_verify_result(ssl);
}

const char *
tls_client_last_error(char *out, size_t out_size)
{
	unsigned long code = ERR_get_error();

	if (code == 0)
		snprintf(out, out_size, "unknown TLS error");
	else
		ERR_error_string_n(code, out, out_size);
	ERR_clear_error();
	return out;
}
