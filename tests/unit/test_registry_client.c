/* The registry client, and pulls through it, against a small HTTP server on 127.0.0.1 that a
 * thread of this test runs with canned answers: token and basic authentication, manifest lists,
 * redirects to another host, digests that do not match, sizes out of bounds, 404s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "runtime/image_pull.h"
#include "runtime/image_store.h"
#include "runtime/registries.h"
#include "runtime/registry_client.h"

#define TOKEN "tok-1"
#define BASIC_ALICE "Basic YWxpY2U6czNjcmV0" /* alice:s3cret */
#define MAX_ROUTES 32
#define MAX_LOGGED 64

/* --- the server ---------------------------------------------------------------------------- */

struct logged_request {
	char target[1024];
	char authorization[256];
	char accept[512];
};

struct route {
	char path[256];
	int status;
	char headers[512];
	char *body;
	size_t len;
};

enum auth_mode { AUTH_OPEN, AUTH_TOKEN, AUTH_TOKEN_WITH_LOGIN, AUTH_BASIC_LOGIN };

struct fake_registry {
	int listen_fd;
	int port;
	pthread_t thread;
	enum auth_mode auth;
	pthread_mutex_t lock;
	struct route routes[MAX_ROUTES];
	size_t route_count;
	struct logged_request log[MAX_LOGGED];
	size_t log_count;
};

static void header_value(const char *head, const char *name, char *out, size_t size)
{
	out[0] = '\0';
	for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
		const char *start = line + 2;
		size_t name_len = strlen(name);
		if (strncasecmp(start, name, name_len) == 0 && start[name_len] == ':') {
			const char *value = start + name_len + 1;
			value += strspn(value, " ");
			snprintf(out, size, "%.*s", (int)strcspn(value, "\r\n"), value);
			return;
		}
	}
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

static void respond(int fd, int status, const char *headers, const char *body, size_t len)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d Canned\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
			 status, len, headers);
	send_all(fd, head, (size_t)n);
	send_all(fd, body, len);
}

static const char *unknown_error(const char *path)
{
	if (strstr(path, "/manifests/"))
		return "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest "
		       "unknown\",\"detail\":\"\\u0007\"}]}";
	if (strstr(path, "/blobs/"))
		return "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob unknown to "
		       "registry\"}]}";
	return "";
}

/* Answers the authentication the registry is set up for; true when the request may go on. */
static bool authorized(struct fake_registry *r, int fd, const char *path, const char *query,
		       const char *authorization)
{
	char challenge[512];
	if (r->auth == AUTH_OPEN)
		return true;
	if (r->auth == AUTH_BASIC_LOGIN) {
		if (strcmp(authorization, BASIC_ALICE) == 0)
			return true;
		respond(fd, 401, "WWW-Authenticate: Basic realm=\"fake\"\r\n", "", 0);
		return false;
	}
	if (strcmp(path, "/token") == 0) {
		bool login_ok =
		    r->auth != AUTH_TOKEN_WITH_LOGIN || strcmp(authorization, BASIC_ALICE) == 0;
		bool scope_ok = strstr(query, "scope=repository%3Aapp%3Apull") &&
				strstr(query, "service=fake%20registry");
		if (!login_ok)
			respond(fd, 401, "", "{\"details\":\"bad login\"}", 23);
		else if (!scope_ok)
			respond(fd, 400, "", "", 0);
		else
			respond(fd, 200, "", "{\"access_token\":\"" TOKEN "\"}",
				strlen("{\"access_token\":\"" TOKEN "\"}"));
		return false;
	}
	if (strcmp(authorization, "Bearer " TOKEN) == 0)
		return true;
	snprintf(challenge, sizeof(challenge),
		 "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\",service=\"fake "
		 "registry\"%s\r\n",
		 r->port, strcmp(path, "/v2/") == 0 ? "" : ",scope=\"repository:app:pull\"");
	respond(fd, 401, challenge, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}", 36);
	return false;
}

