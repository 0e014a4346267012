/* Libraries opened on first use: the symbols resolved into typed pointers, and the errors an
 * operator sees when a library or one of its symbols is missing. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/dlopen_util.h"

/* Declared for its type only: libm has no such function. */
int ckube_no_such_symbol(void);

#define MATH_SYMBOLS(X) X(cos) X(sqrt)
#define ABSENT_SYMBOLS(X) X(ckube_no_such_symbol)

MATH_SYMBOLS(DLOPEN_DECLARE)
int dlopen_math(struct ck_error *err);
DLOPEN_LIBRARY(math, "libm.so.6", "libc6", MATH_SYMBOLS)

ABSENT_SYMBOLS(DLOPEN_DECLARE)
int dlopen_absent(struct ck_error *err);
DLOPEN_LIBRARY(absent, "libm.so.6", "libc6", ABSENT_SYMBOLS)

static void test_resolves_typed_pointers(void **state)
{
	(void)state;
	struct ck_error err = {0};
	assert_int_equal(dlopen_math(&err), 0);
	assert_true(sym_cos(0.0) == 1.0);
	assert_true(sym_sqrt(16.0) == 4.0);
	/* Later calls only check. */
	assert_int_equal(dlopen_math(&err), 0);
	assert_int_equal(err.code, 0);
}

static void *open_math(void *arg)
{
	struct ck_error err = {0};
	*(int *)arg = dlopen_math(&err);
	return NULL;
}

static void test_threads_open_once(void **state)
{
	(void)state;
	pthread_t threads[8];
	int results[8];
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, open_math, &results[i]), 0);
	for (size_t i = 0; i < 8; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(results[i], 0);
	}
	assert_true(sym_sqrt(9.0) == 3.0);
}

static void test_missing_library(void **state)
{
	(void)state;
	static const struct dlopen_symbol symbols[] = {{"cos", NULL}};
	struct dlopen_library library = {
	    .soname = "libckube-absent.so.0",
	    .package = "libckube-absent0",
	    .symbols = symbols,
	    .symbol_count = 1,
	};
	struct ck_error err = {0};
	assert_int_equal(dlopen_library(&library, &err), -ELIBACC);
	assert_string_equal(err.message, "libckube-absent.so.0: cannot open shared object file: No "
					 "such file or directory (install libckube-absent0)");
	/* Not remembered: the next call tries again, and fails the same way. */
	struct ck_error again = {0};
	assert_int_equal(dlopen_library(&library, &again), -ELIBACC);
	assert_string_equal(again.message, err.message);
}

static void test_missing_symbol(void **state)
{
	(void)state;
	struct ck_error err = {0};
	assert_int_equal(dlopen_absent(&err), -ELIBACC);
	assert_string_equal(
	    err.message, "libm.so.6: no symbol ckube_no_such_symbol (ckube needs a newer libc6)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolves_typed_pointers),
	    cmocka_unit_test(test_threads_open_once),
	    cmocka_unit_test(test_missing_library),
	    cmocka_unit_test(test_missing_symbol),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
