/* Internal to kubelet/probe*.c, included by nothing else: their shared attempt and calls. */
#pragma once

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "kubelet/probe.h"
#include "lib/buf.h"
#include "lib/error.h"

/* How far a socket probe has come; a tcpSocket attempt only ever connects. */
enum probe_stage { STAGE_CONNECTING, STAGE_HANDSHAKE, STAGE_SENDING, STAGE_HEADERS, STAGE_BODY };

struct probe_attempt {
	struct loop *loop;
	enum probe_kind kind;
	probe_done_fn done;
	void *ctx;
	/* The deadline; once the outcome is known inside probe_attempt_start, the report that
	 * waits for the loop. */
	struct loop_timer *timer;
	bool starting;
	enum probe_result result;
	char *message;

	/* httpGet and tcpSocket */
	int fd;
	uint32_t watching; /* the events the loop watches fd for; 0: not watched */
	char *address;     /* "10.0.0.5:80", "[fd00::5]:80" */
	char *url;         /* httpGet: "http://10.0.0.5:80/healthz" */
	enum probe_stage stage;
	bool https;
	gnutls_session_t tls; /* once connected */
	gnutls_certificate_credentials_t tls_credentials;
	struct buf request;
	size_t sent;
	struct buf response; /* status line, headers, then the body as it came */
	size_t header_len;   /* of the final response, once complete */
	int status;
	int64_t content_length; /* -1: the body ends at EOF (or with the last chunk) */
	bool chunked;

	/* exec */
	int pidfd;
	int output_fd;
	bool pidfd_watched, output_watched;
	struct buf output;
	char *command; /* quoted, for the timeout message */
};

/* --- probe.c: the attempt's end --------------------------------------------------------------- */

/* Ends the attempt with `message` (taken): everything it does stops, and `done` is called from
 * the loop. The attempt is gone afterwards. */
void probe_finish_with(struct probe_attempt *a, enum probe_result result, char *message);
void probe_finish(struct probe_attempt *a, enum probe_result result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends to `out` what fits below PROBE_MAX_OUTPUT and drops the rest. */
void probe_keep_output(struct buf *out, const char *data, size_t len);

/* --- probe_socket.c: the connection of httpGet and tcpSocket ---------------------------------- */

void probe_tcp_begin(struct probe_attempt *a, const struct probe_spec *spec,
		     const struct probe_target *target);
void probe_tcp_timed_out(struct probe_attempt *a);
/* Fills a->address; 0, or the attempt has ended. */
int probe_resolve_address(struct probe_attempt *a, const struct probe_spec *spec,
			  const struct probe_target *target, struct sockaddr_storage *address,
			  socklen_t *address_len);
/* Connects without blocking; then probe_http_connected() for httpGet, or the verdict. */
void probe_dial(struct probe_attempt *a, const struct sockaddr_storage *address,
		socklen_t address_len);
/* Has the loop call back (probe_http_on_socket) once fd is ready for `events`; false when
 * that failed and the attempt is over. */
bool probe_wait_socket(struct probe_attempt *a, uint32_t events);
/* Through TLS once it is open. >= 0: bytes sent or read (0: end of stream); -EAGAIN with
 * *events to wait for; other: failed, `text` says why. */
ssize_t probe_socket_send(struct probe_attempt *a, const char *data, size_t len, uint32_t *events,
			  char text[128]);
ssize_t probe_socket_recv(struct probe_attempt *a, char *data, size_t len, uint32_t *events,
			  char text[128]);
/* Stops watching and closes the connection, TLS session included. */
void probe_socket_close(struct probe_attempt *a);

/* --- probe_tls.c: the GnuTLS session of scheme HTTPS ------------------------------------------ */

/* Opens GnuTLS (once per process). */
int probe_tls_load(struct ck_error *err);
/* A client session over a->fd. */
int probe_tls_open(struct probe_attempt *a, struct ck_error *err);
void probe_tls_close(struct probe_attempt *a);
/* Return as probe_socket_send() and probe_socket_recv() do. */
int probe_tls_handshake(struct probe_attempt *a, uint32_t *events, char text[128]);
ssize_t probe_tls_send(struct probe_attempt *a, const char *data, size_t len, uint32_t *events,
		       char text[128]);
ssize_t probe_tls_recv(struct probe_attempt *a, char *data, size_t len, uint32_t *events,
		       char text[128]);

/* --- probe_http.c: httpGet -------------------------------------------------------------------- */

void probe_http_begin(struct probe_attempt *a, const struct probe_spec *spec,
		      const struct probe_target *target);
void probe_http_timed_out(struct probe_attempt *a);
void probe_http_connected(struct probe_attempt *a);
void probe_http_on_socket(struct probe_attempt *a);
/* Ends the attempt with Go's url.Error: `Get "http://10.0.0.5:80/": <what went wrong>`. */
void probe_http_fail(struct probe_attempt *a, enum probe_result result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- probe_exec.c: exec ----------------------------------------------------------------------- */

void probe_exec_begin(struct probe_attempt *a, const struct probe_spec *spec,
		      const struct probe_target *target);
void probe_exec_timed_out(struct probe_attempt *a);
/* Stops reading the output and kills a command still running. */
void probe_exec_release(struct probe_attempt *a);