static void serve_one(struct fake_registry *r, int fd)
{
	char head[16384];
	size_t used = 0;
	while (used < sizeof(head) - 1) {
		ssize_t n = recv(fd, head + used, sizeof(head) - 1 - used, 0);
		if (n <= 0)
			return;
		used += (size_t)n;
		head[used] = '\0';
		if (strstr(head, "\r\n\r\n"))
			break;
		/* A TLS handshake (the https endpoint tried last): hang up at once. */
		if (head[0] < 'A' || head[0] > 'Z')
			return;
	}
	char method[16], target[1024];
	if (sscanf(head, "%15s %1023s", method, target) != 2)
		return;
	struct logged_request entry = {0};
	snprintf(entry.target, sizeof(entry.target), "%s", target);
	header_value(head, "Authorization", entry.authorization, sizeof(entry.authorization));
	header_value(head, "Accept", entry.accept, sizeof(entry.accept));
	pthread_mutex_lock(&r->lock);
	if (r->log_count < MAX_LOGGED)
		r->log[r->log_count++] = entry;
	pthread_mutex_unlock(&r->lock);

	char *query = strchr(target, '?');
	if (query)
		*query++ = '\0';
	if (!authorized(r, fd, target, query ? query : "", entry.authorization))
		return;
	for (size_t i = 0; i < r->route_count; i++) {
		const struct route *route = &r->routes[i];
		if (strcmp(route->path, target) == 0) {
			respond(fd, route->status, route->headers, route->body, route->len);
			return;
		}
	}
	if (strcmp(target, "/v2/") == 0)
		respond(fd, 200, "", "{}", 2);
	else
		respond(fd, 404, "Content-Type: application/json\r\n", unknown_error(target),
			strlen(unknown_error(target)));
}

static void *serve(void *arg)
{
	struct fake_registry *r = arg;
	for (;;) {
		int fd = accept(r->listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		serve_one(r, fd);
		close(fd);
	}
}

static struct fake_registry *registry_start(enum auth_mode auth)
{
	struct fake_registry *r = calloc(1, sizeof(*r));
	r->auth = auth;
	pthread_mutex_init(&r->lock, NULL);
	r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(r->listen_fd >= 0);
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t addr_len = sizeof(addr);
	assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(r->listen_fd, 16), 0);
	assert_int_equal(getsockname(r->listen_fd, (struct sockaddr *)&addr, &addr_len), 0);
	r->port = ntohs(addr.sin_port);
	assert_int_equal(pthread_create(&r->thread, NULL, serve, r), 0);
	return r;
}

static void registry_stop(struct fake_registry *r)
{
	shutdown(r->listen_fd, SHUT_RDWR);
	pthread_join(r->thread, NULL);
	close(r->listen_fd);
	for (size_t i = 0; i < r->route_count; i++)
		free(r->routes[i].body);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void add_route(struct fake_registry *r, const char *path, int status, const char *headers,
		      const void *body, size_t len)
{
	assert_true(r->route_count < MAX_ROUTES);
	struct route *route = &r->routes[r->route_count++];
	snprintf(route->path, sizeof(route->path), "%s", path);
	route->status = status;
	snprintf(route->headers, sizeof(route->headers), "%s", headers);
	route->body = malloc(len + 1);
	memcpy(route->body, body, len);
	route->len = len;
}

static const struct logged_request *find_logged(struct fake_registry *r, const char *prefix)
{
	for (size_t i = 0; i < r->log_count; i++) {
		if (strncmp(r->log[i].target, prefix, strlen(prefix)) == 0)
			return &r->log[i];
	}
	return NULL;
}

/* --- helpers ------------------------------------------------------------------------------- */

static void digest_of(const void *data, size_t len, char *out)
{
	assert_int_equal(image_digest_of(data, len, out, NULL), 0);
}

/* Serves `body` as a manifest under its digest and, when `tag` is given, under the tag. */
static void add_manifest(struct fake_registry *r, const char *tag, const char *content_type,
			 const char *body, char *digest)
{
	char path[256], headers[256];
	digest_of(body, strlen(body), digest);
	snprintf(headers, sizeof(headers), "Content-Type: %s\r\nDocker-Content-Digest: %s\r\n",
		 content_type, digest);
	snprintf(path, sizeof(path), "/v2/app/manifests/%s", digest);
	add_route(r, path, 200, headers, body, strlen(body));
	if (tag) {
		snprintf(path, sizeof(path), "/v2/app/manifests/%s", tag);
		add_route(r, path, 200, headers, body, strlen(body));
	}
}

static void add_blob(struct fake_registry *r, const void *data, size_t len, char *digest)
{
	char path[256];
	digest_of(data, len, digest);
	snprintf(path, sizeof(path), "/v2/app/blobs/%s", digest);
	add_route(r, path, 200, "", data, len);
}

static struct registry_client *client_for(struct fake_registry *r, const char *user,
					  const char *password)
{
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", r->port);
	struct registry_endpoint endpoint = {
	    .url = url, .username = (char *)user, .password = (char *)password};
	struct registry_client *client = NULL;
	struct ck_error err = {0};
	assert_int_equal(registry_client_new(&endpoint, "app", &client, &err), 0);
	return client;
}

/* What one test works with; teardown stops the servers and removes the store also when an
 * assertion failed halfway. */
struct scene {
	struct fake_registry *servers[4];
	size_t server_count;
	char store_path[64];
	struct image_store *store;
};

static int scene_setup(void **state)
{
	struct scene *scene = calloc(1, sizeof(*scene));
	strcpy(scene->store_path, "/tmp/ckube-registry-client-XXXXXX");
	assert_non_null(mkdtemp(scene->store_path));
	struct ck_error err = {0};
	assert_int_equal(image_store_open(scene->store_path, &scene->store, &err), 0);
	*state = scene;
	return 0;
}

static int scene_teardown(void **state)
{
	struct scene *scene = *state;
	for (size_t i = 0; i < scene->server_count; i++)
		registry_stop(scene->servers[i]);
	image_store_close(scene->store);
	fs_remove_tree(AT_FDCWD, scene->store_path, NULL);
	free(scene);
	return 0;
}

static struct fake_registry *serve_for(struct scene *scene, enum auth_mode auth)
{
	assert_true(scene->server_count < sizeof(scene->servers) / sizeof(scene->servers[0]));
	return scene->servers[scene->server_count++] = registry_start(auth);
}

#define SIMPLE_MANIFEST                                                                   \
	"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"config\":{" \
	"\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:" \
	"0000000000000000000000000000000000000000000000000000000000000000\",\"size\":2}," \
	"\"layers\":[]}"

/* --- authentication ------------------------------------------------------------------------ */

static void anonymous_token(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_TOKEN);
	char digest[IMAGE_DIGEST_LENGTH + 1];
	add_manifest(r, "1", MEDIA_TYPE_OCI_MANIFEST, SIMPLE_MANIFEST, digest);
	struct registry_client *client = client_for(r, NULL, NULL);
	struct ck_error err = {0};
	assert_int_equal(registry_ping(client, &err), 0);
	struct registry_manifest m;
	assert_int_equal(registry_fetch_manifest(client, "1", &m, &err), 0);
	assert_string_equal(m.digest, digest);
	assert_string_equal(m.media_type, MEDIA_TYPE_OCI_MANIFEST);
	assert_int_equal(m.len, strlen(SIMPLE_MANIFEST));
	assert_memory_equal(m.body, SIMPLE_MANIFEST, m.len);
	assert_true(json_is_array(json_object_get(m.json, "layers")));
	registry_manifest_clear(&m);
	registry_client_free(client);

	const struct logged_request *token = find_logged(r, "/token");
	assert_non_null(token);
	assert_string_equal(token->authorization, "");
	const struct logged_request *manifest = find_logged(r, "/v2/app/manifests/1");
	assert_string_equal(manifest->authorization, "Bearer " TOKEN);
	const char *types[] = {MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
			       MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX};
	for (size_t i = 0; i < 4; i++)
		assert_non_null(strstr(manifest->accept, types[i]));
}

