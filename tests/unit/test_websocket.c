/* RFC 6455 for both roles: the handshake values (the RFC's own key example), the frame examples
 * of section 5.7, fragmentation with control frames in between, byte-by-byte input, every
 * protocol violation with the close code it must send, and the encoder read back by the
 * decoder of the other role. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/websocket.h"

#define MAX_MESSAGE (1 << 20)

/* --- helpers ------------------------------------------------------------------------------- */

static const uint8_t rfc_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a raw frame: `first` is FIN|RSV|opcode; the length uses the shortest encoding. */
static void raw_frame(struct buf *out, uint8_t first, const void *payload, size_t len,
		      const uint8_t *mask)
{
	uint8_t header[14];
	size_t at = 0;
	uint8_t mask_bit = mask ? 0x80 : 0;
	header[at++] = first;
	if (len < 126) {
		header[at++] = mask_bit | (uint8_t)len;
	} else if (len <= 0xFFFF) {
		header[at++] = mask_bit | 126;
		header[at++] = (uint8_t)(len >> 8);
		header[at++] = (uint8_t)len;
	} else {
		header[at++] = mask_bit | 127;
		for (int shift = 56; shift >= 0; shift -= 8)
			header[at++] = (uint8_t)((uint64_t)len >> shift);
	}
	if (mask) {
		memcpy(header + at, mask, 4);
		at += 4;
	}
	buf_append(out, header, at);
	size_t start = out->len;
	buf_append(out, payload, len);
	for (size_t i = 0; mask && i < len; i++)
		out->data[start + i] ^= (char)mask[i & 3];
}

struct recorded {
	enum websocket_event_type type;
	enum websocket_opcode opcode;
	uint16_t close_code;
	struct buf data;
};

struct transcript {
	struct recorded events[16];
	size_t count;
	struct buf reply;
	int error; /* the first failure, else 0 */
	struct ck_error err;
};

static void transcript_free(struct transcript *t)
{
	for (size_t i = 0; i < t->count; i++)
		buf_free(&t->events[i].data);
	buf_free(&t->reply);
}

/* Feeds `len` bytes in pieces of `chunk` (0: all at once), recording every event and copying
 * its data (which lives only until the next call). Stops at the first failure. */
static void feed(struct websocket *ws, const void *data, size_t len, size_t chunk,
		 struct transcript *t)
{
	const uint8_t *p = data;
	size_t pos = 0;
	while (pos < len) {
		size_t piece = chunk && chunk < len - pos ? chunk : len - pos;
		size_t used = 0;
		do {
			struct websocket_event ev;
			ssize_t n = websocket_decode(ws, p + pos + used, piece - used, &ev,
						     &t->reply, &t->err);
			if (n < 0) {
				t->error = (int)n;
				return;
			}
			used += (size_t)n;
			if (ev.type == WEBSOCKET_EVENT_NONE)
				continue;
			assert_true(t->count < 16);
			struct recorded *r = &t->events[t->count++];
			*r = (struct recorded){
			    .type = ev.type, .opcode = ev.opcode, .close_code = ev.close_code};
			buf_append(&r->data, ev.data ? ev.data : (const uint8_t *)"", ev.len);
		} while (used < piece);
		pos += piece;
	}
}

static void assert_event(const struct transcript *t, size_t i, enum websocket_event_type type,
			 const char *data, size_t len)
{
	assert_true(i < t->count);
	assert_int_equal(t->events[i].type, type);
	assert_int_equal(t->events[i].data.len, len);
	if (len)
		assert_memory_equal(t->events[i].data.data, data, len);
}

/* A server-role connection fails with `code` and `errno_code` on `frames`. */
static void assert_server_fails(const struct buf *frames, size_t max, uint16_t code, int errno_code,
				const char *message)
{
	for (size_t chunk = 0; chunk <= 1; chunk++) {
		_cleanup_websocket_ struct websocket ws;
		websocket_init(&ws, WEBSOCKET_SERVER, max);
		struct transcript t = {0};
		feed(&ws, frames->data, frames->len, chunk, &t);
		assert_int_equal(t.error, -errno_code);
		assert_string_equal(t.err.message, message);
		assert_int_equal(ws.failed, code);
		/* The close frame with the code went out, unmasked, with the message as reason. */
		assert_true(t.reply.len >= 4);
		assert_int_equal((uint8_t)t.reply.data[0], 0x88);
		assert_int_equal((uint8_t)t.reply.data[2], code >> 8);
		assert_int_equal((uint8_t)t.reply.data[3], code & 0xFF);
		assert_true(ws.close_sent);
		/* The connection stays failed. */
		struct websocket_event ev;
		assert_int_equal(websocket_decode(&ws, "\x81\x80", 2, &ev, NULL, NULL), -EPROTO);
		transcript_free(&t);
	}
}

