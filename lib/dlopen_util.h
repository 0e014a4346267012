/* Libraries that only some commands need are opened with dlopen() on first use instead of being
 * linked. libcurl, libarchive, GnuTLS, libmicrohttpd and SQLite bring some fifty shared
 * libraries with them (OpenSSL, Kerberos, LDAP, ICU, p11-kit, ...), nearly all bound at load
 * time: linked, the dynamic loader relocates them at every start, 5 ms of a `ckube run` or a
 * `ckube version` that uses none of them.
 *
 * Each library has a module that lists the symbols ckube calls in an X-macro, so that one list
 * makes the pointers, their declarations and the table dlsym() fills:
 *
 *   foo_dl.h:  #define FOO_SYMBOLS(X) X(foo_open) X(foo_close)
 *              FOO_SYMBOLS(DLOPEN_DECLARE)
 *              int dlopen_foo(struct ck_error *err);
 *   foo_dl.c:  DLOPEN_LIBRARY(foo, "libfoo.so.1", "libfoo1", FOO_SYMBOLS)
 *
 * sym_foo_open then has the type of foo_open from the library's own header, so the compiler
 * checks every call. A feature calls dlopen_foo() where it starts (creating a client, opening a
 * store), so that a missing library fails with that context, and sym_foo_*() once it succeeded.
 * A data symbol (GnuTLS' gnutls_free) gets a pointer to the variable. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

struct dlopen_symbol {
	const char *name;
	void *pointer; /* the address of the module's sym_<name> */
};

struct dlopen_library {
	const char *soname;  /* "libcurl-gnutls.so.4" */
	const char *package; /* the Debian package that ships it, named in errors */
	const struct dlopen_symbol *symbols;
	size_t symbol_count;
	bool loaded;
};

/* Opens the library and resolves every symbol the first time, thread-safe; later calls only
 * check. A failure is not remembered, so a server finds a library installed since.
 * -ELIBACC: "libcurl-gnutls.so.4: cannot open shared object file: No such file or directory
 * (install libcurl3-gnutls)". */
int dlopen_library(struct dlopen_library *library, struct ck_error *err);

#define DLOPEN_DECLARE(name) extern __typeof__(name) *sym_##name;
#define DLOPEN_POINTER(name) __typeof__(name) *sym_##name;
#define DLOPEN_SYMBOL(name) {#name, &sym_##name},

/* The pointers, their table and int dlopen_<lib>(struct ck_error *err). */
#define DLOPEN_LIBRARY(lib, soname_, package_, SYMBOLS)                               \
	SYMBOLS(DLOPEN_POINTER)                                                       \
	static const struct dlopen_symbol lib##_symbols[] = {SYMBOLS(DLOPEN_SYMBOL)}; \
	static struct dlopen_library lib##_library = {                                \
	    .soname = soname_,                                                        \
	    .package = package_,                                                      \
	    .symbols = lib##_symbols,                                                 \
	    .symbol_count = sizeof(lib##_symbols) / sizeof(lib##_symbols[0]),         \
	};                                                                            \
	int dlopen_##lib(struct ck_error *err)                                        \
	{                                                                             \
		return dlopen_library(&lib##_library, err);                           \
	}
