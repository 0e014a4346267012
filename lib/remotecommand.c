#include "remotecommand.h"

#include <errno.h>
#include <stddef.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/cleanup.h"
#include "lib/http_client.h"
#include "lib/strconv.h"

#define RUNE_ERROR 0xFFFD

const char *const remotecommand_protocols[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};

int remotecommand_protocol_of(const char *name)
{
	if (name && strcmp(name, "v5.channel.k8s.io") == 0)
		return REMOTECOMMAND_V5;
	if (name && strcmp(name, "v4.channel.k8s.io") == 0)
		return REMOTECOMMAND_V4;
	return -1;
}

/* --- messages ------------------------------------------------------------------------------ */

void remotecommand_encode(struct websocket *ws, enum remotecommand_stream stream, const void *data,
			  size_t len, struct buf *out)
{
	uint8_t prefix = (uint8_t)stream;
	struct iovec parts[] = {
	    {.iov_base = &prefix, .iov_len = 1},
	    {.iov_base = (void *)data, .iov_len = len},
	};
	websocket_encode_parts(ws, WEBSOCKET_BINARY, parts, 2, out);
}

void remotecommand_encode_close(struct websocket *ws, enum remotecommand_stream stream,
				struct buf *out)
{
	uint8_t closed = (uint8_t)stream;
	remotecommand_encode(ws, REMOTECOMMAND_CLOSE, &closed, 1, out);
}

static bool stream_known(unsigned stream)
{
	return stream <= REMOTECOMMAND_RESIZE;
}

int remotecommand_parse(enum remotecommand_protocol protocol, const void *message, size_t len,
			struct remotecommand_message *out, struct ck_error *err)
{
	const uint8_t *bytes = message;
	if (len == 0)
		return ck_error_set(err, EINVAL, "an empty message without a stream byte");
	*out = (struct remotecommand_message){
	    .stream = bytes[0],
	    .data = bytes + 1,
	    .len = len - 1,
	};
	if (protocol == REMOTECOMMAND_V5 && bytes[0] == REMOTECOMMAND_CLOSE) {
		if (len != 2 || !stream_known(bytes[1]))
			return ck_error_set(err, EINVAL,
					    "a close signal must name one stream, not %zu bytes "
					    "starting with %u",
					    len - 1, len > 1 ? bytes[1] : 0);
		out->closed = bytes[1];
		return 0;
	}
	if (!stream_known(bytes[0]))
		return ck_error_set(err, EINVAL, "a message for unknown stream %u", bytes[0]);
	return 0;
}

/* --- terminal size ------------------------------------------------------------------------- */

void remotecommand_resize_json(struct remotecommand_size size, struct buf *out)
{
	buf_printf(out, "{\"Width\":%u,\"Height\":%u}", size.width, size.height);
}

static int size_field(const char *key, const json_t *value, uint16_t *out, struct ck_error *err)
{
	if (json_is_null(value))
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < 0 ||
	    json_integer_value(value) > UINT16_MAX)
		return ck_error_set(err, EINVAL,
				    "terminal size: %s must be an integer from 0 to %u", key,
				    UINT16_MAX);
	*out = (uint16_t)json_integer_value(value);
	return 0;
}

int remotecommand_resize_parse(const void *data, size_t len, struct remotecommand_size *out,
			       struct ck_error *err)
{
	json_error_t jerr;
	_cleanup_json_ json_t *root = json_loadb(data, len, 0, &jerr);
	if (!root)
		return ck_error_set(err, EINVAL, "terminal size: %s", jerr.text);
	if (!json_is_object(root))
		return ck_error_set(err, EINVAL, "terminal size: not a JSON object");
	*out = (struct remotecommand_size){0};
	const char *key;
	json_t *value;
	json_object_foreach (root, key, value) {
		int r = 0;
		if (strcasecmp(key, "width") == 0)
			r = size_field(key, value, &out->width, err);
		else if (strcasecmp(key, "height") == 0)
			r = size_field(key, value, &out->height, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* --- the final status ---------------------------------------------------------------------- */

/* A JSON string as Go's encoding/json writes it, so the Status matches the kubelet's bytes:
 * <, > and & as \u003c..., invalid UTF-8 as \ufffd (the command line is the client's bytes). */
static void append_go_json_string(struct buf *out, const char *text)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(text);
	buf_putc(out, '"');
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)text[i];
		uint32_t rune;
		size_t width = utf8_decode_rune(text + i, len - i, &rune);
		if (rune == RUNE_ERROR && width == 1)
			buf_puts(out, "\\ufffd");
		else if (c == '"' || c == '\\')
			buf_printf(out, "\\%c", c);
		else if (c == '\n')
			buf_puts(out, "\\n");
		else if (c == '\r')
			buf_puts(out, "\\r");
		else if (c == '\t')
			buf_puts(out, "\\t");
		else if (c < 0x20 || c == '<' || c == '>' || c == '&')
			buf_printf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
		else if (rune == 0x2028 || rune == 0x2029)
			buf_printf(out, "\\u%04x", rune);
		else
			buf_append(out, text + i, width);
		i += width;
	}
	buf_putc(out, '"');
}

