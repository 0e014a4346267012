/* volume/ without mounts: spec.volumes read into typed structs, hostPath types and the
 * allow-list on a temporary tree, configMap and secret payloads, and mountinfo parsing. Runs for
 * anyone; only the BlockDevice check needs root (mknod) and is skipped without it. The directory
 * layouts and mounts are in test_volume_files.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/mountinfo.h"
#include "volume/host_path.h"
#include "volume/object_payload.h"
#include "volume/volume_spec.h"

/* ---- volume_specs_parse ---- */

static int parse(const char *text, struct volume_spec **specs, size_t *count, struct ck_error *err)
{
	json_error_t json_err;
	_cleanup_json_ json_t *volumes = json_loads(text, 0, &json_err);

	if (!volumes)
		fail_msg("bad test JSON %s: %s", text, json_err.text);
	*specs = NULL;
	*count = 0;
	return volume_specs_parse(volumes, specs, count, err);
}

/* The one volume of `text`, which must parse. */
static struct volume_spec *parse_one(const char *text)
{
	struct volume_spec *specs;
	size_t count;
	struct ck_error err = {0};

	if (parse(text, &specs, &count, &err) < 0)
		fail_msg("%s: %s", text, err.message);
	assert_int_equal(count, 1);
	return specs;
}

static void parse_fails(const char *text, const char *message)
{
	struct volume_spec *specs;
	size_t count;
	struct ck_error err = {0};

	assert_int_equal(parse(text, &specs, &count, &err), -EINVAL);
	assert_string_equal(err.message, message);
	assert_null(specs);
}

static void every_supported_kind_is_read(void **state)
{
	(void)state;
	struct volume_spec *specs;
	size_t count;
	struct ck_error err = {0};
	const char *text =
	    "[{\"name\":\"host\",\"hostPath\":{\"path\":\"/srv/data\",\"type\":\"Directory\"}},"
	    " {\"name\":\"plain\",\"hostPath\":{\"path\":\"/srv/any\"}},"
	    " {\"name\":\"scratch\",\"emptyDir\":{}},"
	    " {\"name\":\"cache\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"64Mi\"}},"
	    " {\"name\":\"disk\",\"emptyDir\":{\"medium\":\"\",\"sizeLimit\":\"1Gi\"}},"
	    " {\"name\":\"share\",\"nfs\":{\"server\":\"nfs.example\",\"path\":\"/exports/a\","
	    "  \"readOnly\":true}},"
	    " {\"name\":\"conf\",\"configMap\":{\"name\":\"app\",\"defaultMode\":384,"
	    "  \"optional\":true,\"items\":[{\"key\":\"a\",\"path\":\"dir/a.conf\",\"mode\":256},"
	    "  {\"key\":\"b\",\"path\":\"b\"}]}},"
	    " {\"name\":\"creds\",\"secret\":{\"secretName\":\"db\"}},"
	    " {\"name\":\"claim\",\"persistentVolumeClaim\":{\"claimName\":\"c\"}}]";

	if (parse(text, &specs, &count, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(count, 9);

	const struct volume_spec *v = volume_specs_find(specs, count, "host");
	assert_non_null(v);
	assert_int_equal(v->kind, VOLUME_HOST_PATH);
	assert_string_equal(v->source_name, "hostPath");
	assert_string_equal(v->host_path.path, "/srv/data");
	assert_int_equal(v->host_path.type, HOST_PATH_DIRECTORY);
	v = volume_specs_find(specs, count, "plain");
	assert_int_equal(v->host_path.type, HOST_PATH_UNSET);
	assert_string_equal(host_path_type_name(v->host_path.type), "");

	v = volume_specs_find(specs, count, "scratch");
	assert_int_equal(v->kind, VOLUME_EMPTY_DIR);
	assert_false(v->empty_dir.memory);
	assert_int_equal(v->empty_dir.size_limit, -1);
	v = volume_specs_find(specs, count, "cache");
	assert_true(v->empty_dir.memory);
	assert_int_equal(v->empty_dir.size_limit, 64 << 20);
	v = volume_specs_find(specs, count, "disk");
	assert_false(v->empty_dir.memory);
	assert_int_equal(v->empty_dir.size_limit, 1 << 30);

	v = volume_specs_find(specs, count, "share");
	assert_int_equal(v->kind, VOLUME_NFS);
	assert_string_equal(v->nfs.server, "nfs.example");
	assert_string_equal(v->nfs.path, "/exports/a");
	assert_true(v->nfs.read_only);

	v = volume_specs_find(specs, count, "conf");
	assert_int_equal(v->kind, VOLUME_CONFIG_MAP);
	assert_string_equal(v->object.name, "app");
	assert_int_equal(v->object.default_mode, 0600);
	assert_true(v->object.optional);
	assert_int_equal(v->object.item_count, 2);
	assert_string_equal(v->object.items[0].key, "a");
	assert_string_equal(v->object.items[0].path, "dir/a.conf");
	assert_int_equal(v->object.items[0].mode, 0400);
	assert_string_equal(v->object.items[1].path, "b");
	assert_int_equal(v->object.items[1].mode, -1);

	v = volume_specs_find(specs, count, "creds");
	assert_int_equal(v->kind, VOLUME_SECRET);
	assert_string_equal(v->source_name, "secret");
	assert_string_equal(v->object.name, "db");
	assert_int_equal(v->object.default_mode, 0644);
	assert_false(v->object.optional);
	assert_int_equal(v->object.item_count, 0);

	v = volume_specs_find(specs, count, "claim");
	assert_int_equal(v->kind, VOLUME_UNSUPPORTED);
	assert_string_equal(v->source_name, "persistentVolumeClaim");
	assert_null(volume_specs_find(specs, count, "absent"));
	volume_specs_free(specs, count);

	/* No spec.volumes at all. */
	assert_int_equal(volume_specs_parse(NULL, &specs, &count, &err), 0);
	assert_int_equal(count, 0);
	volume_specs_free(specs, count);
}

static void every_host_path_type_round_trips(void **state)
{
	(void)state;
	for (int t = HOST_PATH_UNSET; t <= HOST_PATH_BLOCK_DEVICE; t++) {
		char text[160];
		snprintf(text, sizeof(text),
			 "[{\"name\":\"h\",\"hostPath\":{\"path\":\"/x\",\"type\":\"%s\"}}]",
			 host_path_type_name((enum host_path_type)t));
		struct volume_spec *v = parse_one(text);
		assert_int_equal(v->host_path.type, t);
		volume_specs_free(v, 1);
	}
	assert_string_equal(host_path_type_name(HOST_PATH_DIRECTORY_OR_CREATE),
			    "DirectoryOrCreate");
	assert_string_equal(host_path_type_name(HOST_PATH_CHAR_DEVICE), "CharDevice");
	parse_fails("[{\"name\":\"h\",\"hostPath\":{\"path\":\"/x\",\"type\":\"directory\"}}]",
		    "volume \"h\": hostPath.type: unsupported value \"directory\"");
}

static void unsupported_sources_are_named(void **state)
{
	(void)state;
	const char *sources[] = {"persistentVolumeClaim", "csi",       "projected",
				 "downwardAPI",           "ephemeral", "gitRepo"};
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "[{\"name\":\"v\",\"%s\":{}}]", sources[i]);
		struct volume_spec *v = parse_one(text);
		assert_int_equal(v->kind, VOLUME_UNSUPPORTED);
		assert_string_equal(v->source_name, sources[i]);
		volume_specs_free(v, 1);
	}
}

