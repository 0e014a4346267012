/* `ckube image`: the node's image store by hand. pull (with progress), import (docker save
 * and OCI archives), ls (crictl's columns), rm (by name, ID or ID prefix), gc (the kubelet's
 * garbage collection, now). Images that running containers use are never removed. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "lib/cleanup.h"
#include "lib/strconv.h"
#include "lib/timeutil.h"
#include "runtime/cli.h"
#include "runtime/container.h"
#include "runtime/image_gc.h"
#include "runtime/image_import.h"
#include "runtime/image_pull.h"
#include "runtime/image_store.h"
#include "runtime/process_spec.h"

enum { OPT_HIGH = 'H', OPT_LOW = 'L', OPT_MIN_AGE = 'A', OPT_DIR_BASE = 256 };
/* crictl's IMAGE ID column: the first 13 hex digits. */
#define SHORT_ID_LENGTH 13
#define MIN_ID_PREFIX 4

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: ckube image [--data-dir DIR] [--config-dir DIR] [--run-dir DIR] COMMAND\n"
	    "\n"
	    "commands:\n"
	    "  pull REF      pull from its registry (mirrors and credentials from\n"
	    "                <config-dir>/registries.yaml)\n"
	    "  import FILE   import a docker save or OCI layout archive (tar, .gz, .zst, .xz)\n"
	    "  ls            list the images\n"
	    "  rm REF...     remove images by name, ID or ID prefix\n"
	    "  gc [--high PERCENT] [--low PERCENT] [--min-age DURATION]\n"
	    "                the kubelet's image garbage collection, now: when the image file\n"
	    "                system is at least PERCENT (85) full, remove images no running\n"
	    "                container uses, least recently used first, until it is at most\n"
	    "                --low (80) full; images stored less than DURATION (2m) ago stay.\n"
	    "                Blobs and layers no image needs go in any case.\n"
	    "\n"
	    "The store is <data-dir>/images (default /var/lib/ckube/images). Images that running\n"
	    "containers use (containers in <run-dir>) are never removed.\n");
}

struct image_options {
	struct runtime_dirs dirs;
	const char *high, *low, *min_age; /* gc only */
};

typedef int (*image_command)(const struct image_options *opts, struct image_store *store,
			     char **args, int count);

static void free_records(struct image_record **records, size_t count)
{
	for (size_t i = 0; i < count; i++)
		image_record_free(records[i]);
	free(records);
}

/* --- pull and import --------------------------------------------------------------------- */

static int cmd_pull(const struct image_options *opts, struct image_store *store, char **args,
		    int count)
{
	(void)count;
	struct ck_error err = {0};
	_cleanup_free_ char *path = NULL;
	struct registries *registries = NULL;
	if (asprintf(&path, "%s/registries.yaml", opts->dirs.config_dir) < 0) {
		path = NULL;
		fprintf(stderr, "ckube image pull: out of memory\n");
		return 1;
	}
	if (registries_load(path, &registries, &err) < 0) {
		fprintf(stderr, "ckube image pull: %s\n", err.message);
		return 1;
	}
	struct pull_progress progress;
	struct image_record *record = NULL;
	pull_progress_terminal(&progress, stderr);
	int r = image_pull(store, registries, args[0], true, &progress, &record, &err);
	pull_progress_terminal_done(&progress);
	registries_free(registries);
	if (r < 0) {
		fprintf(stderr, "ckube image pull: %s\n", err.message);
		return 1;
	}
	printf("Image is up to date for %s\n", record->id);
	image_record_free(record);
	return 0;
}

static int cmd_import(const struct image_options *opts, struct image_store *store, char **args,
		      int count)
{
	(void)opts;
	(void)count;
	struct ck_error err = {0};
	struct image_record **records;
	size_t imported;
	if (image_import(store, args[0], &records, &imported, &err) < 0) {
		fprintf(stderr, "ckube image import: %s\n", err.message);
		return 1;
	}
	for (size_t i = 0; i < imported; i++) {
		printf("Imported %s", records[i]->id);
		for (size_t n = 0; n < records[i]->name_count; n++)
			printf("%s%s", n ? ", " : " as ", records[i]->names[n]);
		printf("\n");
	}
	free_records(records, imported);
	return 0;
}