/* --- handshake ----------------------------------------------------------------------------- */

static void test_accept_key_rfc_example(void **state)
{
	(void)state;
	char accept[WEBSOCKET_ACCEPT_SIZE];
	assert_int_equal(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept, NULL), 0);
	assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static const char *const k8s_protocols[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};

static struct websocket_request good_request(void)
{
	return (struct websocket_request){
	    .method = "GET",
	    .upgrade = "websocket",
	    .connection = "Upgrade",
	    .version = "13",
	    .key = "dGhlIHNhbXBsZSBub25jZQ==",
	    .protocol = "v4.channel.k8s.io, v5.channel.k8s.io",
	};
}

static void test_server_handshake(void **state)
{
	(void)state;
	struct websocket_request req = good_request();
	struct websocket_accept out;
	struct ck_error err = {0};
	assert_int_equal(websocket_server_handshake(&req, k8s_protocols, &out, &err), 0);
	assert_string_equal(out.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* The caller's preference wins over the client's order. */
	assert_ptr_equal(out.protocol, k8s_protocols[0]);

	req.protocol = "v4.channel.k8s.io"; /* the Python client */
	req.upgrade = "WebSocket";
	req.connection = "keep-alive, upgrade";
	assert_int_equal(websocket_server_handshake(&req, k8s_protocols, &out, &err), 0);
	assert_string_equal(out.protocol, "v4.channel.k8s.io");

	/* Without a list of subprotocols any request is fine, and none is named. */
	req.protocol = NULL;
	assert_int_equal(websocket_server_handshake(&req, NULL, &out, &err), 0);
	assert_null(out.protocol);
}

static void assert_handshake_refused(const struct websocket_request *req, int code,
				     const char *message)
{
	struct websocket_accept out;
	struct ck_error err = {0};
	assert_int_equal(websocket_server_handshake(req, k8s_protocols, &out, &err), -code);
	assert_string_equal(err.message, message);
}

static void test_server_handshake_refusals(void **state)
{
	(void)state;
	struct websocket_request req = good_request();
	req.method = "POST";
	assert_handshake_refused(&req, EINVAL, "a WebSocket upgrade must be a GET, not POST");

	req = good_request();
	req.upgrade = "SPDY/3.1";
	assert_false(websocket_is_upgrade(&req));
	assert_handshake_refused(
	    &req, EINVAL,
	    "not a WebSocket upgrade (Upgrade: websocket and Connection: Upgrade are required)");
	req = good_request();
	req.connection = "keep-alive";
	assert_handshake_refused(
	    &req, EINVAL,
	    "not a WebSocket upgrade (Upgrade: websocket and Connection: Upgrade are required)");

	req = good_request();
	req.version = "8";
	assert_handshake_refused(&req, EPROTONOSUPPORT,
				 "unsupported WebSocket version \"8\" (only 13 is)");
	req.version = NULL;
	assert_handshake_refused(&req, EPROTONOSUPPORT,
				 "unsupported WebSocket version \"\" (only 13 is)");

	req = good_request();
	req.key = "c2hvcnQ="; /* "short": not 16 bytes */
	assert_handshake_refused(&req, EINVAL,
				 "Sec-WebSocket-Key \"c2hvcnQ=\" is not 16 bytes in base64");
	req.key = "not base64 at all!!!!!==";
	assert_handshake_refused(
	    &req, EINVAL,
	    "Sec-WebSocket-Key \"not base64 at all!!!!!==\" is not 16 bytes in base64");

	req = good_request();
	req.protocol = "base64.channel.k8s.io, v3.channel.k8s.io";
	assert_handshake_refused(
	    &req, ENOPROTOOPT,
	    "none of the offered WebSocket subprotocols (base64.channel.k8s.io, "
	    "v3.channel.k8s.io) is supported (v5.channel.k8s.io, "
	    "v4.channel.k8s.io)");
	req.protocol = NULL;
	assert_handshake_refused(&req, ENOPROTOOPT,
				 "the WebSocket request offers no subprotocol (supported: "
				 "v5.channel.k8s.io, v4.channel.k8s.io)");
}

static void test_choose_protocol(void **state)
{
	(void)state;
	assert_string_equal(
	    websocket_choose_protocol(" v4.channel.k8s.io ,\tv5.channel.k8s.io\t", k8s_protocols),
	    "v5.channel.k8s.io");
	assert_string_equal(websocket_choose_protocol("x,,v4.channel.k8s.io", k8s_protocols),
			    "v4.channel.k8s.io");
	/* Tokens match whole and with their case (RFC 6455 4.1). */
	assert_null(websocket_choose_protocol("v4.channel.k8s.io.x", k8s_protocols));
	assert_null(websocket_choose_protocol("V4.channel.k8s.io", k8s_protocols));
	assert_null(websocket_choose_protocol("4.channel.k8s.io", k8s_protocols));
	assert_null(websocket_choose_protocol("", k8s_protocols));
	assert_null(websocket_choose_protocol(NULL, k8s_protocols));
	assert_null(websocket_choose_protocol("v4.channel.k8s.io", NULL));
}

static void test_client_key(void **state)
{
	(void)state;
	char a[WEBSOCKET_KEY_SIZE], b[WEBSOCKET_KEY_SIZE];
	assert_int_equal(websocket_client_key(a, NULL), 0);
	assert_int_equal(websocket_client_key(b, NULL), 0);
	assert_int_equal(strlen(a), 24);
	assert_string_not_equal(a, b);
	_cleanup_buf_ struct buf nonce = {0};
	assert_int_equal(base64_decode(a, strlen(a), &nonce, NULL), 0);
	assert_int_equal(nonce.len, 16);
	/* What the client sends, a server takes. */
	struct websocket_request req = good_request();
	req.key = a;
	struct websocket_accept out;
	assert_int_equal(websocket_server_handshake(&req, k8s_protocols, &out, NULL), 0);
}

static void test_client_request(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf out = {0};
	const char *const protocols[] = {"v4.channel.k8s.io", NULL};
	const char *const extra[] = {"Authorization: Bearer secret", NULL};
	websocket_client_request(&out, "10.0.0.2:10250", "/exec/default/web/nginx?command=ls",
				 "dGhlIHNhbXBsZSBub25jZQ==", protocols, extra);
	assert_string_equal(out.data, "GET /exec/default/web/nginx?command=ls HTTP/1.1\r\n"
				      "Host: 10.0.0.2:10250\r\n"
				      "Upgrade: websocket\r\n"
				      "Connection: Upgrade\r\n"
				      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				      "Sec-WebSocket-Version: 13\r\n"
				      "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n"
				      "Authorization: Bearer secret\r\n"
				      "\r\n");
	buf_reset(&out);
	websocket_client_request(&out, "h", "/", "k", NULL, NULL);
	assert_string_equal(out.data, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
				      "Connection: Upgrade\r\nSec-WebSocket-Key: k\r\n"
				      "Sec-WebSocket-Version: 13\r\n\r\n");
}

static const char rfc_key[] = "dGhlIHNhbXBsZSBub25jZQ==";

static ssize_t client_response(const char *text, int *status, const char **protocol,
			       struct ck_error *err)
{
	return websocket_client_response(text, strlen(text), rfc_key, k8s_protocols, status,
					 protocol, err);
}

static void test_client_response(void **state)
{
	(void)state;
	const char head[] = "HTTP/1.1 101 Switching Protocols\r\n"
			    "upgrade: WebSocket\r\n"
			    "Connection: Upgrade\r\n"
			    "Sec-WebSocket-Accept:   s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  \r\n"
			    "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n"
			    "\r\n";
	_cleanup_buf_ struct buf bytes = {0};
	buf_puts(&bytes, head);
	buf_append(&bytes, "\x82\x02\x01x", 4); /* a frame right behind the head */
	int status = 0;
	const char *protocol = NULL;
	struct ck_error err = {0};
	assert_int_equal(websocket_client_response(bytes.data, bytes.len, rfc_key, k8s_protocols,
						   &status, &protocol, &err),
			 (ssize_t)strlen(head));
	assert_int_equal(status, 101);
	assert_ptr_equal(protocol, k8s_protocols[1]);

	/* Incomplete, byte by byte. */
	for (size_t len = 0; len < strlen(head); len++)
		assert_int_equal(websocket_client_response(head, len, rfc_key, k8s_protocols,
							   &status, &protocol, &err),
				 0);

	/* No subprotocol named: none is in use. */
	const char *plain = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
			    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	assert_int_equal(client_response(plain, &status, &protocol, &err), (ssize_t)strlen(plain));
	assert_null(protocol);
}

static void assert_response_refused(const char *text, int code, const char *message)
{
	int status = 0;
	const char *protocol = NULL;
	struct ck_error err = {0};
	assert_int_equal(client_response(text, &status, &protocol, &err), -code);
	assert_string_equal(err.message, message);
}

static void test_client_response_refusals(void **state)
{
	(void)state;
	int status = 0;
	const char *protocol;
	struct ck_error err = {0};
	assert_int_equal(client_response("HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n{}",
					 &status, &protocol, &err),
			 -ECONNREFUSED);
	assert_int_equal(status, 403);
	assert_string_equal(err.message,
			    "the server answered 403 Forbidden instead of switching to WebSocket");
	assert_response_refused("HTTP/1.0 400\r\n\r\n", ECONNREFUSED,
				"the server answered 400 instead of switching to WebSocket");
	assert_response_refused("SSH-2.0-OpenSSH\r\n\r\n", EPROTO,
				"not an HTTP response: \"SSH-2.0-OpenSSH\"");
	assert_response_refused("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: "
				"upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n",
				EPROTO,
				"Sec-WebSocket-Accept \"AAAA\" should be "
				"\"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\"");
	assert_response_refused("HTTP/1.1 101 OK\r\nConnection: upgrade\r\nSec-WebSocket-Accept: "
				"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
				EPROTO,
				"the 101 answer lacks Upgrade: websocket or Connection: Upgrade");
	assert_response_refused("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: "
				"upgrade\r\nSec-WebSocket-Accept: "
				"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: "
				"v3.channel.k8s.io\r\n\r\n",
				EPROTO,
				"the server chose subprotocol \"v3.channel.k8s.io\", which was "
				"not offered");
	assert_response_refused("HTTP/1.1 101 OK\r\nno colon here\r\n\r\n", EPROTO,
				"malformed header line \"no colon here\"");

	_cleanup_buf_ struct buf huge = {0};
	buf_puts(&huge, "HTTP/1.1 101 OK\r\n");
	while (huge.len <= 16384)
		buf_puts(&huge, "X-Padding: 0123456789012345678901234567890123456789\r\n");
	assert_int_equal(websocket_client_response(huge.data, huge.len, rfc_key, k8s_protocols,
						   &status, &protocol, &err),
			 -EMSGSIZE);
}

/* --- RFC 6455 5.7 examples ------------------------------------------------------------------ */

static const uint8_t hello_unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
				       0x7f, 0x9f, 0x4d, 0x51, 0x58};

