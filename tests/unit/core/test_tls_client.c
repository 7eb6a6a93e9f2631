/* test_tls_client.c - the client TLS context against a real OpenSSL server over a socketpair.
 * The server's key and self-signed certificate are made in memory for each run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/tls_client.h"

/* make_server_context - a TLS server context with a fresh self-signed P-256 certificate. */
static SSL_CTX *
make_server_context(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *certificate = X509_new();
	SSL_CTX *context = SSL_CTX_new(TLS_server_method());

	assert_non_null(key);
	assert_non_null(certificate);
	assert_non_null(context);
	ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1);
	X509_gmtime_adj(X509_getm_notBefore(certificate), 0);
	X509_gmtime_adj(X509_getm_notAfter(certificate), 3600);
	X509_set_pubkey(certificate, key);
	X509_NAME *name = X509_get_subject_name(certificate);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"mx.example.com",
	    -1, -1, 0);
	X509_set_issuer_name(certificate, name);
	assert_true(X509_sign(certificate, key, EVP_sha256()) > 0);
	assert_int_equal(SSL_CTX_use_certificate(context, certificate), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(context, key), 1);
	X509_free(certificate);
	EVP_PKEY_free(key);
	return context;
}

struct server_side {
	SSL_CTX *context;
	int fd;
	int accepted;
	char server_name[256];
};

static void *
serve_one(void *arg)
{
	struct server_side *server = arg;
	SSL *ssl = SSL_new(server->context);

	SSL_set_fd(ssl, server->fd);
	server->accepted = SSL_accept(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	snprintf(server->server_name, sizeof(server->server_name), "%s", name ? name : "");
	if (server->accepted == 1)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	return NULL;
}

/* handshake - run a client handshake against a fresh server; fills description. */
static void
handshake(const char *server_name, struct tls_description *description, char *seen_name,
    size_t seen_size)
{
	char err[256];
	int pair[2];
	struct server_side server = { 0 };
	pthread_t thread;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	server.context = make_server_context();
	server.fd = pair[1];
	assert_int_equal(pthread_create(&thread, NULL, serve_one, &server), 0);

	SSL_CTX *context = tls_client_context_new(err, sizeof(err));
	assert_non_null(context);
	SSL *ssl = tls_client_session_new(context, server_name);
	assert_non_null(ssl);
	SSL_set_fd(ssl, pair[0]);
	assert_int_equal(SSL_connect(ssl), 1);
	tls_client_describe(ssl, description);
	SSL_shutdown(ssl);
	pthread_join(thread, NULL);
	assert_int_equal(server.accepted, 1);
	snprintf(seen_name, seen_size, "%s", server.server_name);
	SSL_free(ssl);
	SSL_CTX_free(context);
	SSL_CTX_free(server.context);
	close(pair[0]);
	close(pair[1]);
}

static void
test_handshake_records_version_cipher_and_subject(void **state)
{
	struct tls_description description;
	char seen[256];

	(void)state;
	handshake("mx.example.com", &description, seen, sizeof(seen));
	assert_string_equal(description.version, "TLSv1.3");
	assert_true(strlen(description.cipher) > 0);
	assert_non_null(strstr(description.peer_subject, "CN=mx.example.com"));
	/* A self-signed certificate is recorded as unverified, never refused. */
	assert_int_not_equal(description.verify_result, X509_V_OK);
}

static void
test_sni_is_sent_for_names_only(void **state)
{
	struct tls_description description;
	char seen[256];

	(void)state;
	handshake("mx.example.com", &description, seen, sizeof(seen));
	assert_string_equal(seen, "mx.example.com");
	handshake("192.0.2.1", &description, seen, sizeof(seen));
	assert_string_equal(seen, "");
	handshake(NULL, &description, seen, sizeof(seen));
	assert_string_equal(seen, "");
}

static void
test_last_error_text_is_never_empty(void **state)
{
	char text[128];

	(void)state;
	assert_true(strlen(tls_client_last_error(text, sizeof(text))) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_records_version_cipher_and_subject),
		cmocka_unit_test(test_sni_is_sent_for_names_only),
		cmocka_unit_test(test_last_error_text_is_never_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