static void token_with_login(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_TOKEN_WITH_LOGIN);
	char digest[IMAGE_DIGEST_LENGTH + 1];
	add_manifest(r, "1", MEDIA_TYPE_OCI_MANIFEST, SIMPLE_MANIFEST, digest);
	struct ck_error err = {0};
	struct registry_manifest m;
	/* No ping first: the 401 of the manifest request itself starts the login. */
	struct registry_client *client = client_for(r, "alice", "s3cret");
	assert_int_equal(registry_fetch_manifest(client, "1", &m, &err), 0);
	registry_manifest_clear(&m);
	registry_client_free(client);
	assert_string_equal(find_logged(r, "/token")->authorization, BASIC_ALICE);

	client = client_for(r, "alice", "wrong");
	assert_int_equal(registry_ping(client, &err), -EACCES);
	assert_non_null(strstr(err.message, "get token from http://127.0.0.1:"));
	registry_client_free(client);
}

static void basic_login(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_BASIC_LOGIN);
	char digest[IMAGE_DIGEST_LENGTH + 1];
	add_manifest(r, "1", MEDIA_TYPE_OCI_MANIFEST, SIMPLE_MANIFEST, digest);
	struct ck_error err = {0};
	struct registry_manifest m;
	struct registry_client *client = client_for(r, "alice", "s3cret");
	assert_int_equal(registry_ping(client, &err), 0);
	assert_int_equal(registry_fetch_manifest(client, "1", &m, &err), 0);
	registry_manifest_clear(&m);
	registry_client_free(client);

	client = client_for(r, NULL, NULL);
	assert_int_equal(registry_ping(client, &err), -EACCES);
	assert_non_null(strstr(err.message, "unauthorized"));
	registry_client_free(client);
}

/* --- manifests ----------------------------------------------------------------------------- */

