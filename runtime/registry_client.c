#include "runtime/registry_client.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/curl_dl.h"
#include "lib/version.h"

#define TOKEN_RESPONSE_MAX_BYTES (1 << 20)
#define ERROR_BODY_MAX_BYTES (64 << 10)
#define HEADER_VALUE_MAX_BYTES (16 << 10)
#define REGISTRY_MESSAGE_MAX_CHARS 300
#define MAX_REDIRECTS 10L
#define CONNECT_TIMEOUT_SECONDS 30L
/* Manifests, tokens and pings are small: a whole exchange gets this long. Blobs have no total
 * limit; a transfer stalled for STALL_SECONDS is given up instead. */
#define SMALL_REQUEST_TIMEOUT_SECONDS 120L
#define STALL_SECONDS 60L

#define MANIFEST_ACCEPT                                                      \
	"Accept: " MEDIA_TYPE_OCI_INDEX ", " MEDIA_TYPE_DOCKER_MANIFEST_LIST \
	", " MEDIA_TYPE_OCI_MANIFEST ", " MEDIA_TYPE_DOCKER_MANIFEST

enum auth_scheme { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct challenge {
	enum auth_scheme scheme;
	char *realm;
	char *service;
	char *scope;
};

struct registry_client {
	CURL *curl;
	char *api; /* "<endpoint>/v2" */
	char *repository;
	struct registry_endpoint endpoint; /* credentials and TLS settings */
	bool https;
	char *bearer_header; /* "Authorization: Bearer <token>" once a token was issued */
	bool send_basic;     /* the registry itself wants basic credentials */
	char curl_detail[CURL_ERROR_SIZE];
};

/* What one HTTP exchange produced: the final response's status, a few headers and the body
 * (into `writer` for a blob, else collected up to `body_limit`). */
struct transfer {
	CURL *curl;
	long status;
	struct buf body;
	size_t body_limit;
	bool too_big;
	struct blob_writer *writer;
	const struct pull_progress *progress;
	const char *digest;
	int64_t done;
	int64_t total;
	bool write_failed;
	struct ck_error write_error;
	char *content_type;
	char *content_digest;
	char *authenticate; /* the WWW-Authenticate challenge to answer (Bearer preferred) */
};

struct request {
	const char *label; /* "GET <url>", for messages */
	const char *url;
	const char *accept_header; /* "Accept: ..." or NULL */
	bool with_registry_auth;   /* bearer token or basic credentials of the registry */
	bool with_basic;           /* basic credentials, for the token service */
	long timeout;
};

static void challenge_clear(struct challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

static void transfer_reset(struct transfer *t)
{
	buf_reset(&t->body);
	t->too_big = false;
	free(t->content_type);
	free(t->content_digest);
	free(t->authenticate);
	t->content_type = t->content_digest = t->authenticate = NULL;
}

static void transfer_free(struct transfer *t)
{
	transfer_reset(t);
	buf_free(&t->body);
}

void registry_client_free(struct registry_client *client)
{
	if (!client)
		return;
	if (client->curl)
		sym_curl_easy_cleanup(client->curl);
	free(client->api);
	free(client->repository);
	registry_endpoint_clear(&client->endpoint);
	free(client->bearer_header);
	free(client);
}

/* Repositories come from parsed references; checked again because they go into URLs. */
static bool repository_safe(const char *repository)
{
	return repository[0] &&
	       strspn(repository, "abcdefghijklmnopqrstuvwxyz0123456789._-/") ==
		   strlen(repository) &&
	       !strstr(repository, "..") && repository[0] != '/';
}

static bool tag_or_digest_safe(const char *reference)
{
	if (image_digest_valid(reference))
		return true;
	size_t len = strlen(reference);
	return len > 0 && len <= 128 && reference[0] != '.' && reference[0] != '-' &&
	       strspn(reference,
		      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

int registry_client_new(const struct registry_endpoint *endpoint, const char *repository,
			struct registry_client **out, struct ck_error *err)
{
	if (!repository_safe(repository))
		return ck_error_set(err, EINVAL, "registry client: bad repository name \"%s\"",
				    repository);
	bool https = strncmp(endpoint->url, "https://", 8) == 0;
	if (!https && strncmp(endpoint->url, "http://", 7) != 0)
		return ck_error_set(err, EINVAL, "registry %s: not an http(s) URL", endpoint->url);
	if (curl_ready(err) < 0)
		return ck_error_prefix(err, "registry %s", endpoint->url);
	struct registry_client *client = calloc(1, sizeof(*client));
	if (!client)
		return ck_error_set(err, ENOMEM, "registry %s: out of memory", endpoint->url);
	client->https = https;
	size_t url_len = strlen(endpoint->url);
	while (url_len && endpoint->url[url_len - 1] == '/')
		url_len--;
	bool has_v2 = url_len >= 3 && strncmp(endpoint->url + url_len - 3, "/v2", 3) == 0;
	int ret =
	    asprintf(&client->api, "%.*s%s", (int)url_len, endpoint->url, has_v2 ? "" : "/v2") < 0
		? -ENOMEM
		: 0;
	if (ret < 0)
		client->api = NULL;
	if (ret == 0 && !(client->repository = strdup(repository)))
		ret = -ENOMEM;
	if (ret == 0)
		ret = registry_endpoint_copy(endpoint, endpoint->url, &client->endpoint);
	if (ret == 0 && !(client->curl = sym_curl_easy_init()))
		ret = -ENOMEM;
	if (ret < 0) {
		registry_client_free(client);
		return ck_error_set(err, ENOMEM, "registry %s: out of memory", endpoint->url);
	}
	*out = client;
	return 0;
}

/* --- one HTTP exchange --------------------------------------------------------------------- */

static char *trimmed_copy(const char *data, size_t len)
{
	while (len && isspace((unsigned char)*data)) {
		data++;
		len--;
	}
	while (len && isspace((unsigned char)data[len - 1]))
		len--;
	return len <= HEADER_VALUE_MAX_BYTES ? strndup(data, len) : NULL;
}

static void replace(char **slot, char *value)
{
	free(*slot);
	*slot = value;
}

static size_t on_header(char *data, size_t size, size_t count, void *ctx)
{
	struct transfer *t = ctx;
	size_t len = size * count;
	/* A new status line starts a new response (after a redirect or a 100 Continue). */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		transfer_reset(t);
		return len;
	}
	const char *colon = memchr(data, ':', len);
	if (!colon)
		return len;
	size_t name_len = (size_t)(colon - data);
	const char *value = colon + 1;
	size_t value_len = len - name_len - 1;
#define HEADER_IS(name) (name_len == strlen(name) && strncasecmp(data, name, name_len) == 0)
	if (HEADER_IS("Content-Type")) {
		replace(&t->content_type, trimmed_copy(value, value_len));
	} else if (HEADER_IS("Docker-Content-Digest")) {
		replace(&t->content_digest, trimmed_copy(value, value_len));
	} else if (HEADER_IS("WWW-Authenticate")) {
		char *challenge = trimmed_copy(value, value_len);
		bool bearer = challenge && strncasecmp(challenge, "Bearer ", 7) == 0;
		if (challenge && (!t->authenticate || bearer))
			replace(&t->authenticate, challenge);
		else
			free(challenge);
	}
#undef HEADER_IS
	return len;
}

static size_t on_body(char *data, size_t size, size_t count, void *ctx)
{
	struct transfer *t = ctx;
	size_t len = size * count;
	sym_curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
	bool success = t->status >= 200 && t->status < 300;
	if (t->writer && success) {
		if (blob_writer_write(t->writer, data, len, &t->write_error) < 0) {
			t->write_failed = true;
			return 0;
		}
		t->done += (int64_t)len;
		if (t->progress && t->progress->update)
			t->progress->update(t->progress->ctx, t->digest, t->done, t->total);
		return len;
	}
	size_t limit = success ? t->body_limit : ERROR_BODY_MAX_BYTES;
	if (t->body.len + len > limit) {
		if (!success)
			return len; /* the status says enough; the rest of the text is dropped */
		t->too_big = true;
		return 0;
	}
	buf_append(&t->body, data, len);
	return len;
}

static int transport_errno(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_TOO_MANY_REDIRECTS:
		return ELOOP;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return EPROTO;
	default:
		return EIO;
	}
}

static void set_tls_options(struct registry_client *c)
{
	const struct registry_endpoint *e = &c->endpoint;
	if (e->ca_file)
		sym_curl_easy_setopt(c->curl, CURLOPT_CAINFO, e->ca_file);
	if (e->cert_file) {
		sym_curl_easy_setopt(c->curl, CURLOPT_SSLCERT, e->cert_file);
		sym_curl_easy_setopt(c->curl, CURLOPT_SSLKEY, e->key_file);
	}
	if (e->insecure_tls) {
		sym_curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		sym_curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static int perform(struct registry_client *c, const struct request *req, struct transfer *t,
		   struct ck_error *err)
{
	CURL *curl = c->curl;
	struct curl_slist *headers = NULL;
	sym_curl_easy_reset(curl);
	t->curl = curl;
	t->status = 0;
	transfer_reset(t);
	c->curl_detail[0] = '\0';
	/* Never follow a redirect from https down to plain http. */
	const char *protocols = c->https ? "https" : "http,https";
	sym_curl_easy_setopt(curl, CURLOPT_URL, req->url);
	sym_curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, protocols);
	sym_curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	sym_curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	sym_curl_easy_setopt(curl, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
	sym_curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(curl, CURLOPT_USERAGENT, "ckube/" CKUBE_VERSION);
	sym_curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECONDS);
	sym_curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	sym_curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
	sym_curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->timeout);
	sym_curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c->curl_detail);
	sym_curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	sym_curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
	sym_curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	sym_curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
	set_tls_options(c);
	bool basic = req->with_basic || (req->with_registry_auth && c->send_basic);
	if (basic && c->endpoint.username) {
		/* libcurl sends these to the first host only, never to a redirect's target. */
		sym_curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		sym_curl_easy_setopt(curl, CURLOPT_USERNAME, c->endpoint.username);
		sym_curl_easy_setopt(curl, CURLOPT_PASSWORD,
				     c->endpoint.password ? c->endpoint.password : "");
	}
	if (req->accept_header)
		headers = sym_curl_slist_append(headers, req->accept_header);
	/* Custom Authorization headers are likewise dropped on redirects to other hosts. */
	if (req->with_registry_auth && c->bearer_header && !c->send_basic)
		headers = sym_curl_slist_append(headers, c->bearer_header);
	sym_curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	CURLcode code = sym_curl_easy_perform(curl);
	sym_curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	sym_curl_slist_free_all(headers);
	sym_curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t->status);
	if (code == CURLE_WRITE_ERROR && t->write_failed) {
		if (err)
			*err = t->write_error;
		return -t->write_error.code;
	}
	if (code == CURLE_WRITE_ERROR && t->too_big)
		return ck_error_set(err, EFBIG, "%s: the answer is larger than %zu bytes",
				    req->label, t->body_limit);
	if (code != CURLE_OK)
		return ck_error_set(err, transport_errno(code), "%s: %s", req->label,
				    c->curl_detail[0] ? c->curl_detail
						      : sym_curl_easy_strerror(code));
	return 0;
}