static void test_rfc_examples_decode(void **state)
{
	(void)state;
	for (size_t chunk = 0; chunk <= 1; chunk++) {
		/* A single-frame unmasked text message, as a client receives it. */
		_cleanup_websocket_ struct websocket client;
		websocket_init(&client, WEBSOCKET_CLIENT, MAX_MESSAGE);
		struct transcript t = {0};
		feed(&client, hello_unmasked, sizeof(hello_unmasked), chunk, &t);
		assert_int_equal(t.error, 0);
		assert_int_equal(t.count, 1);
		assert_event(&t, 0, WEBSOCKET_EVENT_MESSAGE, "Hello", 5);
		assert_int_equal(t.events[0].opcode, WEBSOCKET_TEXT);

		/* A fragmented unmasked text message. */
		static const uint8_t fragments[] = {0x01, 0x03, 0x48, 0x65, 0x6c,
						    0x80, 0x02, 0x6c, 0x6f};
		feed(&client, fragments, sizeof(fragments), chunk, &t);
		assert_int_equal(t.count, 2);
		assert_event(&t, 1, WEBSOCKET_EVENT_MESSAGE, "Hello", 5);

		/* An unmasked ping: the pong goes out masked, with the same payload. */
		static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
		feed(&client, ping, sizeof(ping), chunk, &t);
		assert_int_equal(t.count, 3);
		assert_event(&t, 2, WEBSOCKET_EVENT_PING, "Hello", 5);
		assert_int_equal(t.reply.len, 11);
		assert_int_equal((uint8_t)t.reply.data[0], 0x8a);
		assert_int_equal((uint8_t)t.reply.data[1], 0x85);
		for (size_t i = 0; i < 5; i++)
			assert_int_equal(t.reply.data[6 + i] ^ t.reply.data[2 + (i & 3)],
					 "Hello"[i]);
		transcript_free(&t);

		/* The masked ones, as a server receives them. */
		_cleanup_websocket_ struct websocket server;
		websocket_init(&server, WEBSOCKET_SERVER, MAX_MESSAGE);
		struct transcript s = {0};
		feed(&server, hello_masked, sizeof(hello_masked), chunk, &s);
		static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
					       0x7f, 0x9f, 0x4d, 0x51, 0x58};
		feed(&server, pong, sizeof(pong), chunk, &s);
		assert_int_equal(s.error, 0);
		assert_int_equal(s.count, 2);
		assert_event(&s, 0, WEBSOCKET_EVENT_MESSAGE, "Hello", 5);
		assert_event(&s, 1, WEBSOCKET_EVENT_PONG, "Hello", 5);
		assert_int_equal(s.reply.len, 0);
		transcript_free(&s);
	}
}