/* --- ls ---------------------------------------------------------------------------------- */

struct image_row {
	char *image;
	const char *tag;
	char id[SHORT_ID_LENGTH + 1];
	char size[16];
};

/* As crictl (go-units' HumanSize): four significant digits, decimal units. */
static void human_size(int64_t bytes, char out[16])
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	double value = (double)bytes;
	size_t unit = 0;
	while (value >= 1000 && unit + 1 < sizeof(units) / sizeof(units[0])) {
		value /= 1000;
		unit++;
	}
	snprintf(out, 16, "%.4g%s", value, units[unit]);
}

/* "registry/repo:tag" into "registry/repo" and "tag"; "repo@sha256:..." has no tag. */
static char *split_name(const char *name, const char **tag)
{
	const char *at = strchr(name, '@');
	const char *colon = strrchr(name, ':');
	const char *slash = strrchr(name, '/');
	size_t len = strlen(name);
	*tag = "<none>";
	if (at) {
		len = (size_t)(at - name);
	} else if (colon && (!slash || colon > slash)) {
		len = (size_t)(colon - name);
		*tag = colon + 1;
	}
	return strndup(name, len);
}

static int compare_rows(const void *a, const void *b)
{
	const struct image_row *x = a, *y = b;
	int c = strcmp(x->image, y->image);
	return c ? c : strcmp(x->tag, y->tag);
}

/* One row per tag; an image known only by digest (or not at all) gets one "<none>" row. */
static size_t rows_of(const struct image_record *record, struct image_row *rows)
{
	size_t n = 0;
	for (size_t i = 0; i < record->name_count; i++) {
		if (!strchr(record->names[i], '@')) {
			rows[n].image = split_name(record->names[i], &rows[n].tag);
			n++;
		}
	}
	if (n == 0) {
		rows[0].image = record->name_count ? split_name(record->names[0], &rows[0].tag)
						   : strdup("<none>");
		rows[0].tag = "<none>";
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!rows[i].image)
			abort(); /* out of memory, as lib/'s buffers do */
		snprintf(rows[i].id, sizeof(rows[i].id), "%s", record->id + strlen("sha256:"));
		human_size(record->size, rows[i].size);
	}
	return n;
}

static int cmd_ls(const struct image_options *opts, struct image_store *store, char **args,
		  int count)
{
	(void)opts;
	(void)args;
	(void)count;
	struct ck_error err = {0};
	struct image_record **records;
	size_t record_count, total = 0;
	if (image_store_list(store, &records, &record_count, &err) < 0) {
		fprintf(stderr, "ckube image ls: %s\n", err.message);
		return 1;
	}
	for (size_t i = 0; i < record_count; i++)
		total += records[i]->name_count + 1;
	struct image_row *rows = calloc(total + 1, sizeof(*rows));
	if (!rows)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < record_count; i++)
		n += rows_of(records[i], rows + n);
	qsort(rows, n, sizeof(*rows), compare_rows);
	int width[3] = {(int)strlen("IMAGE"), (int)strlen("TAG"), SHORT_ID_LENGTH};
	for (size_t i = 0; i < n; i++) {
		if ((int)strlen(rows[i].image) > width[0])
			width[0] = (int)strlen(rows[i].image);
		if ((int)strlen(rows[i].tag) > width[1])
			width[1] = (int)strlen(rows[i].tag);
	}
	printf("%-*s   %-*s   %-*s   %s\n", width[0], "IMAGE", width[1], "TAG", width[2],
	       "IMAGE ID", "SIZE");
	for (size_t i = 0; i < n; i++) {
		printf("%-*s   %-*s   %-*s   %s\n", width[0], rows[i].image, width[1], rows[i].tag,
		       width[2], rows[i].id, rows[i].size);
		free(rows[i].image);
	}
	free(rows);
	free_records(records, record_count);
	return 0;
}

/* --- rm ---------------------------------------------------------------------------------- */