/* --- errors the registry states -------------------------------------------------------------- */

/* Registry text ends up in pod events and logs: printable ASCII only, and not too much. */
static void sanitize_into(char *out, size_t size, const char *text)
{
	size_t n = 0;
	for (; text && *text && n + 1 < size; text++)
		out[n++] = (*text >= ' ' && *text <= '~') ? *text : '?';
	out[n] = '\0';
}

static int status_errno(long status)
{
	switch (status) {
	case 401:
	case 403:
		return EACCES;
	case 404:
		return ENOENT;
	case 429:
		return EAGAIN;
	default:
		return EIO;
	}
}

/* The message of the distribution API's error body ({"errors":[{"code","message"}]}), or a
 * description of the status. */
static int http_error(const struct transfer *t, const char *what, struct ck_error *err)
{
	char stated[REGISTRY_MESSAGE_MAX_CHARS + 1] = "";
	_cleanup_json_ json_t *doc =
	    t->body.len ? json_loadb(t->body.data, t->body.len, 0, NULL) : NULL;
	const json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
	const char *message = json_string_value(json_object_get(first, "message"));
	if (!message || !*message)
		message = json_string_value(json_object_get(first, "code"));
	sanitize_into(stated, sizeof(stated), message);
	if (stated[0])
		return ck_error_set(err, status_errno(t->status), "%s: %s", what, stated);
	switch (t->status) {
	case 401:
		return ck_error_set(err, EACCES, "%s: unauthorized: authentication required", what);
	case 403:
		return ck_error_set(err, EACCES, "%s: denied: access to the resource is denied",
				    what);
	case 404:
		return ck_error_set(err, ENOENT, "%s: not found", what);
	case 429:
		return ck_error_set(err, EAGAIN, "%s: toomanyrequests: rate limit reached", what);
	default:
		return ck_error_set(err, EIO, "%s: the registry answered HTTP %ld", what,
				    t->status);
	}
}

