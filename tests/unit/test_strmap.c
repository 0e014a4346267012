/* The string hash map behind the controllers' caches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strmap.h"

static void put_get_replace_remove(void **state)
{
	(void)state;
	struct strmap *map = strmap_new(free);
	strmap_put(map, "a", strdup("1"));
	strmap_put(map, "b", strdup("2"));
	strmap_put(map, "a", strdup("3"));
	assert_int_equal(strmap_size(map), 2);
	assert_string_equal(strmap_get(map, "a"), "3");
	assert_true(strmap_remove(map, "a"));
	assert_false(strmap_remove(map, "a"));
	assert_null(strmap_get(map, "a"));
	assert_int_equal(strmap_size(map), 1);
	strmap_free(map);
}

static void grows_and_iterates_every_key_once(void **state)
{
	(void)state;
	struct strmap *map = strmap_new(NULL);
	char key[32];
	for (long i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "default/pod-%ld", i);
		strmap_put(map, key, (void *)(i + 1));
	}
	assert_int_equal(strmap_size(map), 5000);
	long sum = 0;
	size_t count = 0;
	const char *k;
	void *value;
	STRMAP_FOREACH (map, iter, k, value) {
		sum += (long)value;
		count++;
	}
	assert_int_equal(count, 5000);
	assert_int_equal(sum, 5000L * 5001 / 2);
	snprintf(key, sizeof(key), "default/pod-%d", 4321);
	assert_int_equal((long)strmap_get(map, key), 4322);
	strmap_free(map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(put_get_replace_remove),
	    cmocka_unit_test(grows_and_iterates_every_key_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
