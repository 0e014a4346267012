#include "websocket.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/gnutls_dl.h"
#include "lib/strconv.h"

/* RFC 6455 section 1.3: what the server appends to the client's key before hashing. */
static const char accept_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#define NONCE_BYTES 16
#define SHA1_BYTES 20
#define MAX_RESPONSE_HEAD 16384
#define RUNE_ERROR 0xFFFD

/* --- handshake ----------------------------------------------------------------------------- */

/* Whether a comma-separated header value names `token`; case matters only when `exact`. */
static bool list_has_token(const char *list, const char *token, bool exact)
{
	size_t token_len = strlen(token);
	for (const char *p = list; p && *p;) {
		p += strspn(p, " \t,");
		size_t len = strcspn(p, ",");
		size_t trimmed = len;
		while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
			trimmed--;
		if (trimmed == token_len && trimmed > 0 &&
		    (exact ? strncmp(p, token, token_len) : strncasecmp(p, token, token_len)) == 0)
			return true;
		p += len;
	}
	return false;
}

bool websocket_is_upgrade(const struct websocket_request *request)
{
	return list_has_token(request->upgrade, "websocket", false) &&
	       list_has_token(request->connection, "upgrade", false);
}

const char *websocket_choose_protocol(const char *offered, const char *const *supported)
{
	for (size_t i = 0; offered && supported && supported[i]; i++)
		if (list_has_token(offered, supported[i], true))
			return supported[i];
	return NULL;
}

int websocket_accept_key(const char *key, char accept[WEBSOCKET_ACCEPT_SIZE], struct ck_error *err)
{
	if (dlopen_gnutls(err) < 0)
		return ck_error_prefix(err, "websocket accept key");
	_cleanup_buf_ struct buf input = {0};
	buf_puts(&input, key);
	buf_puts(&input, accept_guid);
	unsigned char digest[SHA1_BYTES];
	if (sym_gnutls_hash_fast(GNUTLS_DIG_SHA1, input.data, input.len, digest) < 0)
		return ck_error_set(err, EIO, "websocket accept key: SHA-1 failed");
	_cleanup_buf_ struct buf encoded = {0};
	base64_encode(digest, sizeof(digest), &encoded);
	memcpy(accept, encoded.data, WEBSOCKET_ACCEPT_SIZE - 1);
	accept[WEBSOCKET_ACCEPT_SIZE - 1] = '\0';
	return 0;
}

/* RFC 6455 4.2.1: the key must be a base64-encoded 16-byte value. */
static bool key_is_valid(const char *key)
{
	_cleanup_buf_ struct buf nonce = {0};
	return base64_decode(key, strlen(key), &nonce, NULL) == 0 && nonce.len == NONCE_BYTES;
}

static void append_list(struct buf *out, const char *const *items)
{
	for (size_t i = 0; items && items[i]; i++)
		buf_printf(out, "%s%s", i ? ", " : "", items[i]);
}

static int refuse_protocols(const struct websocket_request *request, const char *const *protocols,
			    struct ck_error *err)
{
	_cleanup_buf_ struct buf supported = {0};
	append_list(&supported, protocols);
	if (!request->protocol)
		return ck_error_set(err, ENOPROTOOPT,
				    "the WebSocket request offers no subprotocol (supported: %s)",
				    supported.data);
	return ck_error_set(err, ENOPROTOOPT,
			    "none of the offered WebSocket subprotocols (%s) is supported (%s)",
			    request->protocol, supported.data);
}