static void lists_resolve_to_linux_amd64(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_TOKEN);
	char arm[IMAGE_DIGEST_LENGTH + 1], amd_v3[IMAGE_DIGEST_LENGTH + 1];
	char amd[IMAGE_DIGEST_LENGTH + 1], list[IMAGE_DIGEST_LENGTH + 1];
	/* Three different manifests; only the plain linux/amd64 one must be chosen. */
	add_manifest(r, NULL, MEDIA_TYPE_DOCKER_MANIFEST,
		     "{\"schemaVersion\":2,\"layers\":[],\"arch\":\"arm64\"}", arm);
	add_manifest(r, NULL, MEDIA_TYPE_DOCKER_MANIFEST,
		     "{\"schemaVersion\":2,\"layers\":[],\"arch\":\"amd64v3\"}", amd_v3);
	add_manifest(r, NULL, MEDIA_TYPE_DOCKER_MANIFEST,
		     "{\"schemaVersion\":2,\"layers\":[],\"arch\":\"amd64\"}", amd);
	char body[2048];
	snprintf(body, sizeof(body),
		 "{\"schemaVersion\":2,\"manifests\":["
		 "{\"digest\":\"%s\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":"
		 "\"arm64\",\"variant\":\"v8\"}},"
		 "{\"digest\":\"%s\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":"
		 "\"amd64\",\"variant\":\"v3\"}},"
		 "{\"digest\":\"%s\",\"size\":1,\"platform\":{\"os\":\"windows\",\"architecture\":"
		 "\"amd64\"}},"
		 "{\"digest\":\"%s\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":"
		 "\"amd64\"}}]}",
		 arm, amd_v3, arm, amd);
	/* No mediaType in the body: the Content-Type says it is a Docker list. */
	add_manifest(r, "multi", MEDIA_TYPE_DOCKER_MANIFEST_LIST, body, list);

	struct registry_client *client = client_for(r, NULL, NULL);
	struct ck_error err = {0};
	struct registry_manifest m;
	char named[IMAGE_DIGEST_LENGTH + 1];
	assert_int_equal(registry_resolve(client, "multi", named, &m, &err), 0);
	assert_string_equal(named, list);
	assert_string_equal(m.digest, amd);
	assert_string_equal(m.media_type, MEDIA_TYPE_DOCKER_MANIFEST);
	registry_manifest_clear(&m);

	/* A single manifest resolves to itself. */
	assert_int_equal(registry_resolve(client, amd, named, &m, &err), 0);
	assert_string_equal(named, amd);
	assert_string_equal(m.digest, amd);
	registry_manifest_clear(&m);

	/* Only the variant: taken when nothing plainer is there. */
	snprintf(body, sizeof(body),
		 "{\"mediaType\":\"%s\",\"manifests\":[{\"digest\":\"%s\",\"platform\":{\"os\":"
		 "\"linux\",\"architecture\":\"amd64\",\"variant\":\"v3\"}}]}",
		 MEDIA_TYPE_OCI_INDEX, amd_v3);
	add_manifest(r, "v3", "text/plain", body, list);
	assert_int_equal(registry_resolve(client, "v3", named, &m, &err), 0);
	assert_string_equal(m.digest, amd_v3);
	registry_manifest_clear(&m);

	snprintf(body, sizeof(body),
		 "{\"manifests\":[{\"digest\":\"%s\",\"platform\":{\"os\":\"linux\","
		 "\"architecture\":\"arm64\"}}]}",
		 arm);
	add_manifest(r, "armonly", MEDIA_TYPE_OCI_INDEX, body, list);
	assert_int_equal(registry_resolve(client, "armonly", named, &m, &err), -ENOENT);
	assert_string_equal(err.message, "manifest armonly: no image for linux/amd64 in the list");
	registry_client_free(client);
}

static void digest_mismatch_is_refused(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_OPEN);
	char digest[IMAGE_DIGEST_LENGTH + 1], path[256];
	digest_of("the real one", 12, digest);
	snprintf(path, sizeof(path), "/v2/app/manifests/%s", digest);
	add_route(r, path, 200, "Content-Type: " MEDIA_TYPE_OCI_MANIFEST "\r\n", SIMPLE_MANIFEST,
		  strlen(SIMPLE_MANIFEST));
	add_route(r, "/v2/app/manifests/liar", 200,
		  "Content-Type: " MEDIA_TYPE_OCI_MANIFEST "\r\nDocker-Content-Digest: "
		  "sha256:1111111111111111111111111111111111111111111111111111111111111111\r\n",
		  SIMPLE_MANIFEST, strlen(SIMPLE_MANIFEST));
	struct registry_client *client = client_for(r, NULL, NULL);
	struct ck_error err = {0};
	struct registry_manifest m;
	assert_int_equal(registry_fetch_manifest(client, digest, &m, &err), -EIO);
	assert_non_null(strstr(err.message, "digest mismatch"));
	assert_null(m.body);
	assert_int_equal(registry_fetch_manifest(client, "liar", &m, &err), -EIO);
	assert_non_null(strstr(err.message, "digest mismatch: expected sha256:1111"));
	registry_client_free(client);
}

