/* The SQLite store: revisions, reads, prefix lists with limits, deletes, and persistence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/store.h"
#include "lib/buf.h"

struct fixture {
	char dir[64];
	char path[96];
	struct store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ckube-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	struct ck_error err = {0};
	assert_int_equal(store_open(f->path, &f->store, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void put(struct store *store, const char *key, const char *value)
{
	struct ck_error err = {0};
	assert_int_equal(store_put(store, key, value, store_revision(store) + 1, &err), 0);
}

static void revisions_count_every_write(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_revision(f->store), 0);
	put(f->store, "pods/default/a", "{\"a\":1}");
	put(f->store, "pods/default/a", "{\"a\":2}");
	struct ck_error err = {0};
	assert_int_equal(store_delete(f->store, "pods/default/a", 3, &err), 0);
	assert_int_equal(store_revision(f->store), 3);
	/* A write must follow the current revision exactly. */
	assert_int_equal(store_put(f->store, "pods/default/b", "{}", 7, &err), -EINVAL);
	assert_int_equal(store_revision(f->store), 3);
}

static void get_returns_value_and_revision(void **state)
{
	struct fixture *f = *state;
	put(f->store, "pods/default/a", "{\"v\":1}");
	put(f->store, "pods/default/a", "{\"v\":2}");
	char *value = NULL;
	int64_t revision = 0;
	struct ck_error err = {0};
	assert_int_equal(store_get(f->store, "pods/default/a", &value, &revision, &err), 0);
	assert_string_equal(value, "{\"v\":2}");
	assert_int_equal(revision, 2);
	free(value);
	assert_int_equal(store_get(f->store, "pods/default/zz", &value, NULL, &err), -ENOENT);
}

static int collect(void *ctx, const char *key, const char *value, size_t len, int64_t revision)
{
	(void)value;
	(void)len;
	(void)revision;
	buf_printf(ctx, "%s;", key);
	return 0;
}

static void list_stays_inside_the_prefix_in_key_order(void **state)
{
	struct fixture *f = *state;
	put(f->store, "pods/default/b", "{}");
	put(f->store, "pods/default/a", "{}");
	put(f->store, "pods/default2/c", "{}");
	put(f->store, "pods0", "{}");
	put(f->store, "services/default/a", "{}");
	struct buf seen = {0};
	struct store_range range = {.prefix = "pods/default/"};
	int64_t revision;
	bool more;
	int64_t remaining;
	struct ck_error err = {0};
	assert_int_equal(
	    store_list(f->store, &range, collect, &seen, &revision, &more, &remaining, &err), 0);
	assert_string_equal(seen.data, "pods/default/a;pods/default/b;");
	assert_int_equal(revision, 5);
	assert_false(more);
	buf_reset(&seen);
	range.prefix = "pods/";
	assert_int_equal(store_list(f->store, &range, collect, &seen, NULL, NULL, NULL, &err), 0);
	assert_string_equal(seen.data, "pods/default/a;pods/default/b;pods/default2/c;");
	buf_free(&seen);
}

static void list_pages_with_limit_and_start(void **state)
{
	struct fixture *f = *state;
	char key[32];
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "pods/ns/p%d", i);
		put(f->store, key, "{}");
	}
	struct buf seen = {0};
	struct store_range range = {.prefix = "pods/ns/", .limit = 2};
	bool more;
	int64_t remaining;
	struct ck_error err = {0};
	assert_int_equal(
	    store_list(f->store, &range, collect, &seen, NULL, &more, &remaining, &err), 0);
	assert_string_equal(seen.data, "pods/ns/p0;pods/ns/p1;");
	assert_true(more);
	assert_int_equal(remaining, 3);
	buf_reset(&seen);
	range.start_after = "pods/ns/p1";
	range.limit = 10;
	assert_int_equal(
	    store_list(f->store, &range, collect, &seen, NULL, &more, &remaining, &err), 0);
	assert_string_equal(seen.data, "pods/ns/p2;pods/ns/p3;pods/ns/p4;");
	assert_false(more);
	buf_free(&seen);
}

static int stop_after_two(void *ctx, const char *key, const char *value, size_t len,
			  int64_t revision)
{
	int *count = ctx;
	(void)key, (void)value, (void)len, (void)revision;
	return ++*count == 2 ? 1 : 0;
}

static void a_visitor_can_stop_the_walk(void **state)
{
	struct fixture *f = *state;
	put(f->store, "pods/ns/a", "{}");
	put(f->store, "pods/ns/b", "{}");
	put(f->store, "pods/ns/c", "{}");
	int count = 0;
	bool more;
	int64_t remaining;
	struct store_range range = {.prefix = "pods/ns/"};
	struct ck_error err = {0};
	assert_int_equal(
	    store_list(f->store, &range, stop_after_two, &count, NULL, &more, &remaining, &err), 0);
	assert_int_equal(count, 2);
	assert_true(more);
	assert_int_equal(remaining, -1);
}

static void state_survives_reopening(void **state)
{
	struct fixture *f = *state;
	put(f->store, "nodes/n1", "{\"n\":1}");
	put(f->store, "nodes/n2", "{\"n\":2}");
	struct ck_error err = {0};
	assert_int_equal(store_delete(f->store, "nodes/n1", 3, &err), 0);
	store_close(f->store);
	assert_int_equal(store_open(f->path, &f->store, &err), 0);
	assert_int_equal(store_revision(f->store), 3);
	char *value = NULL;
	assert_int_equal(store_get(f->store, "nodes/n2", &value, NULL, &err), 0);
	assert_string_equal(value, "{\"n\":2}");
	free(value);
	assert_int_equal(store_get(f->store, "nodes/n1", &value, NULL, &err), -ENOENT);
	put(f->store, "nodes/n3", "{}");
	assert_int_equal(store_revision(f->store), 4);
}

static void open_fails_with_a_clear_error(void **state)
{
	(void)state;
	struct store *store = NULL;
	struct ck_error err = {0};
	assert_true(store_open("/nonexistent-dir/x/state.db", &store, &err) < 0);
	assert_non_null(strstr(err.message, "/nonexistent-dir/x/state.db"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(revisions_count_every_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(get_returns_value_and_revision, setup, teardown),
	    cmocka_unit_test_setup_teardown(list_stays_inside_the_prefix_in_key_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(list_pages_with_limit_and_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_visitor_can_stop_the_walk, setup, teardown),
	    cmocka_unit_test_setup_teardown(state_survives_reopening, setup, teardown),
	    cmocka_unit_test(open_fails_with_a_clear_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