void remotecommand_status_exit(int exit_code, const char *const *argv, struct buf *out)
{
	if (exit_code == 0) {
		buf_puts(out, "{\"metadata\":{},\"status\":\"Success\"}");
		return;
	}
	/* The text containerd's exec error carries, which the kubelet wraps. */
	_cleanup_buf_ struct buf message = {0};
	buf_puts(&message, "command terminated with non-zero exit code: error executing command [");
	for (size_t i = 0; argv && argv[i]; i++)
		buf_printf(&message, "%s%s", i ? " " : "", argv[i]);
	buf_printf(&message, "], exit code %d", exit_code);
	buf_puts(out, "{\"metadata\":{},\"status\":\"Failure\",\"message\":");
	append_go_json_string(out, message.data);
	buf_printf(out,
		   ",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":"
		   "\"ExitCode\",\"message\":\"%d\"}]}}",
		   exit_code);
}

void remotecommand_status_error(const char *message, struct buf *out)
{
	_cleanup_buf_ struct buf full = {0};
	buf_printf(&full, "Internal error occurred: %s", message);
	buf_puts(out, "{\"metadata\":{},\"status\":\"Failure\",\"message\":");
	append_go_json_string(out, full.data);
	buf_puts(out, ",\"reason\":\"InternalError\",\"details\":{\"causes\":[{\"message\":");
	append_go_json_string(out, message);
	buf_puts(out, "}]},\"code\":500}");
}

static int protocol_error(struct ck_error *err, const char *what, const void *data, size_t len)
{
	_cleanup_buf_ struct buf quoted = {0};
	strconv_append_quoted(&quoted, data, len);
	return ck_error_set(err, EPROTO, "error stream protocol error: %s in %s", what,
			    quoted.data);
}

/* strconv.ParseUint(text, 10, 8), which client-go applies to the ExitCode cause. */
static int parse_exit_code(const char *text, int *out)
{
	int value = 0;
	if (!*text)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		value = value * 10 + (*p - '0');
		if (value > 255)
			return -ERANGE;
	}
	*out = value;
	return 0;
}

static int exit_code_of(const json_t *status, int *exit_code, struct ck_error *err)
{
	const json_t *details = json_object_get(status, "details");
	if (!json_is_object(details))
		return ck_error_set(err, EPROTO,
				    "error stream protocol error: details must be set");
	size_t i;
	json_t *cause;
	json_array_foreach (json_object_get(details, "causes"), i, cause) {
		const char *reason = json_string_value(json_object_get(cause, "reason"));
		if (!reason || strcmp(reason, "ExitCode") != 0)
			continue;
		const char *message = json_string_value(json_object_get(cause, "message"));
		if (!message || parse_exit_code(message, exit_code) < 0)
			return ck_error_set(err, EPROTO,
					    "error stream protocol error: invalid exit code value "
					    "\"%s\"",
					    message ? message : "");
		return 0;
	}
	return ck_error_set(err, EPROTO, "error stream protocol error: no ExitCode cause given");
}

