/* WebSocket (RFC 6455) for both ends of a connection, without I/O: the handshake checks and the
 * frame codec work on strings and buffers, so the same code sits on a libmicrohttpd upgraded
 * connection, a plain socket or a test's byte array.
 *
 * No extensions are negotiated (kubectl and the Python client offer none), so the reserved
 * bits must be zero. Messages are sent as single frames; received ones may be fragmented. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lib/buf.h"
#include "lib/error.h"

/* --- handshake ----------------------------------------------------------------------------- */

#define WEBSOCKET_KEY_SIZE 25    /* 16 random bytes in base64, and the NUL */
#define WEBSOCKET_ACCEPT_SIZE 29 /* a SHA-1 digest in base64, and the NUL */

/* What the handshake reads from an upgrade request; NULL for a missing header. */
struct websocket_request {
	const char *method;
	const char *upgrade;    /* Upgrade */
	const char *connection; /* Connection */
	const char *version;    /* Sec-WebSocket-Version */
	const char *key;        /* Sec-WebSocket-Key */
	const char *protocol;   /* Sec-WebSocket-Protocol */
};

/* True when the request asks for a WebSocket (Upgrade: websocket and Connection: upgrade), as
 * Kubernetes decides it, so that other upgrade requests (SPDY) can be told apart. */
bool websocket_is_upgrade(const struct websocket_request *request);

/* The first of `supported` (NULL-terminated, the caller's preference order) that the
 * comma-separated `offered` list names; NULL when none or when nothing was offered. */
const char *websocket_choose_protocol(const char *offered, const char *const *supported);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)). */
int websocket_accept_key(const char *key, char accept[WEBSOCKET_ACCEPT_SIZE], struct ck_error *err);

struct websocket_accept {
	char accept[WEBSOCKET_ACCEPT_SIZE]; /* the value of Sec-WebSocket-Accept */
	const char *protocol; /* an entry of `protocols` for Sec-WebSocket-Protocol, or NULL */
};

/* Checks an upgrade request for the server side and computes the answer's headers. With
 * `protocols` (NULL-terminated, preferred first) the client must offer one of them.
 * -EINVAL: not a valid WebSocket request (answer 400); -EPROTONOSUPPORT: a version other than
 * 13 (answer 426 with "Sec-WebSocket-Version: 13"); -ENOPROTOOPT: no common subprotocol. */
int websocket_server_handshake(const struct websocket_request *request,
			       const char *const *protocols, struct websocket_accept *out,
			       struct ck_error *err);

/* A fresh Sec-WebSocket-Key for a client: 16 bytes from getrandom() in base64. */
int websocket_client_key(char key[WEBSOCKET_KEY_SIZE], struct ck_error *err);

/* Appends a client's upgrade request head: "GET <target> HTTP/1.1", Host, the upgrade headers,
 * Sec-WebSocket-Protocol listing `protocols` (NULL-terminated; may be NULL) and each of
 * `extra_headers` ("Name: value", NULL-terminated; may be NULL), then the empty line. */
void websocket_client_request(struct buf *out, const char *host, const char *target,
			      const char *key, const char *const *protocols,
			      const char *const *extra_headers);

/* Reads the server's answer head from the first `len` bytes received. Returns 0 while the head
 * is incomplete, else the head's length (frames may follow it in the same bytes) with
 * out_protocol set to the entry of `protocols` the server chose (NULL when it named none).
 * A status other than 101 is -ECONNREFUSED with the status in *out_status (the caller may read
 * a body); a wrong Sec-WebSocket-Accept, missing upgrade headers or a subprotocol that was not
 * offered is -EPROTO; a head beyond 16 KiB is -EMSGSIZE. */
ssize_t websocket_client_response(const char *data, size_t len, const char *key,
				  const char *const *protocols, int *out_status,
				  const char **out_protocol, struct ck_error *err);

/* --- frames -------------------------------------------------------------------------------- */

enum websocket_role {
	WEBSOCKET_SERVER, /* receives masked frames, sends unmasked ones */
	WEBSOCKET_CLIENT, /* the reverse */
};

enum websocket_opcode {
	WEBSOCKET_CONTINUATION = 0x0,
	WEBSOCKET_TEXT = 0x1,
	WEBSOCKET_BINARY = 0x2,
	WEBSOCKET_CLOSE = 0x8,
	WEBSOCKET_PING = 0x9,
	WEBSOCKET_PONG = 0xA,
};