static void test_rfc_examples_lengths(void **state)
{
	(void)state;
	/* 256 bytes: a 16-bit length; 64 KiB: a 64-bit one. */
	static const size_t sizes[] = {256, 65536};
	static const uint8_t headers[][10] = {
	    {0x82, 0x7E, 0x01, 0x00},
	    {0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00},
	};
	static const size_t header_lens[] = {4, 10};
	for (size_t k = 0; k < 2; k++) {
		_cleanup_free_ uint8_t *payload = malloc(sizes[k]);
		for (size_t i = 0; i < sizes[k]; i++)
			payload[i] = (uint8_t)(i * 7);
		_cleanup_websocket_ struct websocket server;
		websocket_init(&server, WEBSOCKET_SERVER, MAX_MESSAGE);
		_cleanup_buf_ struct buf frame = {0};
		websocket_encode(&server, WEBSOCKET_BINARY, payload, sizes[k], &frame);
		assert_int_equal(frame.len, header_lens[k] + sizes[k]);
		assert_memory_equal(frame.data, headers[k], header_lens[k]);
		assert_memory_equal(frame.data + header_lens[k], payload, sizes[k]);

		_cleanup_websocket_ struct websocket client;
		websocket_init(&client, WEBSOCKET_CLIENT, MAX_MESSAGE);
		struct transcript t = {0};
		feed(&client, frame.data, frame.len, 1000, &t);
		assert_int_equal(t.count, 1);
		assert_event(&t, 0, WEBSOCKET_EVENT_MESSAGE, (const char *)payload, sizes[k]);
		assert_int_equal(t.events[0].opcode, WEBSOCKET_BINARY);
		transcript_free(&t);
	}
}

