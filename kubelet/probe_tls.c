/* The GnuTLS client session of an HTTPS probe, over the attempt's non-blocking socket. */
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>

#include "kubelet/probe_internal.h"
#include "lib/dlopen_util.h"

/* Sessions are not among lib/gnutls_dl.h's symbols yet, so this module opens its own table
 * (dlopen_library shares the handle); prefixed names keep them apart from lib's sym_*. */
#define PROBE_TLS_SYMBOLS(X)                       \
	X(gnutls_certificate_allocate_credentials) \
	X(gnutls_certificate_free_credentials)     \
	X(gnutls_credentials_set)                  \
	X(gnutls_deinit)                           \
	X(gnutls_error_is_fatal)                   \
	X(gnutls_handshake)                        \
	X(gnutls_init)                             \
	X(gnutls_record_get_direction)             \
	X(gnutls_record_recv)                      \
	X(gnutls_record_send)                      \
	X(gnutls_set_default_priority)             \
	X(gnutls_strerror)                         \
	X(gnutls_transport_set_int2)

#define PROBE_TLS_POINTER(name) static __typeof__(name) *probe_##name;
#define PROBE_TLS_SYMBOL(name) {#name, &probe_##name},
PROBE_TLS_SYMBOLS(PROBE_TLS_POINTER)
static const struct dlopen_symbol probe_tls_symbols[] = {PROBE_TLS_SYMBOLS(PROBE_TLS_SYMBOL)};
static struct dlopen_library probe_tls_library = {
    .soname = "libgnutls.so.30",
    .package = "libgnutls30",
    .symbols = probe_tls_symbols,
    .symbol_count = sizeof(probe_tls_symbols) / sizeof(probe_tls_symbols[0]),
};

int probe_tls_load(struct ck_error *err)
{
	return dlopen_library(&probe_tls_library, err);
}

/* Like the kubelet (InsecureSkipVerify), the server's certificate is not checked: a probe
 * asks whether the endpoint answers, and pods' certificates rarely name their IP. */
int probe_tls_open(struct probe_attempt *a, struct ck_error *err)
{
	int rc;

	if (probe_tls_load(err) < 0)
		return -err->code;
	rc = probe_gnutls_certificate_allocate_credentials(&a->tls_credentials);
	if (rc < 0) {
		a->tls_credentials = NULL;
		return ck_error_set(err, EIO, "tls: %s", probe_gnutls_strerror(rc));
	}
	rc = probe_gnutls_init(&a->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (rc < 0) {
		a->tls = NULL;
		return ck_error_set(err, EIO, "tls: %s", probe_gnutls_strerror(rc));
	}
	rc = probe_gnutls_set_default_priority(a->tls);
	if (rc >= 0)
		rc = probe_gnutls_credentials_set(a->tls, GNUTLS_CRD_CERTIFICATE,
						  a->tls_credentials);
	if (rc < 0)
		return ck_error_set(err, EIO, "tls: %s", probe_gnutls_strerror(rc));
	probe_gnutls_transport_set_int2(a->tls, a->fd, a->fd);
	return 0;
}

void probe_tls_close(struct probe_attempt *a)
{
	if (a->tls)
		probe_gnutls_deinit(a->tls);
	a->tls = NULL;
	if (a->tls_credentials)
		probe_gnutls_certificate_free_credentials(a->tls_credentials);
	a->tls_credentials = NULL;
}

/* A GnuTLS return value as probe_socket_send() returns: >= 0 as it is, -EAGAIN with what the
 * session waits for, else -EIO with `text`. */
static ssize_t tls_outcome(struct probe_attempt *a, ssize_t rc, uint32_t *events, char text[128])
{
	if (rc >= 0)
		return rc;
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		*events = probe_gnutls_record_get_direction(a->tls) ? EPOLLOUT : EPOLLIN;
		return -EAGAIN;
	}
	snprintf(text, 128, "tls: %s", probe_gnutls_strerror((int)rc));
	return -EIO;
}

int probe_tls_handshake(struct probe_attempt *a, uint32_t *events, char text[128])
{
	int rc;

	do
		rc = probe_gnutls_handshake(a->tls);
	while (rc < 0 && !probe_gnutls_error_is_fatal(rc) && rc != GNUTLS_E_AGAIN &&
	       rc != GNUTLS_E_INTERRUPTED);
	return (int)tls_outcome(a, rc, events, text);
}

ssize_t probe_tls_send(struct probe_attempt *a, const char *data, size_t len, uint32_t *events,
		       char text[128])
{
	return tls_outcome(a, probe_gnutls_record_send(a->tls, data, len), events, text);
}

ssize_t probe_tls_recv(struct probe_attempt *a, char *data, size_t len, uint32_t *events,
		       char text[128])
{
	ssize_t n = probe_gnutls_record_recv(a->tls, data, len);

	/* Servers often close without close_notify; with Connection: close that is the end of
	 * the answer. */
	if (n == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	return tls_outcome(a, n, events, text);
}
