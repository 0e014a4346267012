#include "kubectl/args.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strconv.h"

void arg_strings_add(struct arg_strings *list, const char *item)
{
	const char **grown = realloc(list->items, (list->count + 1) * sizeof(*grown));
	if (!grown)
		abort();
	list->items = grown;
	list->items[list->count++] = item;
}

void arg_strings_free(struct arg_strings *list)
{
	free(list->items);
	*list = (struct arg_strings){0};
}

static const struct arg_option *find_long(const struct arg_option *options, const char *name,
					  size_t len)
{
	for (; options->long_name || options->short_name; options++)
		if (options->long_name && strlen(options->long_name) == len &&
		    strncmp(options->long_name, name, len) == 0)
			return options;
	return NULL;
}

static const struct arg_option *find_short(const struct arg_option *options, char name)
{
	for (; options->long_name || options->short_name; options++)
		if (options->short_name == name)
			return options;
	return NULL;
}

/* Stores `value` (NULL for a bare boolean flag) into the option's target. */
static int store(const struct arg_option *option, const char *flag, const char *value,
		 struct ck_error *err)
{
	int64_t number;
	int ret = 0;
	switch (option->kind) {
	case ARG_BOOL:
		if (!value)
			*(bool *)option->value = true;
		else
			ret = strconv_parse_bool(value, option->value, err);
		break;
	case ARG_STRING:
		*(const char **)option->value = value;
		break;
	case ARG_STRINGS:
		arg_strings_add(option->value, value);
		break;
	case ARG_LONG:
		ret = strconv_parse_int(value, LONG_MIN, LONG_MAX, &number, err);
		if (ret == 0)
			*(long *)option->value = (long)number;
		break;
	}
	if (ret < 0)
		return ck_error_prefix(err, "invalid argument \"%s\" for \"%s\" flag", value, flag);
	return 0;
}

struct cursor {
	int argc;
	const char *const *argv;
	int index;
};

static const char *next_value(struct cursor *c)
{
	return c->index + 1 < c->argc ? c->argv[++c->index] : NULL;
}

static int parse_long_flag(struct cursor *c, const struct arg_option *options, bool pass_unknown,
			   struct arg_strings *rest, struct ck_error *err)
{
	const char *arg = c->argv[c->index];
	const char *name = arg + 2;
	const char *equals = strchr(name, '=');
	size_t name_len = equals ? (size_t)(equals - name) : strlen(name);
	const struct arg_option *option = find_long(options, name, name_len);
	if (!option) {
		if (!pass_unknown)
			return ck_error_set(err, EINVAL, "unknown flag: --%.*s", (int)name_len,
					    name);
		arg_strings_add(rest, arg);
		return 0;
	}
	const char *value = equals ? equals + 1 : NULL;
	if (!value && option->kind != ARG_BOOL && !(value = next_value(c)))
		return ck_error_set(err, EINVAL, "flag needs an argument: --%s", option->long_name);
	char flag[128];
	snprintf(flag, sizeof(flag), "--%s", option->long_name);
	return store(option, flag, value, err);
}

static int parse_short_flags(struct cursor *c, const struct arg_option *options, bool pass_unknown,
			     struct arg_strings *rest, struct ck_error *err)
{
	const char *arg = c->argv[c->index];
	for (const char *p = arg + 1; *p; p++) {
		const struct arg_option *option = find_short(options, *p);
		if (!option) {
			/* This pass cannot tell where an unknown flag's value ends: hand the whole
			 * cluster on. */
			if (pass_unknown && p == arg + 1) {
				arg_strings_add(rest, arg);
				return 0;
			}
			return ck_error_set(err, EINVAL, "unknown shorthand flag: '%c' in %s", *p,
					    arg);
		}
		char flag[3] = {'-', *p, '\0'};
		if (option->kind == ARG_BOOL) {
			if (p[1] == '=')
				return store(option, flag, p + 2, err);
			int ret = store(option, flag, NULL, err);
			if (ret < 0)
				return ret;
			continue;
		}
		const char *value = p[1] ? p + 1 + (p[1] == '=') : next_value(c);
		if (!value)
			return ck_error_set(err, EINVAL, "flag needs an argument: '%c' in %s", *p,
					    arg);
		return store(option, flag, value, err);
	}
	return 0;
}

int args_parse(int argc, const char *const *argv, const struct arg_option *options,
	       bool pass_unknown, struct arg_strings *rest, struct ck_error *err)
{
	struct cursor c = {argc, argv, 0};
	for (; c.index < argc; c.index++) {
		const char *arg = argv[c.index];
		int ret = 0;
		if (strcmp(arg, "--") == 0) {
			/* A pass that leaves flags to a later one keeps the marker for it. */
			for (c.index += pass_unknown ? 0 : 1; c.index < argc; c.index++)
				arg_strings_add(rest, argv[c.index]);
			break;
		}
		if (arg[0] == '-' && arg[1] == '-')
			ret = parse_long_flag(&c, options, pass_unknown, rest, err);
		else if (arg[0] == '-' && arg[1] != '\0')
			ret = parse_short_flags(&c, options, pass_unknown, rest, err);
		else
			arg_strings_add(rest, arg);
		if (ret < 0)
			return ret;
	}
	return 0;
}
