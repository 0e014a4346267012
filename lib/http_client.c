#include "http_client.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cleanup.h"
#include "curl_dl.h"

/* A hostile or broken server must not make us buffer without end. */
#define HTTP_MAX_BODY_BYTES (512u << 20)
#define HTTP_MAX_LINE_BYTES (64u << 20)
#define HTTP_MAX_WARNINGS 64
#define HTTP_CONNECT_TIMEOUT_SECONDS 30L

struct http_client {
	CURL *curl;
	char *server;
	char *host;
	char *authorization;
	char *user_agent;
	/* The CA as a file: libcurl's GnuTLS flavour (the one linked against the GnuTLS the rest
	 * of ckube uses, which spares the agent OpenSSL's 3 MiB) takes no CA blob. */
	int ca_fd;
	char ca_path[32]; /* /proc/self/fd/<ca_fd>, or "" */
	char *client_cert_pem;
	size_t client_cert_pem_len;
	char *client_key_pem;
	size_t client_key_pem_len;
	bool insecure;
};

struct exchange {
	const struct http_request *request;
	struct http_response *response;
	struct buf pending_line;
	bool stopped_by_reader;
	bool too_big;
};

static char *dup_bytes(const char *data, size_t len)
{
	char *copy = malloc(len + 1);
	if (copy) {
		memcpy(copy, data, len);
		copy[len] = '\0';
	}
	return copy;
}

/* "https://host:port/prefix" -> "host:port" */
static char *host_of(const char *url)
{
	const char *start = strstr(url, "://");
	start = start ? start + 3 : url;
	return strndup(start, strcspn(start, "/?#"));
}

void http_client_free(struct http_client *client)
{
	if (!client)
		return;
	if (client->curl)
		sym_curl_easy_cleanup(client->curl);
	free(client->server);
	free(client->host);
	free(client->authorization);
	free(client->user_agent);
	if (client->ca_fd >= 0)
		close(client->ca_fd);
	free(client->client_cert_pem);
	free(client->client_key_pem);
	free(client);
}

static void free_clientp(struct http_client **client)
{
	http_client_free(*client);
}

/* The PEM in an anonymous memory file, which the TLS library opens by its /proc path. */
static int ca_file(const char *pem, size_t len, int *fd_out, struct ck_error *err)
{
	int fd = memfd_create("ckube-ca", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0)
		return ck_error_errno(err, errno, "CA file");
	while (done < len) {
		ssize_t n = write(fd, pem + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = n < 0 ? errno : EIO;
			close(fd);
			return ck_error_errno(err, saved, "CA file");
		}
		done += (size_t)n;
	}
	*fd_out = fd;
	return 0;
}

int http_client_new(const struct http_client_options *options, struct http_client **out,
		    struct ck_error *err)
{
	if (!options->server || !*options->server)
		return ck_error_set(err, EINVAL, "HTTP client: no server URL");
	if (curl_ready(err) < 0)
		return ck_error_prefix(err, "HTTP client for %s", options->server);
	__attribute__((cleanup(free_clientp))) struct http_client *client =
	    calloc(1, sizeof(*client));
	if (!client)
		return ck_error_set(err, ENOMEM, "HTTP client");
	client->ca_fd = -1;
	size_t server_len = strlen(options->server);
	while (server_len > 0 && options->server[server_len - 1] == '/')
		server_len--;
	client->server = strndup(options->server, server_len);
	client->host = host_of(options->server);
	client->user_agent = strdup(options->user_agent ? options->user_agent : "ckube");
	client->curl = sym_curl_easy_init();
	if (!client->server || !client->host || !client->user_agent || !client->curl)
		return ck_error_set(err, ENOMEM, "HTTP client for %s", options->server);
	if (options->bearer_token &&
	    asprintf(&client->authorization, "Authorization: Bearer %s", options->bearer_token) < 0)
		return ck_error_set(err, ENOMEM, "HTTP client for %s", options->server);
	if (options->ca_pem) {
		int r = ca_file(options->ca_pem, options->ca_pem_len, &client->ca_fd, err);
		if (r < 0)
			return ck_error_prefix(err, "HTTP client for %s", options->server);
		snprintf(client->ca_path, sizeof(client->ca_path), "/proc/self/fd/%d",
			 client->ca_fd);
	}
	if (options->client_cert_pem && options->client_key_pem) {
		client->client_cert_pem =
		    dup_bytes(options->client_cert_pem, options->client_cert_pem_len);
		client->client_cert_pem_len = options->client_cert_pem_len;
		client->client_key_pem =
		    dup_bytes(options->client_key_pem, options->client_key_pem_len);
		client->client_key_pem_len = options->client_key_pem_len;
	}
	if (options->client_cert_pem && options->client_key_pem &&
	    (!client->client_cert_pem || !client->client_key_pem))
		return ck_error_set(err, ENOMEM, "HTTP client for %s", options->server);
	client->insecure = options->insecure_skip_tls_verify;
	*out = steal_ptr(&client);
	return 0;
}