static void test_encode_server_frames(void **state)
{
	(void)state;
	_cleanup_websocket_ struct websocket server;
	websocket_init(&server, WEBSOCKET_SERVER, MAX_MESSAGE);
	_cleanup_buf_ struct buf out = {0};
	websocket_encode(&server, WEBSOCKET_TEXT, "Hello", 5, &out);
	assert_int_equal(out.len, sizeof(hello_unmasked));
	assert_memory_equal(out.data, hello_unmasked, sizeof(hello_unmasked));

	/* Parts are concatenated; an empty message is two bytes. */
	buf_reset(&out);
	struct iovec parts[] = {{"\x01", 1}, {NULL, 0}, {"hi", 2}};
	websocket_encode_parts(&server, WEBSOCKET_BINARY, parts, 3, &out);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data, "\x82\x03\x01hi", 5);
	buf_reset(&out);
	websocket_encode(&server, WEBSOCKET_BINARY, NULL, 0, &out);
	assert_int_equal(out.len, 2);
	assert_memory_equal(out.data, "\x82\x00", 2);

	/* Control payloads stop at 125 bytes. */
	char big[200];
	memset(big, 'p', sizeof(big));
	buf_reset(&out);
	websocket_encode(&server, WEBSOCKET_PING, big, sizeof(big), &out);
	assert_int_equal(out.len, 127);
	assert_int_equal((uint8_t)out.data[1], 125);
}

static void test_encode_client_frames_masked(void **state)
{
	(void)state;
	_cleanup_websocket_ struct websocket client;
	websocket_init(&client, WEBSOCKET_CLIENT, MAX_MESSAGE);
	_cleanup_websocket_ struct websocket server;
	websocket_init(&server, WEBSOCKET_SERVER, MAX_MESSAGE);
	static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 70000};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		_cleanup_free_ char *payload = malloc(sizes[k] + 1);
		for (size_t i = 0; i < sizes[k]; i++)
			payload[i] = (char)(i % 251);
		_cleanup_buf_ struct buf frame = {0};
		websocket_encode(&client, WEBSOCKET_BINARY, payload, sizes[k], &frame);
		assert_true(((uint8_t)frame.data[1] & 0x80) != 0); /* the mask bit */
		struct transcript t = {0};
		feed(&server, frame.data, frame.len, 4093, &t);
		assert_int_equal(t.error, 0);
		assert_int_equal(t.count, 1);
		assert_event(&t, 0, WEBSOCKET_EVENT_MESSAGE, payload, sizes[k]);
		transcript_free(&t);
	}
	/* Every frame gets its own key. */
	_cleanup_buf_ struct buf a = {0}, b = {0};
	websocket_encode(&client, WEBSOCKET_TEXT, "same", 4, &a);
	websocket_encode(&client, WEBSOCKET_TEXT, "same", 4, &b);
	assert_memory_not_equal(a.data + 2, b.data + 2, 8);
}

/* --- streams of frames --------------------------------------------------------------------- */

/* A fragmented binary message with a ping and a pong between its parts, a text message, a
 * 300-byte message and a close, all in one buffer. */
static void build_session(struct buf *in)
{
	raw_frame(in, 0x02, "ab", 2, rfc_mask);
	raw_frame(in, 0x89, "p1", 2, rfc_mask);
	raw_frame(in, 0x00, "", 0, rfc_mask);
	raw_frame(in, 0x8A, "", 0, rfc_mask);
	raw_frame(in, 0x80, "cd", 2, rfc_mask);
	raw_frame(in, 0x81, "caf\xc3\xa9", 5, rfc_mask);
	char big[300];
	memset(big, 'z', sizeof(big));
	raw_frame(in, 0x82, big, sizeof(big), rfc_mask);
	raw_frame(in, 0x88,
		  "\x03\xe8"
		  "bye",
		  5, rfc_mask);
	raw_frame(in, 0x82, "ignored", 7, rfc_mask); /* after the close */
}