/* --- authentication ------------------------------------------------------------------------ */

/* auth-param value: a token or a quoted string with backslash escapes. */
static char *challenge_value(const char **cursor)
{
	const char *p = *cursor;
	struct buf value = {0};
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			buf_putc(&value, *p);
		}
		if (*p == '"')
			p++;
	} else {
		size_t len = strcspn(p, ", \t");
		buf_append(&value, p, len);
		p += len;
	}
	*cursor = p;
	return buf_steal(&value);
}

/* `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`.
 * Only the first challenge of the header is read: a token without "=" after it starts the next
 * one. */
static int parse_challenge(const char *header, struct challenge *out)
{
	memset(out, 0, sizeof(*out));
	size_t scheme_len = strcspn(header, " \t");
	if (scheme_len == 6 && strncasecmp(header, "Bearer", 6) == 0)
		out->scheme = AUTH_BEARER;
	else if (scheme_len == 5 && strncasecmp(header, "Basic", 5) == 0)
		out->scheme = AUTH_BASIC;
	else
		return 0;
	const char *p = header + scheme_len;
	for (;;) {
		p += strspn(p, " \t,");
		size_t name_len = strcspn(p, "= \t,");
		if (!*p || p[name_len] != '=')
			break;
		const char *name = p;
		p += name_len + 1;
		char *value = challenge_value(&p);
		char **slot = NULL;
		if (name_len == 5 && strncasecmp(name, "realm", 5) == 0)
			slot = &out->realm;
		else if (name_len == 7 && strncasecmp(name, "service", 7) == 0)
			slot = &out->service;
		else if (name_len == 5 && strncasecmp(name, "scope", 5) == 0)
			slot = &out->scope;
		if (slot)
			replace(slot, value);
		else
			free(value);
	}
	return 0;
}

