#include "kubectl/status.h"

#include <stdbool.h>
#include <string.h>

#include "lib/json_util.h"

long status_code(const json_t *status)
{
	return (long)json_integer_value(json_object_get(status, "code"));
}

static const char *string_or_empty(const json_t *object, const char *key)
{
	const char *value = json_string_value(json_object_get(object, key));
	return value ? value : "";
}

static void append_cause(const json_t *cause, struct buf *out)
{
	const char *field = string_or_empty(cause, "field");
	if (*field)
		buf_printf(out, "%s: ", field);
	buf_puts(out, string_or_empty(cause, "message"));
}

/* "The Pod "bad" is invalid: <cause>", or one "* <cause>" line per cause when there are more. */
static void format_invalid(const json_t *status, struct buf *out)
{
	const json_t *details = json_object_get(status, "details");
	const json_t *causes = json_object_get(details, "causes");
	const char *kind = string_or_empty(details, "kind");
	const char *name = string_or_empty(details, "name");
	if (!json_is_object(details)) {
		const char *message = string_or_empty(status, "message");
		buf_printf(out, "The request is invalid%s%s", *message ? ": " : "", message);
		return;
	}
	if (*kind || *name) {
		buf_printf(out, "The %s \"%s\" is invalid", kind, name);
	} else {
		const char *field = string_or_empty(json_array_get(causes, 0), "field");
		if (*field)
			buf_printf(out, "The request is invalid: %s", field);
		else
			buf_puts(out, "The request is invalid");
	}
	size_t count = json_array_size(causes);
	if (count == 1) {
		buf_puts(out, ": ");
		append_cause(json_array_get(causes, 0), out);
	} else if (count > 1) {
		buf_puts(out, ": ");
		for (size_t i = 0; i < count; i++) {
			buf_puts(out, "\n* ");
			append_cause(json_array_get(causes, i), out);
		}
	}
}

static void format(const json_t *status, const char *verb, const char *source, bool alone,
		   struct buf *out)
{
	const char *reason = string_or_empty(status, "reason");
	if (alone && strcmp(reason, "Invalid") == 0) {
		format_invalid(status, out);
		return;
	}
	const char *message = string_or_empty(status, "message");
	if (strcmp(reason, "Unauthorized") == 0) {
		buf_printf(out, "error: You must be logged in to the server (%s)", message);
		return;
	}
	if (*reason)
		buf_printf(out, "Error from server (%s): ", reason);
	else
		buf_puts(out, "Error from server: ");
	if (verb && source && *source)
		buf_printf(out, "error when %s \"%s\": ", verb, source);
	buf_puts(out, message);
}

void status_format(const json_t *status, const char *verb, const char *source, struct buf *out)
{
	format(status, verb, source, true, out);
}

void status_list_add(struct status_list *list, const json_t *status, const char *verb,
		     const char *source)
{
	if (!list->entries)
		list->entries = json_array();
	json_array_append_new(list->entries, json_pack("{s:O, s:s?, s:s?}", "status", status,
						       "verb", verb, "source", source));
}

size_t status_list_count(const struct status_list *list)
{
	return json_array_size(list->entries);
}

void status_list_print(struct status_list *list, FILE *out)
{
	size_t count = json_array_size(list->entries);
	size_t i;
	const json_t *entry;
	json_array_foreach (list->entries, i, entry) {
		struct buf text = {0};
		format(json_object_get(entry, "status"),
		       json_string_value(json_object_get(entry, "verb")),
		       json_string_value(json_object_get(entry, "source")), count == 1, &text);
		fprintf(out, "%s\n", text.data);
		buf_free(&text);
	}
	json_decref(list->entries);
	list->entries = NULL;
}

struct generic_answer {
	long code;
	const char *reason;
	const char *message; /* NULL: the server's own text */
};

static const struct generic_answer generic_answers[] = {
    {400, "BadRequest", "the server rejected our request for an unknown reason"},
    {401, "Unauthorized", "the server has asked for the client to provide credentials"},
    {403, "Forbidden", NULL},
    {404, "NotFound", "the server could not find the requested resource"},
    {405, "MethodNotAllowed", "the server does not allow this method on the requested resource"},
    {406, "NotAcceptable",
     "the server was unable to respond with a content type that the client "
     "supports"},
    {409, "Conflict", "the server reported a conflict"},
    {415, "UnsupportedMediaType", NULL},
    {422, "Invalid", "the server rejected our request due to an error in our request"},
    {429, "TooManyRequests",
     "the server has received too many requests and has asked us to try "
     "again later"},
    {503, "ServiceUnavailable", "the server is currently unable to handle the request"},
    {504, "Timeout",
     "the server was unable to return a response in the time allotted, but may "
     "still be processing the request"},
};

json_t *status_from_response(long code, const char *body, size_t len)
{
	json_error_t error;
	json_t *decoded = body ? json_loadb(body, len, 0, &error) : NULL;
	const char *kind = json_string_value(json_object_get(decoded, "kind"));
	if (kind && strcmp(kind, "Status") == 0) {
		if (!json_object_get(decoded, "code"))
			json_object_set_new(decoded, "code", json_integer(code));
		return decoded;
	}
	json_decref(decoded);

	/* Plain-text bodies are shown, trimmed; anything long is not worth a terminal. */
	struct buf text = {0};
	if (body && len > 0 && len < 1024)
		buf_append(&text, body, len);
	while (text.len > 0 && strchr(" \r\n\t", text.data[text.len - 1]))
		text.data[--text.len] = '\0';
	const char *server_text = text.data ? text.data : "";

	const char *reason = "Unknown";
	struct buf message = {0};
	buf_printf(&message,
		   "the server responded with the status code %ld but did not return more "
		   "information",
		   code);
	for (size_t i = 0; i < sizeof(generic_answers) / sizeof(generic_answers[0]); i++) {
		if (generic_answers[i].code != code)
			continue;
		reason = generic_answers[i].reason;
		buf_reset(&message);
		buf_puts(&message,
			 generic_answers[i].message ? generic_answers[i].message : server_text);
	}
	if (code >= 500 && code != 503 && code != 504) {
		reason = "InternalError";
		buf_reset(&message);
		buf_printf(
		    &message,
		    "an error on the server (\"%s\") has prevented the request from succeeding",
		    server_text);
	}
	json_t *status = json_pack("{s:s, s:s, s:s, s:s, s:I}", "kind", "Status", "status",
				   "Failure", "reason", reason, "message",
				   message.data ? message.data : "", "code", (json_int_t)code);
	buf_free(&text);
	buf_free(&message);
	return status;
}