static void test_session_any_chunking(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf in = {0};
	build_session(&in);
	static const size_t chunks[] = {0, 1, 2, 3, 7, 64};
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		_cleanup_websocket_ struct websocket ws;
		websocket_init(&ws, WEBSOCKET_SERVER, MAX_MESSAGE);
		struct transcript t = {0};
		feed(&ws, in.data, in.len, chunks[c], &t);
		assert_int_equal(t.error, 0);
		assert_int_equal(t.count, 6);
		assert_event(&t, 0, WEBSOCKET_EVENT_PING, "p1", 2);
		assert_event(&t, 1, WEBSOCKET_EVENT_PONG, "", 0);
		assert_event(&t, 2, WEBSOCKET_EVENT_MESSAGE, "abcd", 4);
		assert_int_equal(t.events[2].opcode, WEBSOCKET_BINARY);
		assert_event(&t, 3, WEBSOCKET_EVENT_MESSAGE, "caf\xc3\xa9", 5);
		assert_int_equal(t.events[3].opcode, WEBSOCKET_TEXT);
		assert_int_equal(t.events[4].data.len, 300);
		assert_event(&t, 5, WEBSOCKET_EVENT_CLOSE, "bye", 3);
		assert_int_equal(t.events[5].close_code, 1000);
		/* Replies: the pong, then the close echoing 1000, both unmasked. */
		assert_int_equal(t.reply.len, 4 + 4);
		assert_memory_equal(t.reply.data, "\x8a\x02p1\x88\x02\x03\xe8", 8);
		assert_true(ws.close_received);
		assert_true(ws.close_sent);
		transcript_free(&t);
	}
}

static void test_decode_stops_after_each_event(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf in = {0};
	raw_frame(&in, 0x81, "one", 3, rfc_mask);
	raw_frame(&in, 0x81, "two", 3, rfc_mask);
	_cleanup_websocket_ struct websocket ws;
	websocket_init(&ws, WEBSOCKET_SERVER, MAX_MESSAGE);
	_cleanup_buf_ struct buf reply = {0};
	struct websocket_event ev;
	assert_int_equal(websocket_decode(&ws, in.data, in.len, &ev, &reply, NULL), 9);
	assert_int_equal(ev.type, WEBSOCKET_EVENT_MESSAGE);
	assert_memory_equal(ev.data, "one", 3);
	assert_int_equal(websocket_decode(&ws, in.data + 9, in.len - 9, &ev, &reply, NULL), 9);
	assert_memory_equal(ev.data, "two", 3);
	assert_int_equal(websocket_decode(&ws, in.data, 0, &ev, &reply, NULL), 0);
	assert_int_equal(ev.type, WEBSOCKET_EVENT_NONE);
}

static void test_close_handling(void **state)
{
	(void)state;
	/* A close without a code is 1005 and is answered by an empty close. */
	_cleanup_websocket_ struct websocket ws;
	websocket_init(&ws, WEBSOCKET_CLIENT, MAX_MESSAGE);
	struct transcript t = {0};
	feed(&ws, "\x88\x00", 2, 0, &t);
	assert_int_equal(t.count, 1);
	assert_int_equal(t.events[0].close_code, WEBSOCKET_CLOSE_NO_STATUS);
	assert_int_equal(t.reply.len, 6); /* masked, client role */
	assert_memory_equal(t.reply.data, "\x88\x80", 2);
	/* Nothing more goes out after a close. */
	websocket_encode(&ws, WEBSOCKET_BINARY, "x", 1, &t.reply);
	assert_int_equal(t.reply.len, 6);
	transcript_free(&t);

	/* This side closed first: the peer's close is not answered again. */
	_cleanup_websocket_ struct websocket first;
	websocket_init(&first, WEBSOCKET_SERVER, MAX_MESSAGE);
	_cleanup_buf_ struct buf sent = {0};
	websocket_encode_close(&first, WEBSOCKET_CLOSE_NORMAL, "done", &sent);
	assert_memory_equal(sent.data,
			    "\x88\x06\x03\xe8"
			    "done",
			    8);
	struct transcript u = {0};
	_cleanup_buf_ struct buf in = {0};
	raw_frame(&in, 0x89, "late ping", 9, rfc_mask);
	raw_frame(&in, 0x88, "\x0b\xb8", 2, rfc_mask); /* 3000, an application code */
	feed(&first, in.data, in.len, 0, &u);
	assert_int_equal(u.error, 0);
	assert_int_equal(u.count, 2);
	assert_int_equal(u.events[1].close_code, 3000);
	assert_int_equal(u.reply.len, 0);
	transcript_free(&u);

	/* Close reasons are cut at 123 bytes, and never inside a UTF-8 sequence. */
	char reason[200];
	memset(reason, 'r', sizeof(reason));
	reason[199] = '\0';
	_cleanup_websocket_ struct websocket a;
	websocket_init(&a, WEBSOCKET_SERVER, MAX_MESSAGE);
	_cleanup_buf_ struct buf out = {0};
	websocket_encode_close(&a, WEBSOCKET_CLOSE_GOING_AWAY, reason, &out);
	assert_int_equal(out.len, 2 + 125);
	memcpy(reason + 122, "\xc3\xa9", 3);
	_cleanup_websocket_ struct websocket b;
	websocket_init(&b, WEBSOCKET_SERVER, MAX_MESSAGE);
	buf_reset(&out);
	websocket_encode_close(&b, WEBSOCKET_CLOSE_GOING_AWAY, reason, &out);
	assert_int_equal(out.len, 2 + 2 + 122);
}

