/* The HTTP client and kubectl's request layer against a small HTTP server on the loopback
 * interface: headers, bodies, streamed lines, warnings, error answers, paging and watches. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubectl/api.h"
#include "kubectl/collection.h"
#include "kubectl/status.h"
#include "lib/cleanup.h"
#include "lib/http_client.h"
#include "lib/json_util.h"

/* What the server saw of the last request, and what it answers. */
struct exchange_log {
	char request[8192];
	char body[4096];
	size_t request_count;
};

typedef void (*answer_fn)(const char *head, const char *body, struct buf *answer);

struct test_server {
	int listener;
	int port;
	pthread_t thread;
	answer_fn answer;
	struct exchange_log log;
};

static void read_request(int fd, struct test_server *s)
{
	struct buf in = {0};
	char chunk[4096];
	char *end = NULL;
	ssize_t n;
	while (!(end = in.data ? strstr(in.data, "\r\n\r\n") : NULL) &&
	       (n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&in, chunk, (size_t)n);
	if (!end) {
		buf_free(&in);
		return;
	}
	size_t head_len = (size_t)(end - in.data) + 4;
	const char *length = strcasestr(in.data, "\r\nContent-Length: ");
	size_t body_len = length && length < end ? strtoul(length + 18, NULL, 10) : 0;
	while (in.len < head_len + body_len && (n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&in, chunk, (size_t)n);
	snprintf(s->log.request, sizeof(s->log.request), "%.*s", (int)head_len, in.data);
	snprintf(s->log.body, sizeof(s->log.body), "%.*s", (int)body_len, in.data + head_len);
	s->log.request_count++;
	buf_free(&in);
}

static void *serve(void *arg)
{
	struct test_server *s = arg;
	for (;;) {
		int fd = accept(s->listener, NULL, NULL);
		if (fd < 0)
			return NULL;
		read_request(fd, s);
		struct buf answer = {0};
		s->answer(s->log.request, s->log.body, &answer);
		for (size_t off = 0; off < answer.len;) {
			ssize_t n = write(fd, answer.data + off, answer.len - off);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		buf_free(&answer);
		close(fd);
	}
}

static struct test_server *start_server(answer_fn answer)
{
	struct test_server *s = calloc(1, sizeof(*s));
	s->answer = answer;
	s->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	assert_int_equal(bind(s->listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(s->listener, 8), 0);
	assert_int_equal(getsockname(s->listener, (struct sockaddr *)&addr, &len), 0);
	s->port = ntohs(addr.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
	return s;
}

static void stop_server(struct test_server *s)
{
	shutdown(s->listener, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->listener);
	free(s);
}

static void reply(struct buf *answer, const char *status, const char *headers, const char *body)
{
	buf_printf(answer, "HTTP/1.1 %s\r\nConnection: close\r\n%s\r\n%s", status, headers, body);
}

/* Answers by path, as the API server would. */
static void api_answers(const char *head, const char *body, struct buf *answer)
{
	(void)body;
	if (strstr(head, "GET /api/v1/namespaces/default/pods/web ")) {
		reply(answer, "200 OK",
		      "Content-Type: application/json\r\nWarning: 299 - \"first \\\"quoted\\\"\", "
		      "299 "
		      "- \"second\"\r\nWarning: 299 - \"third\" \"Mon, 01 Jan 2024 00:00:00 "
		      "GMT\"\r\n",
		      "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\"}}");
	} else if (strstr(head, "GET /api/v1/namespaces/default/pods/nope ")) {
		reply(answer, "404 Not Found", "Content-Type: application/json\r\n",
		      "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"pods \\\"nope\\\" "
		      "not "
		      "found\",\"reason\":\"NotFound\",\"code\":404}");
	} else if (strstr(head, "GET /text ")) {
		reply(answer, "503 Service Unavailable", "Content-Type: text/plain\r\n", "busy\n");
	} else if (strstr(head, "GET /lines ")) {
		reply(answer, "200 OK", "Content-Type: text/plain\r\n", "one\ntwo\n\nlast");
	} else if (strstr(head, "GET /api/v1/pods?limit=500 ")) {
		reply(answer, "200 OK", "Content-Type: application/json\r\n",
		      "{\"kind\":\"PodList\",\"metadata\":{\"continue\":\"t/"
		      "1=\"},\"items\":[{\"a\":1}]}");
	} else if (strstr(head, "GET /api/v1/pods?limit=500&continue=t%2F1%3D ")) {
		reply(answer, "200 OK", "Content-Type: application/json\r\n",
		      "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[{"
		      "\"b\":2}]}");
	} else if (strstr(head, "GET /api/v1/pods?resourceVersion=9&watch=true ")) {
		reply(answer, "200 OK", "Content-Type: application/json\r\n",
		      "{\"type\":\"ADDED\",\"object\":{\"n\":1}}\n\n"
		      "{\"type\":\"BOOKMARK\",\"object\":{\"n\":0}}\n"
		      "{\"type\":\"MODIFIED\",\"object\":{\"n\":2}}\n"
		      "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"reason\":\"Expired\","
		      "\"message\":\"too old resource version\",\"code\":410}}\n"
		      "{\"type\":\"DELETED\",\"object\":{\"n\":3}}\n");
	} else {
		reply(answer, "200 OK", "Content-Type: application/json\r\n", "{}");
	}
}

static char *url_of(const struct test_server *s)
{
	char *url = NULL;
	assert_true(asprintf(&url, "http://127.0.0.1:%d/", s->port) > 0);
	return url;
}

static struct http_client *client_for(const struct test_server *s)
{
	_cleanup_free_ char *url = url_of(s);
	struct http_client_options options = {.server = url, .bearer_token = "tok3n"};
	struct http_client *client = NULL;
	struct ck_error err = {0};
	assert_int_equal(http_client_new(&options, &client, &err), 0);
	return client;
}

static void requests_carry_token_accept_and_body(void **state)
{
	(void)state;
	struct test_server *s = start_server(api_answers);
	struct http_client *client = client_for(s);
	char host[32];
	snprintf(host, sizeof(host), "127.0.0.1:%d", s->port);
	assert_string_equal(http_client_host(client), host);

	struct http_request get = {.method = "GET",
				   .path = "/api/v1/namespaces/default/pods/web",
				   .accept = "application/json;as=Table"};
	struct http_response response;
	struct ck_error err = {0};
	assert_int_equal(http_client_request(client, &get, &response, &err), 0);
	assert_int_equal(response.status, 200);
	assert_string_equal(response.body.data,
			    "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\"}}");
	assert_string_equal(response.content_type, "application/json");
	assert_int_equal(response.warning_count, 3);
	assert_string_equal(response.warnings[0], "first \"quoted\"");
	assert_string_equal(response.warnings[1], "second");
	assert_string_equal(response.warnings[2], "third");
	assert_non_null(strstr(s->log.request, "\r\nAuthorization: Bearer tok3n\r\n"));
	assert_non_null(strstr(s->log.request, "\r\nAccept: application/json;as=Table\r\n"));
	http_response_free(&response);

	const char body[] = "{\"propagationPolicy\":\"Background\"}";
	struct http_request del = {.method = "DELETE",
				   .path = "/api/v1/namespaces/default/pods/web",
				   .body = body,
				   .body_len = strlen(body)};
	assert_int_equal(http_client_request(client, &del, &response, &err), 0);
	assert_non_null(strstr(s->log.request, "DELETE /api/v1/namespaces/default/pods/web HTTP"));
	assert_non_null(strstr(s->log.request, "\r\nContent-Type: application/json\r\n"));
	assert_string_equal(s->log.body, body);
	http_response_free(&response);

	http_client_free(client);
	stop_server(s);
}

struct lines {
	char seen[256];
	int stop_after;
	int count;
};

static int collect_line(void *ctx, const char *line, size_t len)
{
	struct lines *l = ctx;
	size_t used = strlen(l->seen);
	snprintf(l->seen + used, sizeof(l->seen) - used, "[%.*s]", (int)len, line);
	return ++l->count == l->stop_after;
}

static void bodies_stream_line_by_line(void **state)
{
	(void)state;
	struct test_server *s = start_server(api_answers);
	struct http_client *client = client_for(s);
	struct http_response response;
	struct ck_error err = {0};

	struct lines all = {0};
	struct http_request stream = {
	    .method = "GET", .path = "/lines", .on_line = collect_line, .ctx = &all};
	assert_int_equal(http_client_request(client, &stream, &response, &err), 0);
	assert_string_equal(all.seen, "[one\n][two\n][\n][last]");
	assert_int_equal(response.body.len, 0);
	http_response_free(&response);

	struct lines first_two = {.stop_after = 2};
	stream.ctx = &first_two;
	assert_int_equal(http_client_request(client, &stream, &response, &err), 0);
	assert_string_equal(first_two.seen, "[one\n][two\n]");
	http_response_free(&response);

	/* error answers are kept whole, not streamed */
	struct lines none = {0};
	struct http_request failing = {
	    .method = "GET", .path = "/text", .on_line = collect_line, .ctx = &none};
	assert_int_equal(http_client_request(client, &failing, &response, &err), 0);
	assert_int_equal(response.status, 503);
	assert_string_equal(response.body.data, "busy\n");
	assert_string_equal(none.seen, "");
	http_response_free(&response);

	http_client_free(client);
	stop_server(s);
}

static int unused_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	getsockname(fd, (struct sockaddr *)&addr, &len);
	close(fd);
	return ntohs(addr.sin_port);
}

static void refused_connections_and_bad_options(void **state)
{
	(void)state;
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", unused_port());
	struct http_client_options options = {.server = url};
	struct http_client *client = NULL;
	struct ck_error err = {0};
	assert_int_equal(http_client_new(&options, &client, &err), 0);
	struct http_request get = {.method = "GET", .path = "/version"};
	struct http_response response;
	assert_int_equal(http_client_request(client, &get, &response, &err), -ECONNREFUSED);
	assert_non_null(strstr(err.message, "GET http://127.0.0.1:"));
	http_response_free(&response);

	struct kubectl k = {.http = client, .err = stderr, .out = stdout};
	struct api_request request = {.method = "GET", .path = "/version"};
	json_t *reply = NULL;
	assert_int_equal(api_call(&k, &request, &reply, &err), -KUBECTL_UNREACHABLE);
	char expected[160];
	snprintf(expected, sizeof(expected),
		 "The connection to the server %s was refused - did you specify the right host "
		 "or port?",
		 url + 7);
	assert_string_equal(err.message, expected);
	assert_null(reply);
	http_client_free(client);

	struct http_client_options empty = {.server = ""};
	assert_int_equal(http_client_new(&empty, &client, &err), -EINVAL);
	assert_string_equal(err.message, "HTTP client: no server URL");

	_cleanup_free_ char *escaped = http_escape("a b/c=d&é~");
	assert_string_equal(escaped, "a%20b%2Fc%3Dd%26%C3%A9~");
}

static struct kubectl *kubectl_for(struct test_server *s, char **err_text, size_t *err_len)
{
	struct kubectl *k = calloc(1, sizeof(*k));
	k->http = client_for(s);
	k->out = stdout;
	k->err = open_memstream(err_text, err_len);
	return k;
}

static void free_kubectl(struct kubectl *k)
{
	http_client_free(k->http);
	fclose(k->err);
	free(k);
}

static void api_calls_decode_answers_and_print_warnings(void **state)
{
	(void)state;
	struct test_server *s = start_server(api_answers);
	char *warnings = NULL;
	size_t warnings_len = 0;
	struct kubectl *k = kubectl_for(s, &warnings, &warnings_len);
	struct ck_error err = {0};

	struct api_request get = {.method = "GET", .path = "/api/v1/namespaces/default/pods/web"};
	_cleanup_json_ json_t *pod = NULL;
	assert_int_equal(api_call(k, &get, &pod, &err), 0);
	assert_string_equal(json_path_string(pod, "metadata.name"), "web");

	struct api_request quiet = get;
	quiet.quiet = true;
	_cleanup_json_ json_t *again = NULL;
	assert_int_equal(api_call(k, &quiet, &again, &err), 0);

	get.path = "/api/v1/namespaces/default/pods/nope";
	_cleanup_json_ json_t *status = NULL;
	assert_int_equal(api_call(k, &get, &status, &err), -KUBECTL_SERVER_ERROR);
	assert_int_equal(status_code(status), 404);
	assert_string_equal(err.message, "Error from server (NotFound): pods \"nope\" not found");

	get.path = "/text";
	_cleanup_json_ json_t *busy = NULL;
	assert_int_equal(api_call(k, &get, &busy, &err), -KUBECTL_SERVER_ERROR);
	assert_string_equal(err.message, "Error from server (ServiceUnavailable): the server is "
					 "currently unable to handle the request");

	get.path = "/lines";
	_cleanup_json_ json_t *garbage = NULL;
	assert_int_equal(api_call(k, &get, &garbage, &err), -EPROTO);

	fflush(k->err);
	assert_string_equal(warnings,
			    "Warning: first \"quoted\"\nWarning: second\nWarning: third\n");
	free_kubectl(k);
	free(warnings);
	stop_server(s);
}

static int record_event(void *ctx, const char *type, const json_t *object)
{
	struct buf *seen = ctx;
	buf_printf(seen, "%s=%lld ", type,
		   (long long)json_integer_value(json_object_get(object, "n")));
	return 0;
}

static void lists_follow_continue_and_watches_stop_at_errors(void **state)
{
	(void)state;
	struct test_server *s = start_server(api_answers);
	char *errors = NULL;
	size_t errors_len = 0;
	struct kubectl *k = kubectl_for(s, &errors, &errors_len);
	struct ck_error err = {0};

	_cleanup_json_ json_t *list = NULL;
	assert_int_equal(collection_list(k, "/api/v1/pods", "", NULL, &list, &err), 0);
	assert_int_equal(s->log.request_count, 2);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 2);

	_cleanup_buf_ struct buf seen = {0};
	_cleanup_json_ json_t *status = NULL;
	assert_int_equal(
	    collection_watch(k, "/api/v1/pods", "", NULL, "9", record_event, &seen, &status, &err),
	    -KUBECTL_SERVER_ERROR);
	assert_string_equal(seen.data, "ADDED=1 MODIFIED=2 ");
	assert_int_equal(status_code(status), 410);
	assert_string_equal(err.message, "Error from server (Expired): too old resource version");

	free_kubectl(k);
	free(errors);
	stop_server(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(requests_carry_token_accept_and_body),
	    cmocka_unit_test(bodies_stream_line_by_line),
	    cmocka_unit_test(refused_connections_and_bad_options),
	    cmocka_unit_test(api_calls_decode_answers_and_print_warnings),
	    cmocka_unit_test(lists_follow_continue_and_watches_stop_at_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