static void errors_are_clear(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_TOKEN);
	add_route(r, "/v2/app/manifests/old", 200,
		  "Content-Type: application/vnd.docker.distribution.manifest.v1+prettyjws\r\n",
		  "{\"schemaVersion\":1}", 19);
	add_route(r, "/v2/app/manifests/text", 200, "Content-Type: text/html\r\n", "<html>", 6);
	add_route(r, "/v2/app/manifests/busy", 503, "", "", 0);
	size_t big = REGISTRY_MANIFEST_MAX_BYTES + 1000;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	add_route(r, "/v2/app/manifests/huge", 200, "", huge, big);
	free(huge);
	struct registry_client *client = client_for(r, NULL, NULL);
	struct ck_error err = {0};
	struct registry_manifest m;
	assert_int_equal(registry_fetch_manifest(client, "nope", &m, &err), -ENOENT);
	/* The registry's words, with its control characters made harmless. */
	assert_string_equal(err.message, "manifest nope: manifest unknown");
	assert_int_equal(registry_fetch_manifest(client, "old", &m, &err), -EPROTO);
	assert_non_null(strstr(err.message, "unsupported manifest type"));
	assert_int_equal(registry_fetch_manifest(client, "text", &m, &err), -EPROTO);
	assert_int_equal(registry_fetch_manifest(client, "busy", &m, &err), -EIO);
	assert_string_equal(err.message, "manifest busy: the registry answered HTTP 503");
	assert_int_equal(registry_fetch_manifest(client, "huge", &m, &err), -EFBIG);
	assert_int_equal(registry_fetch_manifest(client, "../../x", &m, &err), -EINVAL);

	struct blob_writer *w;
	const char *missing =
	    "sha256:2222222222222222222222222222222222222222222222222222222222222222";
	assert_int_equal(image_store_blob_begin(scene->store, missing, 5, &w, &err), 0);
	assert_int_equal(registry_fetch_blob(client, missing, 5, w, NULL, &err), -ENOENT);
	assert_string_equal(err.message, "blob "
					 "sha256:2222222222222222222222222222222222222222"
					 "222222222222222222222222: blob unknown to registry");
	blob_writer_abort(w);
	registry_client_free(client);

	/* A web server that is not a registry. */
	add_route(r, "/v2/", 404, "", "", 0);
	r->auth = AUTH_OPEN;
	client = client_for(r, NULL, NULL);
	assert_int_equal(registry_ping(client, &err), -EPROTO);
	assert_non_null(strstr(err.message, "not a registry"));
	registry_client_free(client);

	/* Nothing listening at all. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	getsockname(fd, (struct sockaddr *)&addr, &len);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(addr.sin_port));
	close(fd);
	struct registry_endpoint endpoint = {.url = url};
	assert_int_equal(registry_client_new(&endpoint, "app", &client, &err), 0);
	assert_int_equal(registry_ping(client, &err), -ECONNREFUSED);
	registry_client_free(client);
}

/* --- blobs --------------------------------------------------------------------------------- */

struct progress_log {
	int calls;
	int64_t last_done;
	int64_t last_total;
};

static void record_progress(void *ctx, const char *digest, int64_t done, int64_t total)
{
	(void)digest;
	struct progress_log *log = ctx;
	log->calls++;
	log->last_done = done;
	log->last_total = total;
}

