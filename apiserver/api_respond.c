#include "api_respond.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

void respond_json_with_type(struct http_response *resp, unsigned code, const char *content_type,
			    json_t *doc)
{
	resp->status = code;
	resp->content_type = content_type;
	buf_reset(&resp->body);
	char *text = json_dump_compact(doc);
	buf_puts(&resp->body, text);
	buf_putc(&resp->body, '\n');
	free(text);
	json_decref(doc);
}

void respond_json(struct http_response *resp, unsigned code, json_t *doc)
{
	respond_json_with_type(resp, code, CONTENT_TYPE_JSON, doc);
}

void respond_text(struct http_response *resp, unsigned code, const char *content_type, char *text)
{
	resp->status = code;
	resp->content_type = content_type;
	buf_free(&resp->body);
	size_t len = strlen(text);
	resp->body.data = text;
	resp->body.len = len;
	resp->body.cap = len + 1;
}

void respond_status(struct http_response *resp, const struct api_status *status)
{
	respond_json(resp, status->code, api_status_to_json(status));
}

void respond_error(struct http_response *resp, unsigned code, const char *reason, const char *fmt,
		   ...)
{
	struct api_status status = {0};
	va_list ap;
	va_start(ap, fmt);
	char message[1024];
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	api_fail(&status, code, reason, "%s", message);
	respond_status(resp, &status);
	api_status_clear(&status);
}

void respond_warning(struct http_response *resp, const char *text)
{
	_cleanup_buf_ struct buf header = {0};
	if (resp->warning) {
		buf_puts(&header, resp->warning);
		buf_puts(&header, ", ");
	}
	/* Warning header values are quoted strings: escape quotes and backslashes. */
	buf_puts(&header, "299 - \"");
	for (const char *p = text; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(&header, '\\');
		if ((unsigned char)*p >= 0x20)
			buf_putc(&header, *p);
	}
	buf_putc(&header, '"');
	free(resp->warning);
	resp->warning = buf_steal(&header);
}