static bool token_safe(const char *token)
{
	if (!token || !*token)
		return false;
	for (; *token; token++) {
		if (*token <= ' ' || *token > '~')
			return false;
	}
	return true;
}

static char *token_url(struct registry_client *c, const struct challenge *ch)
{
	_cleanup_free_ char *default_scope = NULL;
	const char *scope = ch->scope;
	if (!scope) {
		if (asprintf(&default_scope, "repository:%s:pull", c->repository) < 0)
			return NULL;
		scope = default_scope;
	}
	char *service = ch->service ? sym_curl_easy_escape(c->curl, ch->service, 0) : NULL;
	char *escaped_scope = sym_curl_easy_escape(c->curl, scope, 0);
	char *url = NULL;
	if (escaped_scope &&
	    asprintf(&url, "%s%cscope=%s%s%s", ch->realm, strchr(ch->realm, '?') ? '&' : '?',
		     escaped_scope, service ? "&service=" : "", service ? service : "") < 0)
		url = NULL;
	sym_curl_free(service);
	sym_curl_free(escaped_scope);
	return url;
}

/* GET realm?scope=...&service=..., with the basic credentials when there are some: the token
 * service answers {"token": ...} (or "access_token"). */
static int fetch_token(struct registry_client *c, const struct challenge *ch, struct ck_error *err)
{
	if (!ch->realm || (strncmp(ch->realm, "https://", 8) != 0 &&
			   (c->https || strncmp(ch->realm, "http://", 7) != 0)))
		return ck_error_set(err, EPROTO, "registry %s: the token realm is not an %s URL",
				    c->api, c->https ? "https" : "http(s)");
	_cleanup_free_ char *url = token_url(c, ch);
	_cleanup_free_ char *label = NULL;
	char realm[REGISTRY_MESSAGE_MAX_CHARS + 1];
	sanitize_into(realm, sizeof(realm), ch->realm);
	if (!url || asprintf(&label, "get token from %s", realm) < 0)
		return ck_error_set(err, ENOMEM, "registry %s: out of memory", c->api);
	struct request req = {.label = label,
			      .url = url,
			      .with_basic = true,
			      .timeout = SMALL_REQUEST_TIMEOUT_SECONDS};
	struct transfer t = {.body_limit = TOKEN_RESPONSE_MAX_BYTES};
	int ret = perform(c, &req, &t, err);
	if (ret == 0 && t.status != 200)
		ret = http_error(&t, label, err);
	_cleanup_json_ json_t *doc = ret == 0 ? json_loadb(t.body.data, t.body.len, 0, NULL) : NULL;
	transfer_free(&t);
	if (ret < 0)
		return ret;
	const char *token = json_string_value(json_object_get(doc, "token"));
	if (!token_safe(token))
		token = json_string_value(json_object_get(doc, "access_token"));
	if (!token_safe(token))
		return ck_error_set(err, EPROTO, "%s: the answer holds no usable token", label);
	free(c->bearer_header);
	if (asprintf(&c->bearer_header, "Authorization: Bearer %s", token) < 0) {
		c->bearer_header = NULL;
		return ck_error_set(err, ENOMEM, "%s: out of memory", label);
	}
	return 0;
}

