/* image_pull without a registry: references refused before any request, IfNotPresent answered
 * by the store, every endpoint's failure reported, and the terminal progress reporter. Pulls
 * through a registry are in test_registry_client.c, beside its fake server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "runtime/image_pull.h"
#include "runtime/image_store.h"
#include "runtime/registries.h"

struct fixture {
	char root[64];
	struct image_store *store;
	struct registries *registries;
	int closed_port; /* nothing listens there */
	char registry[32];
};

static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	close(fd);
	return ntohs(addr.sin_port);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->root, "/tmp/ckube-image-pull-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	struct ck_error err = {0};
	assert_int_equal(image_store_open(f->root, &f->store, &err), 0);
	f->closed_port = closed_port();
	char path[128], yaml[256];
	snprintf(path, sizeof(path), "%s/registries.yaml", f->root);
	snprintf(f->registry, sizeof(f->registry), "127.0.0.1:%d", f->closed_port);
	snprintf(yaml, sizeof(yaml), "mirrors:\n  \"%s\":\n    endpoint: [\"http://%s\"]\n",
		 f->registry, f->registry);
	FILE *file = fopen(path, "w");
	fputs(yaml, file);
	fclose(file);
	assert_int_equal(registries_load(path, &f->registries, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	image_store_close(f->store);
	registries_free(f->registries);
	fs_remove_tree(AT_FDCWD, f->root, NULL);
	free(f);
	return 0;
}

static void add_blob(struct image_store *store, const char *text, char *digest)
{
	struct ck_error err = {0};
	struct blob_writer *w;
	assert_int_equal(image_digest_of(text, strlen(text), digest, &err), 0);
	assert_int_equal(image_store_blob_begin(store, digest, (int64_t)strlen(text), &w, &err), 0);
	assert_int_equal(blob_writer_write(w, text, strlen(text), &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), 0);
}

static void bad_references_are_refused_before_any_request(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	struct image_record *record = NULL;
	assert_int_equal(image_pull(f->store, f->registries, "Web:1", false, NULL, &record, &err),
			 -EINVAL);
	assert_string_equal(err.message, "couldn't parse image reference \"Web:1\": invalid "
					 "reference format: repository name must be lowercase");
	assert_null(record);
}

static void if_not_present_is_answered_by_the_store(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	char config[IMAGE_DIGEST_LENGTH + 1], manifest[IMAGE_DIGEST_LENGTH + 1];
	add_blob(f->store, "{}", config);
	add_blob(f->store, "{\"schemaVersion\":2}", manifest);
	char name[96], reference[64];
	snprintf(name, sizeof(name), "%s/busybox:latest", f->registry);
	snprintf(reference, sizeof(reference), "%s/busybox", f->registry);
	char *names[] = {name};
	struct image_record stored = {.id = config,
				      .manifest_digest = manifest,
				      .names = names,
				      .name_count = 1,
				      .config = json_object()};
	assert_int_equal(image_store_put(f->store, &stored, &err), 0);
	json_decref(stored.config);

	struct image_record *record = NULL;
	assert_int_equal(image_pull(f->store, f->registries, reference, false, NULL, &record, &err),
			 0);
	assert_string_equal(record->id, config);
	image_record_free(record);

	/* Always: the registry is asked, through its mirror and then itself, and is not there. */
	int ret = image_pull(f->store, f->registries, reference, true, NULL, &record, &err);
	assert_int_equal(ret, -ECONNREFUSED);
	assert_null(record);
	char expected[256];
	snprintf(expected, sizeof(expected), "pull %s: http://%s: GET http://%s/v2/: ", name,
		 f->registry, f->registry);
	assert_memory_equal(err.message, expected, strlen(expected));
	snprintf(expected, sizeof(expected), "; https://%s: GET https://%s/v2/: ", f->registry,
		 f->registry);
	assert_non_null(strstr(err.message, expected));
}

static void report(FILE *out, void (*steps)(struct pull_progress *))
{
	struct pull_progress progress = {0};
	pull_progress_terminal(&progress, out);
	steps(&progress);
	pull_progress_terminal_done(&progress);
	assert_null(progress.ctx);
	fclose(out);
}

#define LAYER_A "sha256:aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000"
#define LAYER_B "sha256:bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000"

static void two_layers(struct pull_progress *p)
{
	p->update(p->ctx, LAYER_A, 0, 3 << 20);
	p->update(p->ctx, LAYER_B, 4096, 4096);
	p->update(p->ctx, LAYER_A, 1 << 20, 3 << 20);
	p->update(p->ctx, LAYER_A, 3 << 20, 3 << 20);
}

static void progress_for_logs(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	report(open_memstream(&text, &len), two_layers);
	assert_string_equal(text, "aaaaaaaaaaaa: downloading 0 B / 3.0 MiB\n"
				  "bbbbbbbbbbbb: already present\n"
				  "aaaaaaaaaaaa: done 3.0 MiB\n");
	free(text);
}

static void progress_on_a_terminal_rewrites_lines(void **state)
{
	(void)state;
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	report(fdopen(slave, "w"), two_layers);
	char seen[1024];
	size_t got = 0;
	ssize_t n;
	/* The terminal hands the output over in pieces; the closed side ends it (EIO). */
	while (got < sizeof(seen) - 1 && (n = read(master, seen + got, sizeof(seen) - 1 - got)) > 0)
		got += (size_t)n;
	assert_true(got > 0);
	seen[got] = '\0';
	/* The first line is rewritten in place, two lines up, when layer A completes. */
	assert_non_null(strstr(seen, "bbbbbbbbbbbb: already present"));
	assert_non_null(strstr(seen, "\033[2A\r\033[2Kaaaaaaaaaaaa: done 3.0 MiB\r\033[2B"));
	close(master);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(bad_references_are_refused_before_any_request, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(if_not_present_is_answered_by_the_store, setup,
					    teardown),
	    cmocka_unit_test(progress_for_logs),
	    cmocka_unit_test(progress_on_a_terminal_rewrites_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