int websocket_server_handshake(const struct websocket_request *request,
			       const char *const *protocols, struct websocket_accept *out,
			       struct ck_error *err)
{
	if (!request->method || strcmp(request->method, "GET") != 0)
		return ck_error_set(err, EINVAL, "a WebSocket upgrade must be a GET, not %s",
				    request->method ? request->method : "(none)");
	if (!websocket_is_upgrade(request))
		return ck_error_set(err, EINVAL,
				    "not a WebSocket upgrade (Upgrade: websocket and Connection: "
				    "Upgrade are required)");
	if (!request->version || strcmp(request->version, "13") != 0)
		return ck_error_set(err, EPROTONOSUPPORT,
				    "unsupported WebSocket version \"%s\" (only 13 is)",
				    request->version ? request->version : "");
	if (!request->key || !key_is_valid(request->key))
		return ck_error_set(err, EINVAL,
				    "Sec-WebSocket-Key \"%s\" is not 16 bytes in base64",
				    request->key ? request->key : "");
	out->protocol = NULL;
	if (protocols && protocols[0]) {
		out->protocol = websocket_choose_protocol(request->protocol, protocols);
		if (!out->protocol)
			return refuse_protocols(request, protocols, err);
	}
	return websocket_accept_key(request->key, out->accept, err);
}

int websocket_client_key(char key[WEBSOCKET_KEY_SIZE], struct ck_error *err)
{
	unsigned char nonce[NONCE_BYTES];
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return ck_error_errno(err, errno, "websocket key: getrandom");
	_cleanup_buf_ struct buf encoded = {0};
	base64_encode(nonce, sizeof(nonce), &encoded);
	memcpy(key, encoded.data, WEBSOCKET_KEY_SIZE - 1);
	key[WEBSOCKET_KEY_SIZE - 1] = '\0';
	return 0;
}

void websocket_client_request(struct buf *out, const char *host, const char *target,
			      const char *key, const char *const *protocols,
			      const char *const *extra_headers)
{
	buf_printf(out,
		   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
		   target, host, key);
	if (protocols && protocols[0]) {
		buf_puts(out, "Sec-WebSocket-Protocol: ");
		append_list(out, protocols);
		buf_puts(out, "\r\n");
	}
	for (size_t i = 0; extra_headers && extra_headers[i]; i++)
		buf_printf(out, "%s\r\n", extra_headers[i]);
	buf_puts(out, "\r\n");
}

/* The headers of a response head that the client checks; the first of each counts. */
struct response_headers {
	const char *upgrade;
	const char *connection;
	const char *accept;
	const char *protocol;
};

static void keep_header(struct response_headers *h, const char *name, const char *value)
{
	const char **slot = NULL;
	if (strcasecmp(name, "Upgrade") == 0)
		slot = &h->upgrade;
	else if (strcasecmp(name, "Connection") == 0)
		slot = &h->connection;
	else if (strcasecmp(name, "Sec-WebSocket-Accept") == 0)
		slot = &h->accept;
	else if (strcasecmp(name, "Sec-WebSocket-Protocol") == 0)
		slot = &h->protocol;
	if (slot && !*slot)
		*slot = value;
}

/* Splits the header lines after the status line in place ("Name: value\r\n"...). */
static int parse_header_lines(char *lines, struct response_headers *h, struct ck_error *err)
{
	for (char *line = lines; *line;) {
		char *end = strstr(line, "\r\n");
		*end = '\0';
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			return ck_error_set(err, EPROTO, "malformed header line \"%s\"", line);
		*colon = '\0';
		char *value = colon + 1 + strspn(colon + 1, " \t");
		for (char *tail = value + strlen(value); tail > value && strchr(" \t", tail[-1]);)
			*--tail = '\0';
		keep_header(h, line, value);
		line = end + 2;
	}
	return 0;
}

static int check_upgrade_headers(const struct response_headers *h, const char *key,
				 const char *const *protocols, const char **out_protocol,
				 struct ck_error *err)
{
	if (!list_has_token(h->upgrade, "websocket", false) ||
	    !list_has_token(h->connection, "upgrade", false))
		return ck_error_set(
		    err, EPROTO, "the 101 answer lacks Upgrade: websocket or Connection: Upgrade");
	char expected[WEBSOCKET_ACCEPT_SIZE];
	int r = websocket_accept_key(key, expected, err);
	if (r < 0)
		return r;
	if (!h->accept || strcmp(h->accept, expected) != 0)
		return ck_error_set(err, EPROTO, "Sec-WebSocket-Accept \"%s\" should be \"%s\"",
				    h->accept ? h->accept : "", expected);
	*out_protocol = NULL;
	if (!h->protocol)
		return 0;
	for (size_t i = 0; protocols && protocols[i]; i++)
		if (strcmp(h->protocol, protocols[i]) == 0) {
			*out_protocol = protocols[i];
			return 0;
		}
	return ck_error_set(
	    err, EPROTO, "the server chose subprotocol \"%s\", which was not offered", h->protocol);
}