/* Answers a 401: 1 when there is something new to try, 0 when not, or a failure. */
static int authenticate(struct registry_client *c, const struct transfer *t, struct ck_error *err)
{
	if (!t->authenticate)
		return 0;
	struct challenge ch;
	parse_challenge(t->authenticate, &ch);
	int ret = 0;
	if (ch.scheme == AUTH_BEARER) {
		ret = fetch_token(c, &ch, err);
		ret = ret < 0 ? ret : 1;
	} else if (ch.scheme == AUTH_BASIC && c->endpoint.username && !c->send_basic) {
		c->send_basic = true;
		ret = 1;
	}
	challenge_clear(&ch);
	return ret;
}

/* One request to the registry, answering its challenge once when it asks for credentials. */
static int registry_request(struct registry_client *c, const struct request *req,
			    struct transfer *t, struct ck_error *err)
{
	for (int attempt = 0;; attempt++) {
		int ret = perform(c, req, t, err);
		if (ret < 0 || t->status != 401 || attempt > 0)
			return ret;
		if ((ret = authenticate(c, t, err)) <= 0)
			return ret;
	}
}

/* --- the API ------------------------------------------------------------------------------- */

int registry_ping(struct registry_client *client, struct ck_error *err)
{
	_cleanup_free_ char *url = NULL;
	if (asprintf(&url, "%s/", client->api) < 0)
		return ck_error_set(err, ENOMEM, "registry %s: out of memory", client->api);
	_cleanup_free_ char *label = NULL;
	if (asprintf(&label, "GET %s", url) < 0)
		return ck_error_set(err, ENOMEM, "registry %s: out of memory", client->api);
	struct request req = {.label = label,
			      .url = url,
			      .with_registry_auth = true,
			      .timeout = SMALL_REQUEST_TIMEOUT_SECONDS};
	struct transfer t = {.body_limit = ERROR_BODY_MAX_BYTES};
	int ret = registry_request(client, &req, &t, err);
	if (ret == 0 && t.status == 404)
		ret = ck_error_set(err, EPROTO, "%s: not a registry (HTTP 404)", label);
	else if (ret == 0 && t.status != 200)
		ret = http_error(&t, label, err);
	transfer_free(&t);
	return ret;
}

void registry_manifest_clear(struct registry_manifest *manifest)
{
	free(manifest->media_type);
	free(manifest->body);
	json_decref(manifest->json);
	memset(manifest, 0, sizeof(*manifest));
}

static int check_manifest(const struct transfer *t, const char *reference, const char *what,
			  struct registry_manifest *out, struct ck_error *err)
{
	int ret = image_digest_of(t->body.data ? t->body.data : "", t->body.len, out->digest, err);
	if (ret < 0)
		return ret;
	const char *expected = image_digest_valid(reference) ? reference : NULL;
	if (!expected && t->content_digest && strncmp(t->content_digest, "sha256:", 7) == 0)
		expected = t->content_digest;
	if (expected && strcmp(expected, out->digest) != 0) {
		char stated[IMAGE_DIGEST_LENGTH + 1];
		sanitize_into(stated, sizeof(stated), expected);
		return ck_error_set(err, EIO, "%s: digest mismatch: expected %s, got %s", what,
				    stated, out->digest);
	}
	json_error_t json_err;
	out->json = json_loadb(t->body.data ? t->body.data : "", t->body.len, 0, &json_err);
	if (!json_is_object(out->json))
		return ck_error_set(err, EPROTO, "%s: not a JSON object (%s)", what,
				    out->json ? "wrong type" : json_err.text);
	const char *type = image_manifest_type(out->json, t->content_type);
	if (!type) {
		const char *stated = json_string_value(json_object_get(out->json, "mediaType"));
		char shown[REGISTRY_MESSAGE_MAX_CHARS + 1];
		sanitize_into(shown, sizeof(shown), stated ? stated : t->content_type);
		return ck_error_set(err, EPROTO, "%s: unsupported manifest type \"%s\"", what,
				    shown);
	}
	out->media_type = strdup(type);
	out->len = t->body.len;
	out->body = malloc(t->body.len + 1);
	if (!out->media_type || !out->body)
		return ck_error_set(err, ENOMEM, "%s: out of memory", what);
	memcpy(out->body, t->body.data ? t->body.data : "", t->body.len);
	out->body[t->body.len] = '\0';
	return 0;
}