static void test_close_codes(void **state)
{
	(void)state;
	static const uint16_t allowed[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
					   1011, 1012, 1014, 3000, 3999, 4000, 4999};
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		_cleanup_websocket_ struct websocket ws;
		websocket_init(&ws, WEBSOCKET_SERVER, MAX_MESSAGE);
		_cleanup_buf_ struct buf in = {0};
		uint8_t code[2] = {(uint8_t)(allowed[i] >> 8), (uint8_t)allowed[i]};
		raw_frame(&in, 0x88, code, 2, rfc_mask);
		struct transcript t = {0};
		feed(&ws, in.data, in.len, 0, &t);
		assert_int_equal(t.error, 0);
		assert_int_equal(t.events[0].close_code, allowed[i]);
		/* The answer echoes the code. */
		assert_memory_equal(t.reply.data + 2, code, 2);
		transcript_free(&t);
	}
	static const uint16_t refused[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		_cleanup_buf_ struct buf in = {0};
		uint8_t code[2] = {(uint8_t)(refused[i] >> 8), (uint8_t)refused[i]};
		raw_frame(&in, 0x88, code, 2, rfc_mask);
		char message[128];
		snprintf(message, sizeof(message),
			 "websocket: close code %u is not allowed in a close frame", refused[i]);
		assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO, message);
	}
}

/* --- protocol violations ------------------------------------------------------------------- */

static void test_violations(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf in = {0};

	raw_frame(&in, 0x81, "hi", 2, NULL);
	assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO,
			    "websocket: a frame from the client without a mask");
	buf_reset(&in);
	raw_frame(&in, 0xC1, "hi", 2, rfc_mask);
	assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO,
			    "websocket: reserved bits set without a negotiated extension");
	static const uint8_t bad_opcodes[] = {0x3, 0x7, 0xB, 0xF};
	for (size_t i = 0; i < sizeof(bad_opcodes); i++) {
		buf_reset(&in);
		raw_frame(&in, 0x80 | bad_opcodes[i], "", 0, rfc_mask);
		char message[64];
		snprintf(message, sizeof(message), "websocket: unknown opcode 0x%x",
			 bad_opcodes[i]);
		assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO, message);
	}
	buf_reset(&in);
	raw_frame(&in, 0x09, "p", 1, rfc_mask);
	assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO,
			    "websocket: a fragmented control frame");
	char long_ping[126] = {0};
	buf_reset(&in);
	raw_frame(&in, 0x89, long_ping, sizeof(long_ping), rfc_mask);
	assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO,
			    "websocket: a control frame of 126 bytes (at most 125)");
	buf_reset(&in);
	raw_frame(&in, 0x80, "x", 1, rfc_mask);
	assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO,
			    "websocket: a continuation frame outside a fragmented message");
	buf_reset(&in);
	raw_frame(&in, 0x01, "x", 1, rfc_mask);
	raw_frame(&in, 0x82, "y", 1, rfc_mask);
	assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO,
			    "websocket: a new message before the fragmented one ended");
	buf_reset(&in);
	raw_frame(&in, 0x88, "\x03", 1, rfc_mask);
	assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO,
			    "websocket: a close frame with a one-byte payload");
	/* A 64-bit length with its top bit set. */
	buf_reset(&in);
	buf_append(&in, "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00\x37\xfa\x21\x3d", 14);
	assert_server_fails(&in, MAX_MESSAGE, 1002, EPROTO,
			    "websocket: a frame length with the most significant bit set");
}