/* The IDs of the images running containers use, from the "imageID" annotation their
 * creators record. NULL-terminated; NULL (with `err` set) on failure. */
/* A name or ID the store knows, or a unique prefix of an ID ("1a2b3c4d", "sha256:1a2b"), in
 * which case *by_prefix is set. */
static int resolve_image(struct image_store *store, const char *reference,
			 struct image_record **out, bool *by_prefix, struct ck_error *err)
{
	*by_prefix = false;
	int r = image_store_find(store, reference, out, err);
	const char *hex = strncmp(reference, "sha256:", 7) == 0 ? reference + 7 : reference;
	size_t len = strlen(hex);
	if (r != -ENOENT || len < MIN_ID_PREFIX || strspn(hex, "0123456789abcdef") != len)
		return r;
	struct image_record **records;
	size_t count;
	if ((r = image_store_list(store, &records, &count, err)) < 0)
		return r;
	*out = NULL;
	for (size_t i = 0; i < count; i++) {
		if (strncmp(records[i]->id + 7, hex, len) != 0)
			continue;
		if (*out) {
			image_record_free(*out);
			*out = NULL;
			r = ck_error_set(err, EINVAL,
					 "image %s: more than one image has that prefix",
					 reference);
			break;
		}
		*out = steal_ptr(&records[i]);
	}
	free_records(records, count);
	if (r == 0 && !*out)
		r = ck_error_set(err, ENOENT, "image %s: not in the store", reference);
	*by_prefix = r == 0;
	return r;
}

static int remove_one(struct image_store *store, const char *reference, const char *const *in_use,
		      struct ck_error *err)
{
	struct image_record *record;
	bool by_prefix;
	int r = resolve_image(store, reference, &record, &by_prefix, err);
	if (r < 0)
		return r;
	for (const char *const *id = in_use; *id; id++) {
		if (strcmp(*id, record->id) == 0) {
			r = ck_error_set(err, EBUSY, "image %s (%s): a running container uses it",
					 reference, record->id);
			break;
		}
	}
	/* A name removes that name, an ID (or a prefix of one) the image. */
	if (r == 0)
		r = image_store_remove(store, by_prefix ? record->id : reference, in_use, err);
	image_record_free(record);
	return r;
}

static int cmd_rm(const struct image_options *opts, struct image_store *store, char **args,
		  int count)
{
	struct ck_error err = {0};
	char **in_use = container_images_in_use(opts->dirs.run_dir, &err);
	if (!in_use) {
		fprintf(stderr, "ckube image rm: find the images in use: %s\n", err.message);
		return 1;
	}
	int status = 0;
	for (int i = 0; i < count; i++) {
		if (remove_one(store, args[i], (const char *const *)in_use, &err) < 0) {
			fprintf(stderr, "ckube image rm: %s\n", err.message);
			status = 1;
		} else {
			printf("Deleted: %s\n", args[i]);
		}
	}
	strv_free(in_use);
	return status;
}

/* --- gc ---------------------------------------------------------------------------------- */

static int percent_option(const char *name, const char *text, int *out, struct ck_error *err)
{
	int64_t value;
	if (!text)
		return 0;
	if (strconv_parse_int(text, 0, 100, &value, NULL) < 0)
		return ck_error_set(err, EINVAL, "%s %s: must be a percentage from 0 to 100", name,
				    text);
	*out = (int)value;
	return 0;
}

static int gc_policy(const struct image_options *opts, struct image_gc_policy *policy,
		     struct ck_error *err)
{
	int64_t nanoseconds;
	*policy = (struct image_gc_policy)IMAGE_GC_POLICY_DEFAULT;
	if (percent_option("--high", opts->high, &policy->high_percent, err) < 0 ||
	    percent_option("--low", opts->low, &policy->low_percent, err) < 0)
		return -err->code;
	if (opts->min_age) {
		if (timeutil_parse_duration(opts->min_age, &nanoseconds, err) < 0)
			return ck_error_prefix(err, "--min-age");
		policy->min_age_seconds = nanoseconds / 1000000000;
	}
	return image_gc_policy_check(policy, err);
}