/* "HTTP/1.1 101 Switching Protocols": the status, and where the reason starts. */
static int parse_status_line(const char *line, int *status, const char **reason,
			     struct ck_error *err)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
	    line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
	    !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) ||
	    (line[12] != ' ' && line[12] != '\r')) {
		size_t shown = strcspn(line, "\r\n");
		return ck_error_set(err, EPROTO, "not an HTTP response: \"%.*s\"",
				    (int)(shown < 40 ? shown : 40), line);
	}
	*status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	*reason = line + (line[12] == ' ' ? 13 : 12);
	return 0;
}

ssize_t websocket_client_response(const char *data, size_t len, const char *key,
				  const char *const *protocols, int *out_status,
				  const char **out_protocol, struct ck_error *err)
{
	const char *end = memmem(data, len, "\r\n\r\n", 4);
	if (!end)
		return len > MAX_RESPONSE_HEAD
			   ? ck_error_set(err, EMSGSIZE, "the answer head exceeds %d bytes",
					  MAX_RESPONSE_HEAD)
			   : 0;
	size_t head_len = (size_t)(end - data) + 4;
	_cleanup_free_ char *head = strndup(data, head_len - 2); /* keeps one "\r\n" per line */
	if (!head)
		return ck_error_set(err, ENOMEM, "websocket answer: out of memory");
	if (strlen(head) != head_len - 2)
		return ck_error_set(err, EPROTO, "the answer head holds a NUL byte");
	const char *reason = "";
	int r = parse_status_line(head, out_status, &reason, err);
	if (r < 0)
		return r;
	char *lines = strstr(head, "\r\n");
	if (*out_status != 101)
		return ck_error_set(
		    err, ECONNREFUSED,
		    "the server answered %d%s%.*s instead of switching to WebSocket", *out_status,
		    lines > reason ? " " : "", (int)(lines - reason), reason);
	struct response_headers headers = {0};
	r = parse_header_lines(lines + 2, &headers, err);
	if (r < 0)
		return r;
	r = check_upgrade_headers(&headers, key, protocols, out_protocol, err);
	return r < 0 ? r : (ssize_t)head_len;
}

/* --- encoder ------------------------------------------------------------------------------- */

void websocket_init(struct websocket *ws, enum websocket_role role, size_t max_message)
{
	*ws = (struct websocket){.role = role, .max_message = max_message};
}

void websocket_free(struct websocket *ws)
{
	buf_free(&ws->message);
}

/* getrandom() of a few bytes neither fails nor comes back short once the kernel's pool is
 * ready (it blocks until then), and ckube needs kernels far newer than the call. Like an
 * allocation failure in buf, a failure here is not worth an error path in every sender. */
static void random_mask(uint8_t mask[4])
{
	if (getrandom(mask, 4, 0) != 4) {
		fprintf(stderr, "getrandom for a WebSocket mask failed: %s\n", strerror(errno));
		abort();
	}
}

static size_t put_frame_header(uint8_t *header, uint8_t opcode, uint64_t len, bool masked)
{
	uint8_t mask_bit = masked ? 0x80 : 0;
	size_t at = 0;
	header[at++] = 0x80 | opcode; /* FIN: every message goes out as one frame */
	if (len < 126) {
		header[at++] = mask_bit | (uint8_t)len;
	} else if (len <= 0xFFFF) {
		header[at++] = mask_bit | 126;
		header[at++] = (uint8_t)(len >> 8);
		header[at++] = (uint8_t)len;
	} else {
		header[at++] = mask_bit | 127;
		for (int shift = 56; shift >= 0; shift -= 8)
			header[at++] = (uint8_t)(len >> shift);
	}
	return at;
}