enum {
	WEBSOCKET_CLOSE_NORMAL = 1000,
	WEBSOCKET_CLOSE_GOING_AWAY = 1001,
	WEBSOCKET_CLOSE_PROTOCOL_ERROR = 1002,
	WEBSOCKET_CLOSE_NO_STATUS = 1005, /* never sent: a close frame without a code */
	WEBSOCKET_CLOSE_INVALID_DATA = 1007,
	WEBSOCKET_CLOSE_TOO_BIG = 1009,
	WEBSOCKET_CLOSE_INTERNAL_ERROR = 1011,
};

/* The largest control frame payload; a close reason gets two bytes less. */
#define WEBSOCKET_CONTROL_MAX 125

/* One connection's codec state. Fields below `max_message` are the decoder's own. */
struct websocket {
	enum websocket_role role;
	size_t max_message; /* a longer message fails the connection with 1009 */
	bool close_sent;
	bool close_received;
	uint16_t failed; /* the close code this side failed the connection with, else 0 */

	uint8_t header[14]; /* the current frame's header, as far as it arrived */
	size_t header_len;
	bool in_payload;
	uint8_t opcode;
	bool fin;
	bool masked;
	uint8_t mask[4];
	uint64_t payload_left;
	uint64_t payload_seen; /* of the current frame, for the mask's phase */
	uint8_t control[WEBSOCKET_CONTROL_MAX];
	size_t control_len;
	struct buf message;      /* the data message being assembled, unmasked */
	uint8_t message_opcode;  /* TEXT or BINARY while a message is open, else 0 */
	bool message_handed_out; /* `message` was the last event, to be emptied on the next call */
};

void websocket_init(struct websocket *ws, enum websocket_role role, size_t max_message);
void websocket_free(struct websocket *ws);
#define _cleanup_websocket_ __attribute__((cleanup(websocket_free)))

enum websocket_event_type {
	WEBSOCKET_EVENT_NONE, /* all bytes consumed, no complete message yet */
	WEBSOCKET_EVENT_MESSAGE,
	WEBSOCKET_EVENT_PING, /* the pong is already in `reply` */
	WEBSOCKET_EVENT_PONG,
	WEBSOCKET_EVENT_CLOSE, /* the answering close, if this side had not closed, is in `reply` */
};

struct websocket_event {
	enum websocket_event_type type;
	enum websocket_opcode opcode; /* MESSAGE: TEXT or BINARY */
	/* The message, the ping or pong payload or the close reason; valid until the next call. */
	const uint8_t *data;
	size_t len;
	uint16_t close_code; /* CLOSE: WEBSOCKET_CLOSE_NO_STATUS when the frame carried none */
};

/* Decodes bytes as they arrive. Consumes input up to the end of the first frame that completes
 * an event, or all of it, and returns the count consumed: call again with the rest. Frames to
 * send back (pong, the answering close, the close after a failure) are appended to `reply`.
 * A protocol violation fails the connection: a close frame with 1002 (1009 for an oversized
 * message, 1007 for text that is not UTF-8) goes to `reply`, ws->failed keeps the code and the
 * result is -EPROTO (-EMSGSIZE, -EILSEQ); every later call fails too. Bytes after a received
 * close are consumed and ignored. */
ssize_t websocket_decode(struct websocket *ws, const void *data, size_t len,
			 struct websocket_event *event, struct buf *reply, struct ck_error *err);

/* Appends one unfragmented frame whose payload is the concatenation of `parts`, masked with a
 * fresh getrandom() key in the client role. Control payloads beyond 125 bytes are cut there.
 * Nothing is appended once a close frame was sent, as RFC 6455 forbids. */
void websocket_encode_parts(struct websocket *ws, enum websocket_opcode opcode,
			    const struct iovec *parts, size_t count, struct buf *out);
void websocket_encode(struct websocket *ws, enum websocket_opcode opcode, const void *data,
		      size_t len, struct buf *out);
/* A close frame with `code` and a reason cut to 123 bytes; marks the close as sent. */
void websocket_encode_close(struct websocket *ws, uint16_t code, const char *reason,
			    struct buf *out);
