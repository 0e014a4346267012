/* Kubernetes' remote-command protocol (`kubectl exec` and `attach`) over WebSocket, as
 * k8s.io/apimachinery/pkg/util/remotecommand and the kubelet's streaming server speak it:
 * every binary message starts with a stream byte (0 stdin, 1 stdout, 2 stderr, 3 the final
 * metav1.Status, 4 terminal resizes as {"Width":w,"Height":h}); v5.channel.k8s.io adds
 * [255, stream] to half-close a stream (kubectl sends [255, 0] at the end of its stdin).
 * v4.channel.k8s.io is what the Python client offers; kubectl 1.30+ settles on v5.
 *
 * How exec flows through ckube:
 * - kubectl: GET /api/v1/namespaces/NS/pods/POD/exec?command=ls&command=%2F&container=C
 *   &stdin=true&stdout=true&stderr=true&tty=false (attach: no command), Upgrade: websocket,
 *   Sec-WebSocket-Protocol: v5.channel.k8s.io, ... Any answer but a 101 makes kubectl 1.30+
 *   retry with SPDY (POST), which ckube refuses after the same checks, so that the user sees
 *   the first refusal's reason; kubectl 1.27-1.29 only speak SPDY.
 * - API server (apiserver/node_exec_proxy.h): checks the pod and its container, asks the
 *   agent first so that a refusal is still an HTTP answer, offering it only the subprotocol
 *   the client chose, then answers the client's upgrade and relays both hops' bytes
 *   unchanged (each side masks as its role requires; node_exec_proxy.h says why that holds).
 * - Agent (kubelet/node_server.h, node_stream.h): the command through the runtime's exec on a
 *   terminal or on pipes; an empty message on the lowest output stream first, as the kubelet
 *   sends it; stream 0 to the process's stdin, [255, 0] closing it; stream 4 resizing the
 *   terminal; output on streams 1 and 2; once the process exited and its output is drained,
 *   remotecommand_status_exit() (or _error() when it could not start) on stream 3, then
 *   close 1000. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/error.h"
#include "lib/websocket.h"

enum remotecommand_protocol {
	REMOTECOMMAND_V4, /* v4.channel.k8s.io */
	REMOTECOMMAND_V5, /* v5.channel.k8s.io: v4 and the close signal */
};

/* The subprotocols spoken, preferred first, NULL-terminated: for the handshakes. Clients'
 * base64 variants are not among them: neither kubectl nor the Python client offers them. */
extern const char *const remotecommand_protocols[];
/* The version a negotiated subprotocol name stands for; -1 for another name. */
int remotecommand_protocol_of(const char *name);

enum remotecommand_stream {
	REMOTECOMMAND_STDIN = 0,
	REMOTECOMMAND_STDOUT = 1,
	REMOTECOMMAND_STDERR = 2,
	REMOTECOMMAND_ERROR = 3, /* the final metav1.Status */
	REMOTECOMMAND_RESIZE = 4,
	REMOTECOMMAND_CLOSE = 255, /* v5: the peer half-closed the stream in `closed` */
};

/* --- messages ------------------------------------------------------------------------------ */

/* Appends one binary frame carrying `len` bytes for `stream` (an empty payload is allowed). */
void remotecommand_encode(struct websocket *ws, enum remotecommand_stream stream, const void *data,
			  size_t len, struct buf *out);
/* Appends v5's close signal for `stream`. */
void remotecommand_encode_close(struct websocket *ws, enum remotecommand_stream stream,
				struct buf *out);

struct remotecommand_message {
	enum remotecommand_stream stream;
	enum remotecommand_stream closed; /* REMOTECOMMAND_CLOSE: the stream the peer closed */
	const uint8_t *data;              /* after the stream byte; points into the message */
	size_t len;
};

/* Splits a received binary message. -EINVAL for an empty message, an unknown stream (255 is
 * one in v4) or a close signal that does not name exactly one known stream. Kubernetes skips
 * such messages and keeps the session, so callers should too. */
int remotecommand_parse(enum remotecommand_protocol protocol, const void *message, size_t len,
			struct remotecommand_message *out, struct ck_error *err);

/* --- terminal size ------------------------------------------------------------------------- */

struct remotecommand_size {
	uint16_t width;
	uint16_t height;
};

/* {"Width":80,"Height":24}, as kubectl sends it on stream 4. */
void remotecommand_resize_json(struct remotecommand_size size, struct buf *out);
/* Reads a resize message as Go's json.Unmarshal into remotecommand.TerminalSize does: keys
 * matched without case, unknown keys and null ignored, a missing one 0, a value that is not an
 * integer from 0 to 65535 -EINVAL. */
int remotecommand_resize_parse(const void *data, size_t len, struct remotecommand_size *out,
			       struct ck_error *err);

/* --- the final status ---------------------------------------------------------------------- */

/* The metav1.Status JSON for stream 3, byte for byte as the kubelet's json.Marshal writes it.
 * Exit code 0: {"metadata":{},"status":"Success"}. 1 to 255: a Failure with reason
 * NonZeroExitCode, the message "command terminated with non-zero exit code: error executing
 * command [sh -c exit 3], exit code 3" and details.causes [{"reason":"ExitCode","message":"3"}],
 * from which kubectl takes its own exit code. `argv` is NULL-terminated. */
void remotecommand_status_exit(int exit_code, const char *const *argv, struct buf *out);
/* A failure that is not the command's exit (it could not start): the kubelet's
 * NewInternalError, which kubectl prints as "error: Internal error occurred: <message>". */
void remotecommand_status_error(const char *message, struct buf *out);

/* Reads a Status from stream 3 as client-go does: Success sets *exit_code 0; NonZeroExitCode
 * sets the code from the ExitCode cause; any other Failure is -EREMOTEIO with the Status'
 * message; anything unreadable -EPROTO ("error stream protocol error: ..."). */
int remotecommand_status_parse(const void *data, size_t len, int *exit_code, struct ck_error *err);

/* --- request options ----------------------------------------------------------------------- */

/* PodExecOptions / PodAttachOptions from the query string. */
struct remotecommand_options {
	char **command; /* NULL-terminated argv once a command was added, else NULL */
	size_t command_count;
	char *container; /* NULL when not given */
	bool use_stdin;
	bool use_stdout;
	bool use_stderr;
	bool tty;
	unsigned given; /* which flags were set: the first value of a repeated one counts */
};

/* Takes one decoded query parameter: `command` (repeated, in order), `container`, `stdin`,
 * `stdout`, `stderr`, `tty`; others are ignored, as Kubernetes does. Flags follow the API
 * server's query conversion: "0" and "false" (any case) are false, any other value true, so
 * the Python client's "True" works. */
void remotecommand_options_add(struct remotecommand_options *options, const char *key,
			       const char *value);
/* Checks what the kubelet checks, after turning stderr off with a tty (the terminal merges it
 * into stdout): at least one of stdin, stdout, stderr; and for exec a command. -EINVAL with
 * Kubernetes' messages. */
int remotecommand_options_check(struct remotecommand_options *options, bool exec,
				struct ck_error *err);
/* Appends the query for the agent's endpoint: each command, then stdin, stdout, stderr and tty
 * as true or false. The container travels in the path. */
void remotecommand_options_query(const struct remotecommand_options *options, struct buf *out);
void remotecommand_options_free(struct remotecommand_options *options);
#define _cleanup_remotecommand_options_ __attribute__((cleanup(remotecommand_options_free)))