static void bad_specs_are_refused_naming_volume_and_field(void **state)
{
	(void)state;
	static const struct {
		const char *text, *message;
	} cases[] = {
	    {"[{\"name\":\"v\",\"hostPath\":{\"path\":\"srv\"}}]",
	     "volume \"v\": hostPath.path must be an absolute path"},
	    {"[{\"name\":\"v\",\"hostPath\":{}}]",
	     "volume \"v\": hostPath.path must be an absolute path"},
	    {"[{\"name\":\"v\",\"emptyDir\":{\"medium\":\"HugePages\"}}]",
	     "volume \"v\": emptyDir.medium: unsupported value \"HugePages\""},
	    {"[{\"name\":\"v\",\"emptyDir\":{\"sizeLimit\":\"-1Mi\"}}]",
	     "volume \"v\": emptyDir.sizeLimit must not be negative"},
	    {"[{\"name\":\"v\",\"nfs\":{\"path\":\"/e\"}}]",
	     "volume \"v\": nfs.server is required"},
	    {"[{\"name\":\"v\",\"nfs\":{\"server\":\"\",\"path\":\"/e\"}}]",
	     "volume \"v\": nfs.server is required"},
	    {"[{\"name\":\"v\",\"nfs\":{\"server\":\"s\"}}]",
	     "volume \"v\": nfs.path must be an absolute path"},
	    {"[{\"name\":\"v\",\"nfs\":{\"server\":\"s\",\"path\":\"e\"}}]",
	     "volume \"v\": nfs.path must be an absolute path"},
	    {"[{\"name\":\"v\",\"configMap\":{}}]", "volume \"v\": configMap.name is required"},
	    {"[{\"name\":\"v\",\"secret\":{\"name\":\"s\"}}]",
	     "volume \"v\": secret.secretName is required"},
	    {"[{\"name\":\"v\",\"configMap\":{\"name\":\"c\",\"items\":[{\"key\":\"k\","
	     "\"path\":\"../k\"}]}}]",
	     "volume \"v\": items[0].path must be a relative path without '..'"},
	    {"[{\"name\":\"v\",\"secret\":{\"secretName\":\"s\",\"items\":[{\"key\":\"a\","
	     "\"path\":\"a\"},{\"key\":\"k\",\"path\":\"x/../../k\"}]}}]",
	     "volume \"v\": items[1].path must be a relative path without '..'"},
	    {"[{\"name\":\"v\",\"configMap\":{\"name\":\"c\",\"items\":[{\"key\":\"k\","
	     "\"path\":\"/etc/k\"}]}}]",
	     "volume \"v\": items[0].path must be a relative path without '..'"},
	    {"[{\"name\":\"v\",\"configMap\":{\"name\":\"c\",\"items\":[{\"path\":\"k\"}]}}]",
	     "volume \"v\": items[0].key is required"},
	    {"[{\"name\":\"v\",\"configMap\":{\"name\":\"c\",\"items\":[{\"key\":\"k\","
	     "\"path\":\"k\",\"mode\":512}]}}]",
	     "volume \"v\": items[0].mode must be a number between 0 and 0777"},
	    {"[{\"name\":\"v\",\"configMap\":{\"name\":\"c\",\"items\":[{\"key\":\"k\","
	     "\"path\":\"k\",\"mode\":\"0644\"}]}}]",
	     "volume \"v\": items[0].mode must be a number between 0 and 0777"},
	    {"[{\"name\":\"v\",\"secret\":{\"secretName\":\"s\",\"defaultMode\":-1}}]",
	     "volume \"v\": defaultMode must be a number between 0 and 0777"},
	    {"[{\"name\":\"v\"}]", "volume \"v\": no volume source"},
	    {"[{\"name\":\"a\",\"emptyDir\":{}},{\"name\":\"\",\"emptyDir\":{}}]",
	     "volume 1: no name"},
	    {"[{\"name\":\"a\",\"emptyDir\":{}},{\"name\":\"a\",\"hostPath\":{\"path\":\"/x\"}}]",
	     "volume \"a\": named twice"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		parse_fails(cases[i].text, cases[i].message);

	/* A quantity the parser refuses keeps its own message behind the field. */
	struct volume_spec *specs;
	size_t count;
	struct ck_error err = {0};
	assert_int_equal(
	    parse("[{\"name\":\"v\",\"emptyDir\":{\"sizeLimit\":\"lots\"}}]", &specs, &count, &err),
	    -EINVAL);
	assert_non_null(strstr(err.message, "volume \"v\": emptyDir.sizeLimit: quantities must"));
}

static void modes_at_the_ends_of_the_range_are_kept(void **state)
{
	(void)state;
	struct volume_spec *v =
	    parse_one("[{\"name\":\"v\",\"secret\":{\"secretName\":\"s\",\"defaultMode\":0,"
		      "\"items\":[{\"key\":\"k\",\"path\":\"k\",\"mode\":511}]}}]");
	assert_int_equal(v->object.default_mode, 0);
	assert_int_equal(v->object.items[0].mode, 0777);
	volume_specs_free(v, 1);
}

static void local_paths(void **state)
{
	(void)state;
	const char *local[] = {"a", "a/b/c", "a..", "a/..b/c", "./a", "a/.", "dir/file"};
	/* A leading ".." is reserved for the atomic writer (..data), as in Kubernetes. */
	const char *not_local[] = {"",       "/a",           "..",  "../a", "a/..",
				   "a/../b", "a/b/../../..", "//a", "..a",  "..data"};
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (!volume_path_is_local(local[i]))
			fail_msg("\"%s\" should be local", local[i]);
	for (size_t i = 0; i < sizeof(not_local) / sizeof(not_local[0]); i++)
		if (volume_path_is_local(not_local[i]))
			fail_msg("\"%s\" should not be local", not_local[i]);
	assert_false(volume_path_is_local(NULL));
}

/* ---- hostPath on a temporary tree ---- */

struct tree {
	char root[64];
};

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	strcpy(t->root, "/tmp/ckube-volume-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	umask(022);
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	int r = fs_remove_tree(AT_FDCWD, t->root, &err);
	if (r < 0)
		print_error("%s\n", err.message);
	free(t);
	return r < 0 ? -1 : 0;
}

/* `relative` below the tree's root, in a static buffer (one per nesting of calls). */
static const char *at(const struct tree *t, const char *relative)
{
	static char paths[4][256];
	static unsigned next;
	char *path = paths[next++ % 4];
	snprintf(path, sizeof(paths[0]), "%s/%s", t->root, relative);
	return path;
}

static void make_file(const char *path, const char *content)
{
	assert_int_equal(fs_write_file(path, content, strlen(content), 0644, NULL), 0);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	return st.st_mode;
}

static const struct host_path_policy no_policy = {0};

static void prepare_ok(const char *path, enum host_path_type type)
{
	struct ck_error err = {0};
	if (host_path_prepare(&no_policy, path, type, &err) < 0)
		fail_msg("%s (%s): %s", path, host_path_type_name(type), err.message);
}

/* Fails with the kubelet's type check message: "... is not `what`". */
static void prepare_mismatch(const char *path, enum host_path_type type, const char *what)
{
	struct ck_error err = {0};
	char message[512];
	assert_int_equal(host_path_prepare(&no_policy, path, type, &err), -EINVAL);
	snprintf(message, sizeof(message), "hostPath type check failed: %s is not %s", path, what);
	assert_string_equal(err.message, message);
}

static void directory_or_create_makes_missing_parents(void **state)
{
	struct tree *t = *state;
	prepare_ok(at(t, "a/b/c"), HOST_PATH_DIRECTORY_OR_CREATE);
	assert_int_equal(mode_of(at(t, "a")), S_IFDIR | 0755);
	assert_int_equal(mode_of(at(t, "a/b")), S_IFDIR | 0755);
	assert_int_equal(mode_of(at(t, "a/b/c")), S_IFDIR | 0755);
	prepare_ok(at(t, "a/b/c"), HOST_PATH_DIRECTORY_OR_CREATE);
	prepare_ok(at(t, "a/b/c"), HOST_PATH_DIRECTORY);

	make_file(at(t, "file"), "x");
	prepare_mismatch(at(t, "file"), HOST_PATH_DIRECTORY_OR_CREATE, "a directory");
	prepare_mismatch(at(t, "file"), HOST_PATH_DIRECTORY, "a directory");
	prepare_mismatch(at(t, "missing"), HOST_PATH_DIRECTORY, "a directory");
	assert_int_equal(access(at(t, "missing"), F_OK), -1);
}

static void file_or_create_makes_the_file_only(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	char message[512];

	prepare_ok(at(t, "new.log"), HOST_PATH_FILE_OR_CREATE);
	assert_int_equal(mode_of(at(t, "new.log")), S_IFREG | 0644);
	make_file(at(t, "kept"), "content");
	prepare_ok(at(t, "kept"), HOST_PATH_FILE_OR_CREATE);
	prepare_ok(at(t, "kept"), HOST_PATH_FILE);
	char *text;
	size_t len;
	assert_int_equal(fs_read_file(at(t, "kept"), &text, &len, NULL), 0);
	assert_string_equal(text, "content");
	free(text);

	assert_int_equal(
	    host_path_prepare(&no_policy, at(t, "no/such/file"), HOST_PATH_FILE_OR_CREATE, &err),
	    -ENOENT);
	snprintf(message, sizeof(message), "hostPath: create file %s: No such file or directory",
		 at(t, "no/such/file"));
	assert_string_equal(err.message, message);
	assert_int_equal(access(at(t, "no"), F_OK), -1);

	assert_int_equal(mkdir(at(t, "dir"), 0755), 0);
	prepare_mismatch(at(t, "dir"), HOST_PATH_FILE_OR_CREATE, "a file");
	prepare_mismatch(at(t, "dir"), HOST_PATH_FILE, "a file");
	prepare_mismatch(at(t, "missing"), HOST_PATH_FILE, "a file");
}

static void sockets_and_devices_are_told_apart(void **state)
{
	struct tree *t = *state;
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(address.sun_path, sizeof(address.sun_path), "%s", at(t, "agent.sock"));
	assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	prepare_ok(at(t, "agent.sock"), HOST_PATH_SOCKET);
	close(fd);
	make_file(at(t, "file"), "x");
	prepare_mismatch(at(t, "file"), HOST_PATH_SOCKET, "a socket file");
	prepare_mismatch(at(t, "agent.sock"), HOST_PATH_FILE, "a file");

	prepare_ok("/dev/null", HOST_PATH_CHAR_DEVICE);
	prepare_mismatch(at(t, "file"), HOST_PATH_CHAR_DEVICE, "a character device");
	prepare_mismatch("/dev/null", HOST_PATH_BLOCK_DEVICE, "a block device");
	prepare_mismatch("/dev/null", HOST_PATH_FILE, "a file");
	prepare_mismatch(t->root, HOST_PATH_SOCKET, "a socket file");

	/* No type: nothing is checked and nothing made. */
	prepare_ok(at(t, "absent"), HOST_PATH_UNSET);
	assert_int_equal(access(at(t, "absent"), F_OK), -1);
	/* Symlinks are followed, as the kubelet's stat does. */
	assert_int_equal(symlink("/dev/null", at(t, "null-link")), 0);
	prepare_ok(at(t, "null-link"), HOST_PATH_CHAR_DEVICE);
}

static void block_device_needs_a_block_device(void **state)
{
	struct tree *t = *state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(mknod(at(t, "loop"), S_IFBLK | 0600, makedev(7, 200)), 0);
	prepare_ok(at(t, "loop"), HOST_PATH_BLOCK_DEVICE);
	prepare_mismatch(at(t, "loop"), HOST_PATH_CHAR_DEVICE, "a character device");
}

static void prefixes_match_whole_components(void **state)
{
	(void)state;
	static const struct {
		const char *path, *prefix;
		bool match;
	} cases[] = {
	    {"/data", "/data", true},
	    {"/data/x", "/data", true},
	    {"/data/x/y", "/data/", true},
	    {"/data", "/data/", true},
	    {"/database", "/data", false},
	    {"/dat", "/data", false},
	    {"/data", "/data/x", false},
	    {"/anything/at/all", "/", true},
	    {"/", "/", true},
	    {"/var/lib", "/var/lib/", true},
	    {"/var/lib2", "/var/lib/", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (host_path_has_prefix(cases[i].path, cases[i].prefix) != cases[i].match)
			fail_msg("%s under %s: expected %d", cases[i].path, cases[i].prefix,
				 cases[i].match);
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Opens `path` under `policy`; the descriptor must be the file at `path`. */
static void open_allowed(const struct host_path_policy *policy, const char *path, bool read_only)
{
	struct ck_error err = {0};
	bool ro = !read_only;
	int fd = host_path_open(policy, path, &ro, &err);
	if (fd < 0)
		fail_msg("%s: %s", path, err.message);
	assert_true(same_file(fd, path));
	assert_int_equal(ro, read_only);
	close(fd);
}

static void open_refused(const struct host_path_policy *policy, const char *path, int code,
			 const char *message)
{
	struct ck_error err = {0};
	bool ro;
	assert_int_equal(host_path_open(policy, path, &ro, &err), -code);
	assert_string_equal(err.message, message);
}

static void the_allow_list_holds_for_paths_and_where_they_lead(void **state)
{
	struct tree *t = *state;
	char allowed[128], ro[128], message[512];
	struct host_path_rule rules[] = {{allowed, false}, {ro, true}};
	struct host_path_policy policy = {rules, 2};
	struct ck_error err = {0};

	snprintf(allowed, sizeof(allowed), "%s", at(t, "allowed"));
	snprintf(ro, sizeof(ro), "%s/", at(t, "ro"));
	assert_int_equal(mkdir(allowed, 0755), 0);
	assert_int_equal(mkdir(at(t, "ro"), 0755), 0);
	assert_int_equal(mkdir(at(t, "forbidden"), 0755), 0);
	assert_int_equal(mkdir(at(t, "allowedness"), 0755), 0);
	assert_int_equal(mkdir(at(t, "ro/dir"), 0755), 0);
	make_file(at(t, "allowed/file"), "x");

	open_allowed(&policy, at(t, "allowed/file"), false);
	open_allowed(&policy, allowed, false);
	open_allowed(&policy, at(t, "ro/dir"), true);
	snprintf(message, sizeof(message), "%s//./allowed/file", t->root);
	open_allowed(&policy, message, false);
	/* Without rules every path is allowed, read-write. */
	open_allowed(&no_policy, at(t, "forbidden"), false);

	snprintf(message, sizeof(message),
		 "hostPath %s is not allowed on this node (allowedHostPaths)", at(t, "forbidden"));
	open_refused(&policy, at(t, "forbidden"), EPERM, message);
	snprintf(message, sizeof(message),
		 "hostPath %s is not allowed on this node (allowedHostPaths)",
		 at(t, "allowedness"));
	open_refused(&policy, at(t, "allowedness"), EPERM, message);

	/* A forbidden DirectoryOrCreate makes nothing. */
	assert_int_equal(
	    host_path_prepare(&policy, at(t, "forbidden/new"), HOST_PATH_DIRECTORY_OR_CREATE, &err),
	    -EPERM);
	assert_int_equal(access(at(t, "forbidden/new"), F_OK), -1);
	assert_int_equal(host_path_prepare(&policy, at(t, "allowed/new/deeper"),
					   HOST_PATH_DIRECTORY_OR_CREATE, &err),
			 0);

	/* A symlink inside an allowed prefix counts for where it leads. */
	assert_int_equal(symlink(at(t, "forbidden"), at(t, "allowed/escape")), 0);
	snprintf(message, sizeof(message),
		 "hostPath %s leads to %s, which is not allowed on this node (allowedHostPaths)",
		 at(t, "allowed/escape"), at(t, "forbidden"));
	open_refused(&policy, at(t, "allowed/escape"), EPERM, message);
	assert_int_equal(symlink("../ro/dir", at(t, "allowed/to-ro")), 0);
	bool read_only = false;
	int fd = host_path_open(&policy, at(t, "allowed/to-ro"), &read_only, &err);
	assert_true(fd >= 0);
	assert_true(read_only);
	close(fd);

	snprintf(message, sizeof(message), "hostPath %s: must not contain '..'",
		 at(t, "allowed/../forbidden"));
	open_refused(&policy, at(t, "allowed/../forbidden"), EINVAL, message);
	assert_int_equal(host_path_prepare(&no_policy, at(t, "allowed/../x"),
					   HOST_PATH_DIRECTORY_OR_CREATE, &err),
			 -EINVAL);
	assert_int_equal(access(at(t, "x"), F_OK), -1);

	snprintf(message, sizeof(message), "hostPath %s: No such file or directory",
		 at(t, "allowed/none"));
	open_refused(&policy, at(t, "allowed/none"), ENOENT, message);
}

/* What prepare creates stays inside the allowed prefixes too: a symlink there that leads out
 * must not make the node create directories or files elsewhere. */
static void creation_never_leaves_the_allowed_prefixes(void **state)
{
	struct tree *t = *state;
	char allowed[128];
	struct host_path_rule rule = {allowed, false};
	struct host_path_policy policy = {&rule, 1};
	struct ck_error err = {0};

	snprintf(allowed, sizeof(allowed), "%s", at(t, "allowed"));
	assert_int_equal(mkdir(allowed, 0755), 0);
	assert_int_equal(mkdir(at(t, "forbidden"), 0755), 0);
	assert_int_equal(symlink(at(t, "forbidden"), at(t, "allowed/escape")), 0);
	assert_int_equal(symlink(at(t, "forbidden/planted"), at(t, "allowed/dangling")), 0);

	int dir_r = host_path_prepare(&policy, at(t, "allowed/escape/made"),
				      HOST_PATH_DIRECTORY_OR_CREATE, &err);
	bool dir_made = access(at(t, "forbidden/made"), F_OK) == 0;
	int file_r =
	    host_path_prepare(&policy, at(t, "allowed/dangling"), HOST_PATH_FILE_OR_CREATE, &err);
	bool file_made = access(at(t, "forbidden/planted"), F_OK) == 0;
	if (dir_made || file_made || dir_r >= 0 || file_r >= 0)
		fail_msg("outside the prefix: directory %s (prepare %d), file %s (prepare %d)",
			 dir_made ? "made" : "not made", dir_r, file_made ? "made" : "not made",
			 file_r);
}

/* An operator's prefix may itself lie behind a symlink (/var/lib -> /srv/lib): the paths below
 * it lead to where the prefix leads, and stay allowed. */
static void a_prefix_behind_a_symlink_still_allows(void **state)
{
	struct tree *t = *state;
	char prefix[128];
	struct host_path_rule rule = {prefix, true};
	struct host_path_policy policy = {&rule, 1};

	snprintf(prefix, sizeof(prefix), "%s", at(t, "lib/data"));
	assert_int_equal(mkdir(at(t, "real"), 0755), 0);
	assert_int_equal(mkdir(at(t, "real/data"), 0755), 0);
	assert_int_equal(symlink("real", at(t, "lib")), 0);
	make_file(at(t, "real/data/file"), "x");
	open_allowed(&policy, at(t, "lib/data/file"), true);
}

/* ---- configMap and secret payloads ---- */

static json_t *object_from(const char *text)
{
	json_error_t json_err;
	json_t *object = json_loads(text, 0, &json_err);
	if (!object)
		fail_msg("bad test JSON %s: %s", text, json_err.text);
	return object;
}

static const struct payload_file *file_named(const struct payload *payload, const char *path)
{
	for (size_t i = 0; i < payload->count; i++)
		if (strcmp(payload->files[i].path, path) == 0)
			return &payload->files[i];
	fail_msg("no file %s in the payload", path);
	return NULL;
}

static void expect_file(const struct payload *payload, const char *path, const void *data,
			size_t len, int mode)
{
	const struct payload_file *file = file_named(payload, path);
	assert_int_equal(file->data.len, len);
	assert_memory_equal(file->data.data, data, len);
	assert_int_equal(file->mode, mode);
}

/* The payload of the one volume `volume` for `object` (NULL: absent); 0 or the error. */
static int payload_of(const char *volume, const char *object, struct payload *payload,
		      struct ck_error *err)
{
	struct volume_spec *v = parse_one(volume);
	_cleanup_json_ json_t *json = object ? object_from(object) : NULL;
	int r = payload_from_object(v, json, payload, err);
	volume_specs_free(v, 1);
	return r;
}

static void config_map_data_and_binary_data(void **state)
{
	(void)state;
	struct payload payload;
	struct ck_error err = {0};
	const char binary[] = {0, 1, 2, (char)0xff};

	if (payload_of("[{\"name\":\"v\",\"configMap\":{\"name\":\"app\",\"defaultMode\":416}}]",
		       "{\"data\":{\"app.conf\":\"port=80\\n\",\"empty\":\"\"},"
		       "\"binaryData\":{\"blob\":\"AAEC/w==\"}}",
		       &payload, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(payload.count, 3);
	expect_file(&payload, "app.conf", "port=80\n", 8, 0640);
	expect_file(&payload, "empty", "", 0, 0640);
	expect_file(&payload, "blob", binary, sizeof(binary), 0640);
	payload_free(&payload);

	/* A key that is no file name cannot be shown. */
	assert_int_equal(payload_of("[{\"name\":\"v\",\"configMap\":{\"name\":\"app\"}}]",
				    "{\"data\":{\"..\":\"x\"}}", &payload, &err),
			 -EINVAL);
	assert_string_equal(err.message, "configmap \"app\": key \"..\" is no file name");
	assert_int_equal(payload.count, 0);
}

static void secret_data_is_base64(void **state)
{
	(void)state;
	struct payload payload;
	struct ck_error err = {0};

	if (payload_of("[{\"name\":\"v\",\"secret\":{\"secretName\":\"db\"}}]",
		       "{\"data\":{\"user\":\"YWRtaW4=\",\"password\":\"czNjcjN0\\n\"}}", &payload,
		       &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(payload.count, 2);
	expect_file(&payload, "user", "admin", 5, 0644);
	expect_file(&payload, "password", "s3cr3t", 6, 0644);
	payload_free(&payload);

	assert_int_equal(payload_of("[{\"name\":\"v\",\"secret\":{\"secretName\":\"db\"}}]",
				    "{\"data\":{\"user\":\"admin\"}}", &payload, &err),
			 -EINVAL);
	assert_string_equal(err.message,
			    "secret \"db\": key user: illegal base64 data at input byte 4");
	assert_int_equal(payload.count, 0);
}

static void items_choose_rename_and_set_modes(void **state)
{
	(void)state;
	struct payload payload;
	struct ck_error err = {0};
	const char *object = "{\"data\":{\"a\":\"alpha\",\"b\":\"beta\",\"unused\":\"u\"},"
			     "\"binaryData\":{\"bin\":\"AAEC/w==\"}}";

	if (payload_of(
		"[{\"name\":\"v\",\"configMap\":{\"name\":\"app\",\"defaultMode\":384,"
		"\"items\":[{\"key\":\"a\",\"path\":\"dir/file\",\"mode\":256},"
		"{\"key\":\"b\",\"path\":\"b.txt\"},{\"key\":\"bin\",\"path\":\"x/y/z\"}]}}]",
		object, &payload, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(payload.count, 3);
	expect_file(&payload, "dir/file", "alpha", 5, 0400);
	expect_file(&payload, "b.txt", "beta", 4, 0600);
	expect_file(&payload, "x/y/z", "\0\1\2\377", 4, 0600);
	payload_free(&payload);

	if (payload_of("[{\"name\":\"v\",\"secret\":{\"secretName\":\"s\",\"items\":"
		       "[{\"key\":\"k\",\"path\":\"renamed\",\"mode\":0}]}}]",
		       "{\"data\":{\"k\":\"dg==\",\"other\":\"dg==\"}}", &payload, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(payload.count, 1);
	expect_file(&payload, "renamed", "v", 1, 0);
	payload_free(&payload);
}

static void missing_keys_and_objects(void **state)
{
	(void)state;
	struct payload payload;
	struct ck_error err = {0};
	const char *items = "\"items\":[{\"key\":\"a\",\"path\":\"a\"},{\"key\":\"nope\",\"path\":"
			    "\"n\"}]";
	char volume[256];

	snprintf(volume, sizeof(volume), "[{\"name\":\"v\",\"configMap\":{\"name\":\"app\",%s}}]",
		 items);
	assert_int_equal(payload_of(volume, "{\"data\":{\"a\":\"1\"}}", &payload, &err), -ENOENT);
	assert_string_equal(err.message, "configmap references non-existent config key: nope");
	assert_int_equal(payload.count, 0);
	assert_int_equal(payload_of(volume, NULL, &payload, &err), -ENOENT);
	assert_string_equal(err.message, "configmap \"app\" not found");

	snprintf(volume, sizeof(volume),
		 "[{\"name\":\"v\",\"secret\":{\"secretName\":\"creds\",%s}}]", items);
	assert_int_equal(payload_of(volume, "{\"data\":{\"a\":\"MQ==\"}}", &payload, &err),
			 -ENOENT);
	assert_string_equal(err.message, "secret references non-existent secret key: nope");
	assert_int_equal(payload_of(volume, NULL, &payload, &err), -ENOENT);
	assert_string_equal(err.message, "secret \"creds\" not found");

	/* Optional: a missing key is left out, a missing object gives an empty volume. */
	snprintf(volume, sizeof(volume),
		 "[{\"name\":\"v\",\"configMap\":{\"name\":\"app\",\"optional\":true,%s}}]", items);
	assert_int_equal(payload_of(volume, "{\"data\":{\"a\":\"1\"}}", &payload, &err), 0);
	assert_int_equal(payload.count, 1);
	expect_file(&payload, "a", "1", 1, 0644);
	payload_free(&payload);
	assert_int_equal(payload_of(volume, NULL, &payload, &err), 0);
	assert_int_equal(payload.count, 0);
	payload_free(&payload);
	assert_int_equal(payload_of("[{\"name\":\"v\",\"secret\":{\"secretName\":\"s\","
				    "\"optional\":true}}]",
				    NULL, &payload, &err),
			 0);
	assert_int_equal(payload.count, 0);
	payload_free(&payload);
}

/* ---- mountinfo ---- */

static void mountinfo_unescapes_and_skips_optional_fields(void **state)
{
	(void)state;
	const char *text =
	    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
	    "\n"
	    "not a mount line\n"
	    "40 22 0:50 / /var/lib/my\\040pods/a\\011b rw,nosuid shared:7 master:2 - tmpfs "
	    "tmpfs rw,size=65536k\n"
	    "41 22 0:51 /sub\\134dir /mnt/x rw - nfs4 server:/exp\\040a rw\n"
	    "42 22 0:52 / /no/separator rw shared:1 tmpfs tmpfs rw\n"
	    "43 22 0:53 / /odd\\04 rw - tmpfs \\999 rw";
	struct mountinfo_entry *entries;
	size_t count;

	mountinfo_parse(text, &entries, &count);
	assert_int_equal(count, 4);
	assert_string_equal(entries[0].mount_point, "/");
	assert_string_equal(entries[0].fs_type, "ext4");
	assert_string_equal(entries[0].source, "/dev/vda");
	assert_int_equal(entries[0].id, 22);
	assert_string_equal(entries[0].propagation, "shared:1");
	assert_string_equal(entries[1].propagation, "shared:7 master:2");
	assert_string_equal(entries[2].propagation, "");
	assert_string_equal(entries[1].mount_point, "/var/lib/my pods/a\tb");
	assert_string_equal(entries[1].root, "/");
	assert_string_equal(entries[1].fs_type, "tmpfs");
	assert_string_equal(entries[2].root, "/sub\\dir");
	assert_string_equal(entries[2].fs_type, "nfs4");
	assert_string_equal(entries[2].source, "server:/exp a");
	/* What is no complete escape stays as written. */
	assert_string_equal(entries[3].mount_point, "/odd\\04");
	assert_string_equal(entries[3].source, "\\999");
	mountinfo_free(entries, count);

	mountinfo_parse("", &entries, &count);
	assert_int_equal(count, 0);
	mountinfo_free(entries, count);
}

#define TREE_TEST(name) cmocka_unit_test_setup_teardown(name, tree_setup, tree_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_supported_kind_is_read),
	    cmocka_unit_test(every_host_path_type_round_trips),
	    cmocka_unit_test(unsupported_sources_are_named),
	    cmocka_unit_test(bad_specs_are_refused_naming_volume_and_field),
	    cmocka_unit_test(modes_at_the_ends_of_the_range_are_kept),
	    cmocka_unit_test(local_paths),
	    TREE_TEST(directory_or_create_makes_missing_parents),
	    TREE_TEST(file_or_create_makes_the_file_only),
	    TREE_TEST(sockets_and_devices_are_told_apart),
	    TREE_TEST(block_device_needs_a_block_device),
	    cmocka_unit_test(prefixes_match_whole_components),
	    TREE_TEST(the_allow_list_holds_for_paths_and_where_they_lead),
	    TREE_TEST(creation_never_leaves_the_allowed_prefixes),
	    TREE_TEST(a_prefix_behind_a_symlink_still_allows),
	    cmocka_unit_test(config_map_data_and_binary_data),
	    cmocka_unit_test(secret_data_is_base64),
	    cmocka_unit_test(items_choose_rename_and_set_modes),
	    cmocka_unit_test(missing_keys_and_objects),
	    cmocka_unit_test(mountinfo_unescapes_and_skips_optional_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