void websocket_encode_parts(struct websocket *ws, enum websocket_opcode opcode,
			    const struct iovec *parts, size_t count, struct buf *out)
{
	if (ws->close_sent)
		return;
	size_t len = 0;
	for (size_t i = 0; i < count; i++)
		len += parts[i].iov_len;
	if (opcode >= WEBSOCKET_CLOSE && len > WEBSOCKET_CONTROL_MAX)
		len = WEBSOCKET_CONTROL_MAX;
	bool masked = ws->role == WEBSOCKET_CLIENT;
	uint8_t header[14];
	size_t header_len = put_frame_header(header, (uint8_t)opcode, len, masked);
	uint8_t mask[4];
	if (masked) {
		random_mask(mask);
		memcpy(header + header_len, mask, sizeof(mask));
		header_len += sizeof(mask);
	}
	buf_reserve(out, header_len + len);
	buf_append(out, header, header_len);
	size_t start = out->len;
	for (size_t i = 0, left = len; i < count && left > 0; i++) {
		size_t n = parts[i].iov_len < left ? parts[i].iov_len : left;
		buf_append(out, parts[i].iov_base, n);
		left -= n;
	}
	for (size_t i = 0; masked && i < len; i++)
		out->data[start + i] ^= (char)mask[i & 3];
	if (opcode == WEBSOCKET_CLOSE)
		ws->close_sent = true;
}

void websocket_encode(struct websocket *ws, enum websocket_opcode opcode, const void *data,
		      size_t len, struct buf *out)
{
	struct iovec part = {.iov_base = (void *)data, .iov_len = len};
	websocket_encode_parts(ws, opcode, &part, 1, out);
}

/* The length of the longest prefix of at most `max` bytes that does not split a UTF-8
 * sequence, so that a cut reason stays valid text for the peer. */
static size_t utf8_cut(const char *text, size_t max)
{
	size_t len = strlen(text);
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)text[max] & 0xC0) == 0x80)
		max--;
	return max;
}

void websocket_encode_close(struct websocket *ws, uint16_t code, const char *reason,
			    struct buf *out)
{
	uint8_t payload[WEBSOCKET_CONTROL_MAX];
	size_t len = 0;
	if (code != WEBSOCKET_CLOSE_NO_STATUS) {
		payload[0] = (uint8_t)(code >> 8);
		payload[1] = (uint8_t)code;
		size_t reason_len = reason ? utf8_cut(reason, sizeof(payload) - 2) : 0;
		if (reason_len)
			memcpy(payload + 2, reason, reason_len);
		len = 2 + reason_len;
	}
	websocket_encode(ws, WEBSOCKET_CLOSE, payload, len, out);
}

/* --- decoder ------------------------------------------------------------------------------- */

/* Fails the connection: the close frame with `code` (the message as its reason) goes out and
 * every later call fails. */
__attribute__((format(printf, 6, 7))) static int fail(struct websocket *ws, uint16_t code,
						      int errno_code, struct buf *reply,
						      struct ck_error *err, const char *fmt, ...)
{
	char message[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	ws->failed = code;
	websocket_encode_close(ws, code, message, reply);
	return ck_error_set(err, errno_code, "websocket: %s", message);
}

static bool is_utf8(const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint32_t rune;
		size_t width = utf8_decode_rune((const char *)data + i, len - i, &rune);
		if (rune == RUNE_ERROR && width == 1)
			return false;
		i += width;
	}
	return true;
}