const char *http_client_host(const struct http_client *client)
{
	return client->host;
}

void http_response_free(struct http_response *response)
{
	buf_free(&response->body);
	free(response->content_type);
	for (size_t i = 0; i < response->warning_count; i++)
		free(response->warnings[i]);
	free(response->warnings);
	*response = (struct http_response){0};
}

static void add_warning(struct http_response *response, const char *text, size_t len)
{
	if (response->warning_count >= HTTP_MAX_WARNINGS)
		return;
	char **grown = realloc(response->warnings, (response->warning_count + 1) * sizeof(*grown));
	char *copy = dup_bytes(text, len);
	if (!grown || !copy) {
		free(copy);
		if (grown)
			response->warnings = grown;
		return;
	}
	response->warnings = grown;
	response->warnings[response->warning_count++] = copy;
}

/* Warning: 299 - "text"[, 299 - "more"] (RFC 7234: code, agent, quoted text, optional date).
 * Malformed values are dropped, as client-go does. */
static void parse_warning_header(struct http_response *response, const char *value, size_t len)
{
	const char *p = value, *end = value + len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p >= end)
			return;
		const char *code = p;
		while (p < end && isdigit((unsigned char)*p))
			p++;
		if (p - code != 3 || p >= end || *p++ != ' ')
			return;
		while (p < end && *p != ' ')
			p++;
		if (p + 1 >= end || p[1] != '"')
			return;
		p += 2;
		_cleanup_buf_ struct buf text = {0};
		while (p < end && *p != '"') {
			if (*p == '\\' && p + 1 < end)
				p++;
			buf_putc(&text, *p++);
		}
		if (p >= end)
			return;
		p++;
		/* an optional quoted date follows */
		if (p + 1 < end && p[0] == ' ' && p[1] == '"') {
			const char *close = memchr(p + 2, '"', (size_t)(end - p - 2));
			p = close ? close + 1 : end;
		}
		add_warning(response, text.data ? text.data : "", text.len);
	}
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
		      size_t *value_len)
{
	size_t name_len = strlen(name);
	if (len <= name_len || strncasecmp(line, name, name_len) != 0 || line[name_len] != ':')
		return false;
	const char *v = line + name_len + 1;
	const char *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	*value = v;
	*value_len = (size_t)(end - v);
	return true;
}

static size_t on_header(char *data, size_t size, size_t count, void *userdata)
{
	struct exchange *x = userdata;
	size_t len = size * count;
	const char *value;
	size_t value_len;
	if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue or a redirect): forget the previous one. */
		http_response_free(x->response);
		const char *space = memchr(data, ' ', len);
		x->response->status = space ? strtol(space + 1, NULL, 10) : 0;
	} else if (header_is(data, len, "Content-Type", &value, &value_len)) {
		free(x->response->content_type);
		x->response->content_type = dup_bytes(value, value_len);
	} else if (header_is(data, len, "Warning", &value, &value_len)) {
		parse_warning_header(x->response, value, value_len);
	}
	return len;
}

static bool streaming(const struct exchange *x)
{
	return x->request->on_line && x->response->status >= 200 && x->response->status < 300;
}

/* Hands every complete line in the pending buffer to the reader; keeps the rest. */
static bool deliver_lines(struct exchange *x)
{
	struct buf *pending = &x->pending_line;
	size_t start = 0;
	while (!x->stopped_by_reader && start < pending->len) {
		char *newline = memchr(pending->data + start, '\n', pending->len - start);
		if (!newline)
			break;
		size_t line_len = (size_t)(newline - (pending->data + start)) + 1;
		if (x->request->on_line(x->request->ctx, pending->data + start, line_len) != 0)
			x->stopped_by_reader = true;
		start += line_len;
	}
	memmove(pending->data, pending->data + start, pending->len - start);
	pending->len -= start;
	pending->data[pending->len] = '\0';
	return !x->stopped_by_reader;
}

static size_t on_body(char *data, size_t size, size_t count, void *userdata)
{
	struct exchange *x = userdata;
	size_t len = size * count;
	if (!streaming(x)) {
		if (x->response->body.len + len > HTTP_MAX_BODY_BYTES) {
			x->too_big = true;
			return 0;
		}
		buf_append(&x->response->body, data, len);
		return len;
	}
	if (x->pending_line.len + len > HTTP_MAX_LINE_BYTES) {
		x->too_big = true;
		return 0;
	}
	buf_append(&x->pending_line, data, len);
	return deliver_lines(x) ? len : 0;
}