static void blobs_follow_redirects_without_credentials(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_TOKEN);
	struct fake_registry *cdn = serve_for(scene, AUTH_OPEN);
	size_t size = 300000;
	char *data = malloc(size);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)(i * 7);
	char digest[IMAGE_DIGEST_LENGTH + 1], path[256], location[256];
	digest_of(data, size, digest);
	add_route(cdn, "/storage/blob", 200, "", data, size);
	snprintf(path, sizeof(path), "/v2/app/blobs/%s", digest);
	snprintf(location, sizeof(location), "Location: http://127.0.0.1:%d/storage/blob\r\n",
		 cdn->port);
	add_route(r, path, 307, location, "", 0);

	struct registry_client *client = client_for(r, NULL, NULL);
	struct ck_error err = {0};
	struct blob_writer *w;
	struct progress_log log = {0};
	struct pull_progress progress = {.update = record_progress, .ctx = &log};
	assert_int_equal(image_store_blob_begin(scene->store, digest, (int64_t)size, &w, &err), 0);
	assert_int_equal(registry_fetch_blob(client, digest, (int64_t)size, w, &progress, &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), 0);
	char *stored = image_store_blob_path(scene->store, digest);
	assert_non_null(stored);
	free(stored);
	assert_true(log.calls >= 2);
	assert_int_equal(log.last_done, size);
	assert_int_equal(log.last_total, size);
	/* The registry got the token; the other host never did. */
	assert_string_equal(find_logged(r, path)->authorization, "");
	assert_string_equal(r->log[r->log_count - 1].authorization, "Bearer " TOKEN);
	assert_string_equal(find_logged(cdn, "/storage/blob")->authorization, "");

	/* A blob larger than its descriptor says is cut off; a smaller one fails the commit. */
	assert_int_equal(image_store_blob_begin(scene->store, digest, (int64_t)size - 1, &w, &err),
			 0);
	assert_int_equal(registry_fetch_blob(client, digest, (int64_t)size - 1, w, NULL, &err),
			 -EFBIG);
	blob_writer_abort(w);
	assert_int_equal(image_store_blob_begin(scene->store, digest, (int64_t)size + 1, &w, &err),
			 0);
	assert_int_equal(registry_fetch_blob(client, digest, (int64_t)size + 1, w, NULL, &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), -EIO);
	/* Content that is not what the digest says never becomes a blob. */
	char other[IMAGE_DIGEST_LENGTH + 1];
	digest_of("other", 5, other);
	snprintf(path, sizeof(path), "/v2/app/blobs/%s", other);
	add_route(r, path, 200, "", "not other", 9);
	assert_int_equal(image_store_blob_begin(scene->store, other, 9, &w, &err), 0);
	assert_int_equal(registry_fetch_blob(client, other, 9, w, NULL, &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), -EIO);
	assert_non_null(strstr(err.message, "digest mismatch"));
	assert_null(image_store_blob_path(scene->store, other));

	registry_client_free(client);
	free(data);
}

/* --- whole pulls --------------------------------------------------------------------------- */

/* Writes one entry through libarchive into memory: a tar of one file, or (raw format) the
 * gzip compression of `content` itself. */
static void archive_to(struct buf *out, bool tar, const char *name, const void *content, size_t len)
{
	struct archive *a = archive_write_new();
	size_t capacity = 1 << 16, used = 0;
	char *mem = malloc(capacity);
	if (tar) {
		archive_write_set_format_pax_restricted(a);
		archive_write_add_filter_none(a);
	} else {
		archive_write_set_format_raw(a);
		archive_write_add_filter_gzip(a);
	}
	assert_int_equal(archive_write_open_memory(a, mem, capacity, &used), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, content, len), (la_ssize_t)len);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	buf_reset(out);
	buf_append(out, mem, used);
	free(mem);
}

/* A layer of one file, gzip-compressed or not; the uncompressed tar's digest is the diffID. */
static void make_layer(const char *name, const char *content, bool gzip, struct buf *out,
		       char *diff_id)
{
	struct buf tar = {0};
	archive_to(&tar, true, name, content, strlen(content));
	digest_of(tar.data, tar.len, diff_id);
	if (gzip)
		archive_to(out, false, "data", tar.data, tar.len);
	else
		archive_to(out, true, name, content, strlen(content));
	buf_free(&tar);
}

struct served_image {
	char config[IMAGE_DIGEST_LENGTH + 1];
	char layers[2][IMAGE_DIGEST_LENGTH + 1];
	char diff_ids[2][IMAGE_DIGEST_LENGTH + 1];
	char manifest[IMAGE_DIGEST_LENGTH + 1];
	char index[IMAGE_DIGEST_LENGTH + 1];
};