/* RFC 6455 7.4 and IANA's registry: the codes a close frame may carry. */
static bool close_code_allowed(uint16_t code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

static bool opcode_known(uint8_t opcode)
{
	return opcode <= WEBSOCKET_BINARY ||
	       (opcode >= WEBSOCKET_CLOSE && opcode <= WEBSOCKET_PONG);
}

/* The size of the current frame's header as far as its first two bytes tell. */
static size_t header_size(const struct websocket *ws)
{
	if (ws->header_len < 2)
		return 2;
	uint8_t len7 = ws->header[1] & 0x7F;
	size_t size = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
	return size + ((ws->header[1] & 0x80) ? 4 : 0);
}

static uint64_t header_length(const struct websocket *ws, size_t *mask_at)
{
	uint8_t len7 = ws->header[1] & 0x7F;
	size_t bytes = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
	uint64_t len = bytes ? 0 : len7;
	for (size_t i = 0; i < bytes; i++)
		len = len << 8 | ws->header[2 + i];
	*mask_at = 2 + bytes;
	return len;
}

static int check_data_frame(struct websocket *ws, uint64_t len, struct buf *reply,
			    struct ck_error *err)
{
	if (ws->opcode == WEBSOCKET_CONTINUATION && !ws->message_opcode)
		return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
			    "a continuation frame outside a fragmented message");
	if (ws->opcode != WEBSOCKET_CONTINUATION && ws->message_opcode)
		return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
			    "a new message before the fragmented one ended");
	/* Checked before any byte is buffered, so a peer cannot make us hold more. */
	if (len > ws->max_message - ws->message.len)
		return fail(ws, WEBSOCKET_CLOSE_TOO_BIG, EMSGSIZE, reply, err,
			    "a message larger than %zu bytes", ws->max_message);
	if (ws->opcode != WEBSOCKET_CONTINUATION)
		ws->message_opcode = ws->opcode;
	buf_reserve(&ws->message, (size_t)len);
	return 0;
}

/* Validates a complete frame header and gets ready for its payload. */
static int start_frame(struct websocket *ws, struct buf *reply, struct ck_error *err)
{
	uint8_t first = ws->header[0];
	if (first & 0x70)
		return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
			    "reserved bits set without a negotiated extension");
	ws->opcode = first & 0x0F;
	ws->fin = first & 0x80;
	ws->masked = ws->header[1] & 0x80;
	if (!opcode_known(ws->opcode))
		return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
			    "unknown opcode 0x%x", ws->opcode);
	if (ws->masked != (ws->role == WEBSOCKET_SERVER))
		return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
			    ws->masked ? "a masked frame from the server"
				       : "a frame from the client without a mask");
	size_t mask_at;
	uint64_t len = header_length(ws, &mask_at);
	if (len >> 63)
		return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
			    "a frame length with the most significant bit set");
	if (ws->masked)
		memcpy(ws->mask, ws->header + mask_at, sizeof(ws->mask));
	if (ws->opcode >= WEBSOCKET_CLOSE) {
		if (!ws->fin)
			return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
				    "a fragmented control frame");
		if (len > WEBSOCKET_CONTROL_MAX)
			return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
				    "a control frame of %llu bytes (at most 125)",
				    (unsigned long long)len);
		ws->control_len = 0;
	} else {
		int r = check_data_frame(ws, len, reply, err);
		if (r < 0)
			return r;
	}
	ws->payload_left = len;
	ws->payload_seen = 0;
	ws->header_len = 0;
	ws->in_payload = true;
	return 0;
}

static void take_payload(struct websocket *ws, const uint8_t *data, size_t len)
{
	uint8_t *dst;
	if (ws->opcode >= WEBSOCKET_CLOSE) {
		dst = ws->control + ws->control_len;
		memcpy(dst, data, len);
		ws->control_len += len;
	} else {
		buf_append(&ws->message, data, len);
		dst = (uint8_t *)ws->message.data + ws->message.len - len;
	}
	for (size_t i = 0; ws->masked && i < len; i++)
		dst[i] ^= ws->mask[(ws->payload_seen + i) & 3];
	ws->payload_seen += len;
	ws->payload_left -= len;
}

static int message_complete(struct websocket *ws, struct websocket_event *event, struct buf *reply,
			    struct ck_error *err)
{
	uint8_t opcode = ws->message_opcode;
	ws->message_opcode = 0;
	ws->message_handed_out = true;
	const uint8_t *data = (const uint8_t *)ws->message.data; /* reserved by check_data_frame */
	if (opcode == WEBSOCKET_TEXT && !is_utf8(data, ws->message.len))
		return fail(ws, WEBSOCKET_CLOSE_INVALID_DATA, EILSEQ, reply, err,
			    "a text message that is not UTF-8");
	*event = (struct websocket_event){
	    .type = WEBSOCKET_EVENT_MESSAGE,
	    .opcode = opcode,
	    .data = data,
	    .len = ws->message.len,
	};
	return 0;
}

