/* Command-line flags the way kubectl (pflag) reads them: "-n ns", "-nns", "--namespace ns",
 * "--namespace=ns", clustered booleans ("-Aw"), "--wait=false", and "--" ending the flags. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

enum arg_kind {
	ARG_BOOL,    /* bool *; "--x", "--x=true|false" */
	ARG_STRING,  /* const char ** (points into argv); the last one given wins */
	ARG_STRINGS, /* struct arg_strings *; every one given, in order */
	ARG_LONG,    /* long * */
};

struct arg_strings {
	const char **items;
	size_t count;
};

struct arg_option {
	char short_name; /* 0: none */
	const char *long_name;
	enum arg_kind kind;
	void *value;
};

/* Reads argv[0..argc) against `options` (ended by an entry without names). Arguments that are
 * not flags go to `rest` in order. With `pass_unknown`, flags not in `options` also go to
 * `rest`, untouched, so a later pass can read them. Fails on unknown flags (without
 * `pass_unknown`), missing values and malformed values, with kubectl's wording. */
int args_parse(int argc, const char *const *argv, const struct arg_option *options,
	       bool pass_unknown, struct arg_strings *rest, struct ck_error *err);

void arg_strings_add(struct arg_strings *list, const char *item);
void arg_strings_free(struct arg_strings *list);