static void test_masked_frame_to_client(void **state)
{
	(void)state;
	_cleanup_websocket_ struct websocket ws;
	websocket_init(&ws, WEBSOCKET_CLIENT, MAX_MESSAGE);
	struct transcript t = {0};
	feed(&ws, hello_masked, sizeof(hello_masked), 1, &t);
	assert_int_equal(t.error, -EPROTO);
	assert_string_equal(t.err.message, "websocket: a masked frame from the server");
	assert_int_equal(ws.failed, 1002);
	/* The failing close is masked, as the client role sends everything. */
	assert_int_equal((uint8_t)t.reply.data[0], 0x88);
	assert_int_equal((uint8_t)t.reply.data[1],
			 0x80 | (2 + strlen("a masked frame from the server")));
	transcript_free(&t);
}

static void test_oversize(void **state)
{
	(void)state;
	char payload[101];
	memset(payload, 'o', sizeof(payload));
	_cleanup_buf_ struct buf in = {0};
	raw_frame(&in, 0x82, payload, 100, rfc_mask); /* exactly the limit: fine */
	_cleanup_websocket_ struct websocket ws;
	websocket_init(&ws, WEBSOCKET_SERVER, 100);
	struct transcript t = {0};
	feed(&ws, in.data, in.len, 0, &t);
	assert_int_equal(t.error, 0);
	assert_int_equal(t.events[0].data.len, 100);
	transcript_free(&t);

	buf_reset(&in);
	raw_frame(&in, 0x82, payload, 101, rfc_mask);
	assert_server_fails(&in, 100, 1009, EMSGSIZE, "websocket: a message larger than 100 bytes");
	/* Fragments add up; the frame that crosses the limit fails before its payload came. */
	buf_reset(&in);
	raw_frame(&in, 0x02, payload, 60, rfc_mask);
	raw_frame(&in, 0x8A, "", 0, rfc_mask);
	buf_append(&in, "\x80\xa9\x37\xfa\x21\x3d", 6); /* 41 more bytes announced */
	assert_server_fails(&in, 100, 1009, EMSGSIZE, "websocket: a message larger than 100 bytes");
	/* A 64-bit length far beyond any limit. */
	buf_reset(&in);
	buf_append(&in, "\x82\xff\x00\x00\x01\x00\x00\x00\x00\x00\x37\xfa\x21\x3d", 14);
	assert_server_fails(&in, MAX_MESSAGE, 1009, EMSGSIZE,
			    "websocket: a message larger than 1048576 bytes");
}

static void test_text_must_be_utf8(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf in = {0};
	raw_frame(&in, 0x81, "\xc3\x28", 2, rfc_mask);
	assert_server_fails(&in, MAX_MESSAGE, 1007, EILSEQ,
			    "websocket: a text message that is not UTF-8");
	/* A sequence split across fragments is fine. */
	buf_reset(&in);
	raw_frame(&in, 0x01, "\xe2\x82", 2, rfc_mask);
	raw_frame(&in, 0x80, "\xac", 1, rfc_mask);
	_cleanup_websocket_ struct websocket ws;
	websocket_init(&ws, WEBSOCKET_SERVER, MAX_MESSAGE);
	struct transcript t = {0};
	feed(&ws, in.data, in.len, 1, &t);
	assert_int_equal(t.error, 0);
	assert_event(&t, 0, WEBSOCKET_EVENT_MESSAGE, "\xe2\x82\xac", 3);
	transcript_free(&t);
	/* Binary messages are bytes. */
	buf_reset(&in);
	raw_frame(&in, 0x82, "\xff", 1, rfc_mask);
	_cleanup_websocket_ struct websocket bin;
	websocket_init(&bin, WEBSOCKET_SERVER, MAX_MESSAGE);
	struct transcript b = {0};
	feed(&bin, in.data, in.len, 0, &b);
	assert_int_equal(b.error, 0);
	transcript_free(&b);
	/* Close reasons are text too. */
	buf_reset(&in);
	raw_frame(&in, 0x88, "\x03\xe8\xff", 3, rfc_mask);
	assert_server_fails(&in, MAX_MESSAGE, 1007, EILSEQ,
			    "websocket: a close reason that is not UTF-8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accept_key_rfc_example),
	    cmocka_unit_test(test_server_handshake),
	    cmocka_unit_test(test_server_handshake_refusals),
	    cmocka_unit_test(test_choose_protocol),
	    cmocka_unit_test(test_client_key),
	    cmocka_unit_test(test_client_request),
	    cmocka_unit_test(test_client_response),
	    cmocka_unit_test(test_client_response_refusals),
	    cmocka_unit_test(test_rfc_examples_decode),
	    cmocka_unit_test(test_rfc_examples_lengths),
	    cmocka_unit_test(test_encode_server_frames),
	    cmocka_unit_test(test_encode_client_frames_masked),
	    cmocka_unit_test(test_session_any_chunking),
	    cmocka_unit_test(test_decode_stops_after_each_event),
	    cmocka_unit_test(test_close_handling),
	    cmocka_unit_test(test_close_codes),
	    cmocka_unit_test(test_violations),
	    cmocka_unit_test(test_masked_frame_to_client),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_text_must_be_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