static int close_received(struct websocket *ws, struct websocket_event *event, struct buf *reply,
			  struct ck_error *err)
{
	uint16_t code = WEBSOCKET_CLOSE_NO_STATUS;
	if (ws->control_len == 1)
		return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
			    "a close frame with a one-byte payload");
	if (ws->control_len >= 2) {
		code = (uint16_t)(ws->control[0] << 8 | ws->control[1]);
		if (!close_code_allowed(code))
			return fail(ws, WEBSOCKET_CLOSE_PROTOCOL_ERROR, EPROTO, reply, err,
				    "close code %u is not allowed in a close frame", code);
		if (!is_utf8(ws->control + 2, ws->control_len - 2))
			return fail(ws, WEBSOCKET_CLOSE_INVALID_DATA, EILSEQ, reply, err,
				    "a close reason that is not UTF-8");
	}
	ws->close_received = true;
	/* RFC 6455 5.5.1: answer with a close, echoing the code. */
	websocket_encode_close(ws, code, "", reply);
	*event = (struct websocket_event){
	    .type = WEBSOCKET_EVENT_CLOSE,
	    .data = ws->control + (ws->control_len >= 2 ? 2 : 0),
	    .len = ws->control_len >= 2 ? ws->control_len - 2 : 0,
	    .close_code = code,
	};
	return 0;
}

static int finish_frame(struct websocket *ws, struct websocket_event *event, struct buf *reply,
			struct ck_error *err)
{
	ws->in_payload = false;
	switch (ws->opcode) {
	case WEBSOCKET_PING:
		websocket_encode(ws, WEBSOCKET_PONG, ws->control, ws->control_len, reply);
		/* fall through */
	case WEBSOCKET_PONG:
		*event = (struct websocket_event){
		    .type =
			ws->opcode == WEBSOCKET_PING ? WEBSOCKET_EVENT_PING : WEBSOCKET_EVENT_PONG,
		    .data = ws->control,
		    .len = ws->control_len,
		};
		return 0;
	case WEBSOCKET_CLOSE:
		return close_received(ws, event, reply, err);
	default:
		return ws->fin ? message_complete(ws, event, reply, err) : 0;
	}
}

ssize_t websocket_decode(struct websocket *ws, const void *data, size_t len,
			 struct websocket_event *event, struct buf *reply, struct ck_error *err)
{
	const uint8_t *in = data;
	*event = (struct websocket_event){.type = WEBSOCKET_EVENT_NONE};
	if (ws->failed)
		return ck_error_set(err, EPROTO, "websocket: the connection failed (close code %u)",
				    ws->failed);
	if (ws->message_handed_out) {
		ws->message.len = 0; /* the allocation stays for the next message */
		ws->message.data[0] = '\0';
		ws->message_handed_out = false;
	}
	if (ws->close_received)
		return (ssize_t)len;
	size_t pos = 0;
	while (pos < len && event->type == WEBSOCKET_EVENT_NONE) {
		if (!ws->in_payload) {
			size_t want = header_size(ws) - ws->header_len;
			size_t n = want < len - pos ? want : len - pos;
			memcpy(ws->header + ws->header_len, in + pos, n);
			ws->header_len += n;
			pos += n;
			if (ws->header_len < header_size(ws))
				continue;
			int r = start_frame(ws, reply, err);
			if (r < 0)
				return r;
		} else {
			size_t n =
			    ws->payload_left < len - pos ? (size_t)ws->payload_left : len - pos;
			take_payload(ws, in + pos, n);
			pos += n;
		}
		if (ws->in_payload && ws->payload_left == 0) {
			int r = finish_frame(ws, event, reply, err);
			if (r < 0)
				return r;
		}
	}
	return (ssize_t)pos;
}