static void print_gc_report(const struct image_gc_report *report)
{
	char freed[16];
	for (size_t i = 0; i < report->removed; i++) {
		const struct image_record *image = report->removed_images[i];
		printf("Deleted: %s", image->id);
		for (size_t n = 0; n < image->name_count; n++)
			printf("%s%s", n ? ", " : " (", image->names[n]);
		printf("%s\n", image->name_count ? ")" : "");
	}
	human_size(report->freed_bytes, freed);
	printf("Total reclaimed space: %s (usage %d%% -> %d%%)\n", freed, report->usage_before,
	       report->usage_after);
}

static int cmd_gc(const struct image_options *opts, struct image_store *store, char **args,
		  int count)
{
	(void)args;
	(void)count;
	struct ck_error err = {0};
	struct image_gc_policy policy;
	if (gc_policy(opts, &policy, &err) < 0) {
		fprintf(stderr, "ckube image gc: %s\n", err.message);
		return 2;
	}
	char **in_use = container_images_in_use(opts->dirs.run_dir, &err);
	if (!in_use) {
		fprintf(stderr, "ckube image gc: find the images in use: %s\n", err.message);
		return 1;
	}
	struct image_gc_report report;
	int r = image_gc_run(store, &policy, (const char *const *)in_use, &report, &err);
	print_gc_report(&report);
	if (r < 0)
		fprintf(stderr, "ckube image gc: %s\n", err.message);
	image_gc_report_clear(&report);
	strv_free(in_use);
	return r < 0 ? 1 : 0;
}

/* --- the command ------------------------------------------------------------------------- */

static const struct {
	const char *name;
	image_command run;
	int min_args, max_args;
	bool gc_options;
} commands[] = {
    {"pull", cmd_pull, 1, 1, false}, {"import", cmd_import, 1, 1, false},
    {"ls", cmd_ls, 0, 0, false},     {"rm", cmd_rm, 1, 1 << 20, false},
    {"gc", cmd_gc, 0, 0, true},
};

/* The options of every command, wherever they stand on the line. */
static bool parse_options(int argc, char **argv, struct image_options *opts, bool *help)
{
	static const struct option options[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"high", required_argument, NULL, OPT_HIGH},
	    {"low", required_argument, NULL, OPT_LOW},
	    {"min-age", required_argument, NULL, OPT_MIN_AGE},
	    RUNTIME_DIRS_OPTIONS(OPT_DIR_BASE),
	    {0},
	};
	int c;
	*opts = (struct image_options){0};
	*help = false;
	runtime_dirs_default(&opts->dirs);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'h')
			*help = true;
		else if (c == OPT_HIGH)
			opts->high = optarg;
		else if (c == OPT_LOW)
			opts->low = optarg;
		else if (c == OPT_MIN_AGE)
			opts->min_age = optarg;
		else if (!runtime_dirs_option(&opts->dirs, c - OPT_DIR_BASE, optarg))
			return false;
	}
	return true;
}

int image_main(int argc, char **argv)
{
	struct image_options opts;
	bool help;
	if (!parse_options(argc, argv, &opts, &help)) {
		usage(stderr);
		return 2;
	}
	if (help) {
		usage(stdout);
		return 0;
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[optind];
	int count = argc - optind - 1;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) != 0)
			continue;
		bool gc_options = opts.high || opts.low || opts.min_age;
		if (count < commands[i].min_args || count > commands[i].max_args ||
		    (gc_options && !commands[i].gc_options)) {
			usage(stderr);
			return 2;
		}
		struct ck_error err = {0};
		struct image_store *store _cleanup_(image_store_closep) = NULL;
		if (runtime_open_store(&opts.dirs, &store, &err) < 0) {
			fprintf(stderr, "ckube image %s: %s\n", name, err.message);
			return 1;
		}
		return commands[i].run(&opts, store, argv + optind + 1, count);
	}
	fprintf(stderr, "ckube image: unknown command \"%s\"\n", name);
	usage(stderr);
	return 2;
}