static void setup_tls(struct http_client *client)
{
	CURL *curl = client->curl;
	if (client->insecure) {
		sym_curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		sym_curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (*client->ca_path) {
		sym_curl_easy_setopt(curl, CURLOPT_CAINFO, client->ca_path);
	}
	if (client->client_cert_pem) {
		struct curl_blob cert = {client->client_cert_pem, client->client_cert_pem_len,
					 CURL_BLOB_NOCOPY};
		struct curl_blob key = {client->client_key_pem, client->client_key_pem_len,
					CURL_BLOB_NOCOPY};
		sym_curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
		sym_curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
		sym_curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
		sym_curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

static void free_slist(struct curl_slist **list)
{
	sym_curl_slist_free_all(*list);
}

static int add_header(struct curl_slist **headers, const char *name, const char *value)
{
	_cleanup_free_ char *line = NULL;
	if (asprintf(&line, "%s: %s", name, value) < 0)
		return -ENOMEM;
	struct curl_slist *grown = sym_curl_slist_append(*headers, line);
	if (!grown)
		return -ENOMEM;
	*headers = grown;
	return 0;
}

static int build_headers(const struct http_client *client, const struct http_request *request,
			 struct curl_slist **headers)
{
	int ret =
	    add_header(headers, "Accept", request->accept ? request->accept : "application/json");
	if (ret == 0 && request->body)
		ret =
		    add_header(headers, "Content-Type",
			       request->content_type ? request->content_type : "application/json");
	/* curl would otherwise wait for "100 Continue" before sending larger bodies */
	if (ret == 0)
		ret = add_header(headers, "Expect", "");
	if (ret == 0 && client->authorization) {
		struct curl_slist *grown = sym_curl_slist_append(*headers, client->authorization);
		ret = grown ? (*headers = grown, 0) : -ENOMEM;
	}
	return ret;
}

/* curl calls this about once a second even while nothing arrives. */
static int check_cancel(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load((const atomic_bool *)ctx) ? 1 : 0;
}

static int transfer_error(struct http_client *client, CURLcode code, const char *errbuf,
			  const char *method, const char *url, struct ck_error *err)
{
	long os_errno = 0;
	sym_curl_easy_getinfo(client->curl, CURLINFO_OS_ERRNO, &os_errno);
	int errno_code = EIO;
	if (code == CURLE_COULDNT_CONNECT)
		errno_code = os_errno ? (int)os_errno : ECONNREFUSED;
	else if (code == CURLE_OPERATION_TIMEDOUT)
		errno_code = ETIMEDOUT;
	else if (code == CURLE_COULDNT_RESOLVE_HOST)
		errno_code = EHOSTUNREACH;
	else if (code == CURLE_ABORTED_BY_CALLBACK)
		errno_code = ECANCELED;
	return ck_error_set(err, errno_code, "%s %s: %s", method, url,
			    *errbuf ? errbuf : sym_curl_easy_strerror(code));
}

int http_client_request(struct http_client *client, const struct http_request *request,
			struct http_response *response, struct ck_error *err)
{
	*response = (struct http_response){0};
	_cleanup_free_ char *url = NULL;
	if (asprintf(&url, "%s%s", client->server, request->path) < 0)
		return ck_error_set(err, ENOMEM, "%s %s", request->method, request->path);
	__attribute__((cleanup(free_slist))) struct curl_slist *headers = NULL;
	if (build_headers(client, request, &headers) < 0)
		return ck_error_set(err, ENOMEM, "%s %s: headers", request->method, url);

	CURL *curl = client->curl;
	sym_curl_easy_reset(curl);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct exchange x = {.request = request, .response = response};
	sym_curl_easy_setopt(curl, CURLOPT_URL, url);
	sym_curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	sym_curl_easy_setopt(curl, CURLOPT_USERAGENT, client->user_agent);
	sym_curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	sym_curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT_SECONDS);
	sym_curl_easy_setopt(curl, CURLOPT_TIMEOUT, request->timeout_seconds);
	sym_curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	sym_curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
	sym_curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	sym_curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
	sym_curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request->method);
	if (request->body) {
		sym_curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
				     (curl_off_t)request->body_len);
		sym_curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->body);
	} else if (strcmp(request->method, "GET") == 0) {
		sym_curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	if (request->cancel) {
		sym_curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
		sym_curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, check_cancel);
		sym_curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)request->cancel);
	}
	setup_tls(client);

	CURLcode code = sym_curl_easy_perform(curl);
	if (code == CURLE_WRITE_ERROR && x.stopped_by_reader)
		code = CURLE_OK;
	if (code == CURLE_OK && !x.stopped_by_reader && x.pending_line.len > 0)
		request->on_line(request->ctx, x.pending_line.data, x.pending_line.len);
	buf_free(&x.pending_line);
	if (x.too_big)
		return ck_error_set(err, EFBIG, "%s %s: response larger than this client accepts",
				    request->method, url);
	if (code != CURLE_OK)
		return transfer_error(client, code, errbuf, request->method, url, err);
	return 0;
}

char *http_escape(const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf out = {0};
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (isalnum(*p) || strchr("-._~", *p)) {
			buf_putc(&out, (char)*p);
		} else {
			char escaped[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			buf_append(&out, escaped, 3);
		}
	}
	return buf_steal(&out);
}