int remotecommand_status_parse(const void *data, size_t len, int *exit_code, struct ck_error *err)
{
	json_error_t jerr;
	_cleanup_json_ json_t *status = json_loadb(data, len, 0, &jerr);
	if (!status)
		return protocol_error(err, jerr.text, data, len);
	if (!json_is_object(status))
		return protocol_error(err, "not a JSON object", data, len);
	const char *state = json_string_value(json_object_get(status, "status"));
	if (state && strcmp(state, "Success") == 0) {
		*exit_code = 0;
		return 0;
	}
	if (!state || strcmp(state, "Failure") != 0)
		return ck_error_set(err, EPROTO, "error stream protocol error: unknown error");
	const char *reason = json_string_value(json_object_get(status, "reason"));
	if (reason && strcmp(reason, "NonZeroExitCode") == 0)
		return exit_code_of(status, exit_code, err);
	const char *message = json_string_value(json_object_get(status, "message"));
	return ck_error_set(err, EREMOTEIO, "%s", message ? message : "");
}

/* --- request options ----------------------------------------------------------------------- */

enum {
	GIVEN_STDIN = 1 << 0,
	GIVEN_STDOUT = 1 << 1,
	GIVEN_STDERR = 1 << 2,
	GIVEN_TTY = 1 << 3,
	GIVEN_CONTAINER = 1 << 4,
};

static char *must_strdup(const char *text)
{
	char *copy = strdup(text);
	if (!copy) {
		fprintf(stderr, "out of memory copying a query parameter\n");
		abort();
	}
	return copy;
}

static void add_command(struct remotecommand_options *options, const char *argument)
{
	char **grown = realloc(options->command, (options->command_count + 2) * sizeof(char *));
	if (!grown) {
		fprintf(stderr, "out of memory growing a command line\n");
		abort();
	}
	grown[options->command_count++] = must_strdup(argument);
	grown[options->command_count] = NULL;
	options->command = grown;
}

/* k8s.io/apimachinery's Convert_Slice_string_To_bool, which reads query flags. */
static bool query_flag(const char *value)
{
	return strcmp(value, "0") != 0 && strcasecmp(value, "false") != 0;
}

static const struct {
	const char *key;
	size_t offset;
	unsigned bit;
} flags[] = {
    {"stdin", offsetof(struct remotecommand_options, use_stdin), GIVEN_STDIN},
    {"stdout", offsetof(struct remotecommand_options, use_stdout), GIVEN_STDOUT},
    {"stderr", offsetof(struct remotecommand_options, use_stderr), GIVEN_STDERR},
    {"tty", offsetof(struct remotecommand_options, tty), GIVEN_TTY},
};

void remotecommand_options_add(struct remotecommand_options *options, const char *key,
			       const char *value)
{
	if (strcmp(key, "command") == 0) {
		add_command(options, value);
		return;
	}
	if (strcmp(key, "container") == 0) {
		/* An empty name means "the default container", as in Kubernetes. */
		if (!(options->given & GIVEN_CONTAINER) && *value)
			options->container = must_strdup(value);
		options->given |= GIVEN_CONTAINER;
		return;
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (strcmp(key, flags[i].key) != 0 || (options->given & flags[i].bit))
			continue;
		*(bool *)((char *)options + flags[i].offset) = query_flag(value);
		options->given |= flags[i].bit;
	}
}

int remotecommand_options_check(struct remotecommand_options *options, bool exec,
				struct ck_error *err)
{
	if (options->tty)
		options->use_stderr = false;
	if (!options->use_stdin && !options->use_stdout && !options->use_stderr)
		return ck_error_set(err, EINVAL,
				    "you must specify at least 1 of stdin, stdout, stderr");
	if (exec && options->command_count == 0)
		return ck_error_set(err, EINVAL,
				    "you must specify at least one command for the container");
	return 0;
}

void remotecommand_options_query(const struct remotecommand_options *options, struct buf *out)
{
	for (size_t i = 0; i < options->command_count; i++) {
		_cleanup_free_ char *escaped = http_escape(options->command[i]);
		buf_printf(out, "command=%s&", escaped);
	}
	buf_printf(out, "stdin=%s&stdout=%s&stderr=%s&tty=%s",
		   options->use_stdin ? "true" : "false", options->use_stdout ? "true" : "false",
		   options->use_stderr ? "true" : "false", options->tty ? "true" : "false");
}

void remotecommand_options_free(struct remotecommand_options *options)
{
	for (size_t i = 0; i < options->command_count; i++)
		free(options->command[i]);
	free(options->command);
	free(options->container);
	*options = (struct remotecommand_options){0};
}