/* An image of two layers (gzip, then plain tar) behind an index, tagged "1". */
static void serve_image(struct fake_registry *r, const char *arch, struct served_image *image)
{
	struct buf layer = {0};
	const char *types[] = {"application/vnd.oci.image.layer.v1.tar+gzip",
			       "application/vnd.oci.image.layer.v1.tar"};
	size_t sizes[2];
	for (int i = 0; i < 2; i++) {
		make_layer(i == 0 ? "etc/base" : "app/run", i == 0 ? "base\n" : "app\n", i == 0,
			   &layer, image->diff_ids[i]);
		add_blob(r, layer.data, layer.len, image->layers[i]);
		sizes[i] = layer.len;
	}
	buf_free(&layer);
	char config[1024];
	snprintf(config, sizeof(config),
		 "{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/app/"
		 "run\"],\"Env\":[\"A=1\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\","
		 "\"%s\"]}}",
		 arch, image->diff_ids[0], image->diff_ids[1]);
	add_blob(r, config, strlen(config), image->config);
	char manifest[2048];
	snprintf(manifest, sizeof(manifest),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
		 "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
		 "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
		 MEDIA_TYPE_OCI_MANIFEST, image->config, strlen(config), types[0], image->layers[0],
		 sizes[0], types[1], image->layers[1], sizes[1]);
	add_manifest(r, NULL, MEDIA_TYPE_OCI_MANIFEST, manifest, image->manifest);
	char index[1024];
	snprintf(index, sizeof(index),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{\"mediaType\":\"%s\","
		 "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":"
		 "\"amd64\"}}]}",
		 MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, image->manifest, strlen(manifest));
	add_manifest(r, "1", MEDIA_TYPE_OCI_INDEX, index, image->index);
}

/* registries.yaml that reaches the fake registry over plain http. */
static struct registries *registries_for(struct fake_registry *r)
{
	char path[] = "/tmp/ckube-registries-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	char yaml[256];
	int len =
	    snprintf(yaml, sizeof(yaml),
		     "mirrors:\n  \"127.0.0.1:%d\":\n    endpoint: [\"http://127.0.0.1:%d\"]\n",
		     r->port, r->port);
	assert_int_equal(write(fd, yaml, (size_t)len), len);
	close(fd);
	struct registries *registries = NULL;
	assert_int_equal(registries_load(path, &registries, NULL), 0);
	unlink(path);
	return registries;
}

static size_t requests_for(struct fake_registry *r, const char *prefix)
{
	size_t count = 0;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->log_count; i++)
		count += strncmp(r->log[i].target, prefix, strlen(prefix)) == 0;
	pthread_mutex_unlock(&r->lock);
	return count;
}

static char *file_in_layer(struct image_store *store, const char *diff_id, const char *name)
{
	char *layer = image_store_layer_path(store, diff_id);
	assert_non_null(layer);
	char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", layer, name) > 0);
	free(layer);
	char *content = NULL;
	struct ck_error err = {0};
	if (fs_read_file(path, &content, NULL, &err) < 0)
		fail_msg("%s", err.message);
	free(path);
	return content;
}

static void pull_stores_a_verified_image(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_TOKEN);
	struct served_image image;
	serve_image(r, "amd64", &image);
	struct registries *registries = registries_for(r);
	struct ck_error err = {0};
	struct image_record *record = NULL;
	struct progress_log log = {0};
	struct pull_progress progress = {.update = record_progress, .ctx = &log};
	char reference[64], by_digest[160];
	snprintf(reference, sizeof(reference), "127.0.0.1:%d/app:1", r->port);
	snprintf(by_digest, sizeof(by_digest), "127.0.0.1:%d/app@%s", r->port, image.index);
	if (image_pull(scene->store, registries, reference, false, &progress, &record, &err) < 0)
		fail_msg("%s", err.message);
	assert_string_equal(record->id, image.config);
	assert_string_equal(record->manifest_digest, image.manifest);
	assert_int_equal(record->name_count, 2);
	assert_string_equal(record->names[0], reference);
	assert_string_equal(record->names[1], by_digest);
	assert_int_equal(record->layer_count, 2);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(record->layers[i].digest, image.layers[i]);
		assert_string_equal(record->layers[i].diff_id, image.diff_ids[i]);
	}
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(record->config, "Entrypoint"), 0)),
	    "/app/run");
	assert_true(record->size > 0);
	image_record_free(record);
	char *content = file_in_layer(scene->store, image.diff_ids[0], "etc/base");
	assert_string_equal(content, "base\n");
	free(content);
	content = file_in_layer(scene->store, image.diff_ids[1], "app/run");
	assert_string_equal(content, "app\n");
	free(content);
	char *manifest = image_store_blob_path(scene->store, image.manifest);
	assert_non_null(manifest);
	free(manifest);
	assert_int_equal(log.last_done, log.last_total);

	/* IfNotPresent: the store answers, the registry hears nothing. */
	size_t before = r->log_count;
	assert_int_equal(
	    image_pull(scene->store, registries, by_digest, false, NULL, &record, &err), 0);
	assert_string_equal(record->id, image.config);
	image_record_free(record);
	assert_int_equal(r->log_count, before);
	/* Always: the manifests again, but no blob twice. */
	assert_int_equal(image_pull(scene->store, registries, reference, true, NULL, &record, &err),
			 0);
	image_record_free(record);
	assert_true(r->log_count > before);
	assert_int_equal(requests_for(r, "/v2/app/blobs/"), 3);

	/* What the registry does not have. */
	snprintf(reference, sizeof(reference), "127.0.0.1:%d/app:nope", r->port);
	assert_int_equal(
	    image_pull(scene->store, registries, reference, false, NULL, &record, &err), -ENOENT);
	/* Each endpoint's answer: the mirror's, then the registry's own over https. */
	char expected[256];
	snprintf(expected, sizeof(expected),
		 "pull %s: http://127.0.0.1:%d: manifest nope: manifest unknown; "
		 "https://127.0.0.1:%d: GET https://127.0.0.1:%d/v2/: ",
		 reference, r->port, r->port, r->port);
	assert_memory_equal(err.message, expected, strlen(expected));
	assert_null(record);
	registries_free(registries);
}