int registry_fetch_manifest(struct registry_client *client, const char *reference,
			    struct registry_manifest *out, struct ck_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!tag_or_digest_safe(reference))
		return ck_error_set(err, EINVAL, "manifest: bad tag or digest \"%.200s\"",
				    reference);
	_cleanup_free_ char *url = NULL, *what = NULL;
	if (asprintf(&url, "%s/%s/manifests/%s", client->api, client->repository, reference) < 0 ||
	    asprintf(&what, "manifest %s", reference) < 0)
		return ck_error_set(err, ENOMEM, "manifest %s: out of memory", reference);
	_cleanup_free_ char *label = NULL;
	if (asprintf(&label, "GET %s", url) < 0)
		return ck_error_set(err, ENOMEM, "manifest %s: out of memory", reference);
	struct request req = {.label = label,
			      .url = url,
			      .accept_header = MANIFEST_ACCEPT,
			      .with_registry_auth = true,
			      .timeout = SMALL_REQUEST_TIMEOUT_SECONDS};
	struct transfer t = {.body_limit = REGISTRY_MANIFEST_MAX_BYTES};
	int ret = registry_request(client, &req, &t, err);
	if (ret == 0 && t.status != 200)
		ret = http_error(&t, what, err);
	if (ret == 0)
		ret = check_manifest(&t, reference, what, out, err);
	transfer_free(&t);
	if (ret < 0)
		registry_manifest_clear(out);
	return ret;
}

int registry_resolve(struct registry_client *client, const char *reference, char *named_digest,
		     struct registry_manifest *out, struct ck_error *err)
{
	struct registry_manifest current;
	int ret = registry_fetch_manifest(client, reference, &current, err);
	if (ret < 0)
		return ret;
	strcpy(named_digest, current.digest);
	for (int depth = 0; image_media_type_is_index(current.media_type); depth++) {
		const json_t *entry = image_index_choose(current.json);
		const char *chosen = json_string_value(json_object_get(entry, "digest"));
		if (depth == IMAGE_INDEX_MAX_DEPTH || !chosen) {
			ret = ck_error_set(err, ENOENT, "manifest %s: %s", reference,
					   chosen ? "indexes nested too deeply"
						  : "no image for linux/amd64 in the list");
			registry_manifest_clear(&current);
			return ret;
		}
		char digest[IMAGE_DIGEST_LENGTH + 1];
		strcpy(digest, chosen);
		registry_manifest_clear(&current);
		if ((ret = registry_fetch_manifest(client, digest, &current, err)) < 0)
			return ck_error_prefix(err, "%s for linux/amd64", reference);
	}
	*out = current;
	return 0;
}

int registry_fetch_blob(struct registry_client *client, const char *digest, int64_t size,
			struct blob_writer *writer, const struct pull_progress *progress,
			struct ck_error *err)
{
	if (!image_digest_valid(digest))
		return ck_error_set(err, EINVAL, "blob: bad digest \"%.100s\"", digest);
	_cleanup_free_ char *url = NULL, *what = NULL, *label = NULL;
	if (asprintf(&url, "%s/%s/blobs/%s", client->api, client->repository, digest) < 0 ||
	    asprintf(&what, "blob %s", digest) < 0 || asprintf(&label, "GET %s", url) < 0)
		return ck_error_set(err, ENOMEM, "blob %s: out of memory", digest);
	if (progress && progress->update)
		progress->update(progress->ctx, digest, 0, size);
	struct request req = {.label = label, .url = url, .with_registry_auth = true};
	struct transfer t = {.body_limit = 0,
			     .writer = writer,
			     .progress = progress,
			     .digest = digest,
			     .total = size};
	int ret = registry_request(client, &req, &t, err);
	if (ret == 0 && (t.status < 200 || t.status >= 300))
		ret = http_error(&t, what, err);
	transfer_free(&t);
	return ret;
}