static void pull_refuses_other_platforms(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_OPEN);
	struct served_image image;
	serve_image(r, "arm64", &image);
	struct registries *registries = registries_for(r);
	struct ck_error err = {0};
	struct image_record *record = NULL;
	char reference[64];
	snprintf(reference, sizeof(reference), "127.0.0.1:%d/app:1", r->port);
	assert_int_equal(
	    image_pull(scene->store, registries, reference, false, NULL, &record, &err), -ENOEXEC);
	assert_non_null(strstr(err.message, "the image is for linux/arm64, not linux/amd64"));
	assert_int_equal(image_store_find(scene->store, reference, &record, &err), -ENOENT);
	registries_free(registries);
}

/* A layer whose bytes do not match its digest, every time it is fetched. */
static void pull_refuses_corrupt_layers(void **state)
{
	struct scene *scene = *state;
	struct fake_registry *r = serve_for(scene, AUTH_OPEN);
	struct served_image image;
	serve_image(r, "amd64", &image);
	char path[256];
	snprintf(path, sizeof(path), "/v2/app/blobs/%s", image.layers[1]);
	for (size_t i = 0; i < r->route_count; i++) {
		if (strcmp(r->routes[i].path, path) == 0)
			r->routes[i].body[0] ^= 1;
	}
	struct registries *registries = registries_for(r);
	struct ck_error err = {0};
	struct image_record *record = NULL;
	char reference[64];
	snprintf(reference, sizeof(reference), "127.0.0.1:%d/app:1", r->port);
	assert_int_equal(
	    image_pull(scene->store, registries, reference, false, NULL, &record, &err), -EIO);
	assert_non_null(strstr(err.message, "digest mismatch"));
	assert_null(image_store_blob_path(scene->store, image.layers[1]));
	assert_int_equal(image_store_find(scene->store, reference, &record, &err), -ENOENT);
	registries_free(registries);
}

struct puller {
	struct image_store *store;
	struct registries *registries;
	const char *reference;
	int result;
};

static void *pull_in_thread(void *arg)
{
	struct puller *p = arg;
	struct image_record *record = NULL;
	struct ck_error err = {0};
	p->result = image_pull(p->store, p->registries, p->reference, true, NULL, &record, &err);
	image_record_free(record);
	return NULL;
}

static void concurrent_pulls_share_downloads(void **state)
{
	struct scene *scene = *state;
	enum { PULLERS = 4 };
	struct fake_registry *r = serve_for(scene, AUTH_OPEN);
	struct served_image image;
	serve_image(r, "amd64", &image);
	struct registries *registries = registries_for(r);
	char reference[64];
	snprintf(reference, sizeof(reference), "127.0.0.1:%d/app:1", r->port);
	struct puller pullers[PULLERS];
	pthread_t threads[PULLERS];
	for (int i = 0; i < PULLERS; i++) {
		pullers[i] = (struct puller){.store = scene->store,
					     .registries = registries,
					     .reference = reference,
					     .result = 1};
		assert_int_equal(pthread_create(&threads[i], NULL, pull_in_thread, &pullers[i]), 0);
	}
	for (int i = 0; i < PULLERS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(pullers[i].result, 0);
	}
	/* Config and two layers, each fetched once. */
	assert_int_equal(requests_for(r, "/v2/app/blobs/"), 3);
	registries_free(registries);
}

#define SCENE_TEST(name) cmocka_unit_test_setup_teardown(name, scene_setup, scene_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    SCENE_TEST(anonymous_token),
	    SCENE_TEST(token_with_login),
	    SCENE_TEST(basic_login),
	    SCENE_TEST(lists_resolve_to_linux_amd64),
	    SCENE_TEST(digest_mismatch_is_refused),
	    SCENE_TEST(errors_are_clear),
	    SCENE_TEST(blobs_follow_redirects_without_credentials),
	    SCENE_TEST(pull_stores_a_verified_image),
	    SCENE_TEST(pull_refuses_other_platforms),
	    SCENE_TEST(pull_refuses_corrupt_layers),
	    SCENE_TEST(concurrent_pulls_share_downloads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
