/* The container's user from the image's account files (runc's and containerd's rules), and
 * files read through unpacked layers the way overlayfs merges them. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "runtime/image_user.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char passwd_text[] = "root:x:0:0:root:/root:/bin/sh\n"
				  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
				  "app:x:1000:1000:App,,,:/home/app:/bin/sh\n"
				  "1001:x:2000:2000::/home/numeric:/bin/sh\n"
				  "nohome:x:3000:3000::\n"
				  "dup:x:4000:4000::/first:/bin/sh\n"
				  "dup:x:4001:4001::/second:/bin/sh\n";

static const char group_text[] = "root:x:0:\n"
				 "wheel:x:10:root,app\n"
				 "staff:x:50:other,app\n"
				 "audio:x:63:other\n"
				 "app:x:1000:app\n"
				 "numeric:x:2000:1001\n"
				 "staff:x:51:app\n";

static struct user_request request(const char *image_user)
{
	return (struct user_request){
	    .image_user = image_user, .run_as_user = -1, .run_as_group = -1};
}

static void assert_user(const char *passwd, const char *group, const struct user_request *req,
			uid_t uid, gid_t gid, const char *home, const gid_t *groups,
			size_t group_count)
{
	struct process_user user;
	struct ck_error err = {0};
	int r = user_resolve_from_text(passwd, group, req, &user, &err);
	if (r != 0)
		fail_msg("USER \"%s\": %d %s", req->image_user, r, err.message);
	assert_int_equal(user.uid, uid);
	assert_int_equal(user.gid, gid);
	assert_string_equal(user.home, home);
	assert_int_equal(user.group_count, group_count);
	for (size_t i = 0; i < group_count; i++)
		assert_int_equal(user.groups[i], groups[i]);
	process_user_clear(&user);
	assert_null(user.groups);
	assert_null(user.home);
}

static void assert_user_fails(const char *passwd, const char *group, const struct user_request *req,
			      int code, const char *message)
{
	struct process_user user = {.uid = 77};
	struct ck_error err = {0};
	assert_int_equal(user_resolve_from_text(passwd, group, req, &user, &err), -code);
	assert_string_equal(err.message, message);
	assert_int_equal(user.uid, 77); /* untouched */
}

/* --- from text --------------------------------------------------------------------------- */

static void test_root_by_default(void **state)
{
	(void)state;
	struct user_request req = request("");
	const gid_t groups[] = {0, 10};
	assert_user(passwd_text, group_text, &req, 0, 0, "/root", groups, LEN(groups));
	req.image_user = NULL;
	assert_user(passwd_text, group_text, &req, 0, 0, "/root", groups, LEN(groups));
	/* No account files at all: still root, home "/", only the primary group. */
	const gid_t only_root[] = {0};
	assert_user("", "", &req, 0, 0, "/", only_root, 1);
}

static void test_user_by_name(void **state)
{
	(void)state;
	struct user_request req = request("app");
	/* wheel, both staff lines and the primary group; the group named "app" that lists app
	 * is its own group, left out as containerd does (it is the primary one here anyway). */
	const gid_t groups[] = {10, 50, 51, 1000};
	assert_user(passwd_text, group_text, &req, 1000, 1000, "/home/app", groups, LEN(groups));
	/* The first of two entries wins. */
	req = request("dup");
	const gid_t dup_groups[] = {4000};
	assert_user(passwd_text, group_text, &req, 4000, 4000, "/first", dup_groups, 1);
	/* An empty home field is "/", never "". */
	req = request("nohome");
	const gid_t nohome_groups[] = {3000};
	assert_user(passwd_text, group_text, &req, 3000, 3000, "/", nohome_groups, 1);
}

static void test_user_by_uid(void **state)
{
	(void)state;
	/* A uid with an entry takes its group, home and memberships. */
	struct user_request req = request("1000");
	const gid_t groups[] = {10, 50, 51, 1000};
	assert_user(passwd_text, group_text, &req, 1000, 1000, "/home/app", groups, LEN(groups));
	/* Without an entry: gid 0, home "/", no memberships. */
	req = request("4242");
	const gid_t bare[] = {0};
	assert_user(passwd_text, group_text, &req, 4242, 0, "/", bare, 1);
	assert_user("", "", &req, 4242, 0, "/", bare, 1);
	/* A number is a uid even when a user has that name (runc). */
	req = request("1001");
	assert_user(passwd_text, group_text, &req, 1001, 0, "/", bare, 1);
	req = request("+1000");
	assert_user(passwd_text, group_text, &req, 1000, 1000, "/home/app", groups, LEN(groups));
	req = request("2147483647");
	assert_user("", "", &req, 2147483647, 0, "/", bare, 1);
}

static void test_user_and_group(void **state)
{
	(void)state;
	struct user_request req = request("app:audio");
	const gid_t app_audio[] = {10, 50, 51, 63};
	assert_user(passwd_text, group_text, &req, 1000, 63, "/home/app", app_audio,
		    LEN(app_audio));
	req = request("1000:5000");
	const gid_t uid_gid[] = {10, 50, 51, 5000};
	assert_user(passwd_text, group_text, &req, 1000, 5000, "/home/app", uid_gid, LEN(uid_gid));
	req = request("app:50");
	const gid_t app_50[] = {10, 50, 51};
	assert_user(passwd_text, group_text, &req, 1000, 50, "/home/app", app_50, LEN(app_50));
	/* The first "staff" wins. */
	req = request("4242:staff");
	const gid_t uid_staff[] = {50};
	assert_user(passwd_text, group_text, &req, 4242, 50, "/", uid_staff, 1);
	/* Empty parts are not given: ":audio" is root with audio, "app:" is plain app. */
	req = request(":audio");
	const gid_t root_audio[] = {10, 63};
	assert_user(passwd_text, group_text, &req, 0, 63, "/root", root_audio, LEN(root_audio));
	req = request("app:");
	const gid_t app_groups[] = {10, 50, 51, 1000};
	assert_user(passwd_text, group_text, &req, 1000, 1000, "/home/app", app_groups,
		    LEN(app_groups));
	/* A numeric group needs no entry. */
	req = request("4242:4242");
	const gid_t numeric[] = {4242};
	assert_user("", "", &req, 4242, 4242, "/", numeric, 1);
}

static void test_security_context_overrides(void **state)
{
	(void)state;
	/* runAsUser replaces the user part; the image's user is not even looked up. */
	struct user_request req = request("ghost");
	req.run_as_user = 1000;
	const gid_t app_groups[] = {10, 50, 51, 1000};
	assert_user(passwd_text, group_text, &req, 1000, 1000, "/home/app", app_groups,
		    LEN(app_groups));
	req.run_as_user = 0;
	const gid_t root_groups[] = {0, 10};
	assert_user(passwd_text, group_text, &req, 0, 0, "/root", root_groups, LEN(root_groups));
	/* With runAsUser the group part of USER goes too, as containerd resolves a uid: the
	 * passwd entry's group, else 0. */
	req = request("app:audio");
	req.run_as_user = 4242;
	const gid_t root_group[] = {0};
	assert_user(passwd_text, group_text, &req, 4242, 0, "/", root_group, 1);
	/* runAsGroup replaces it, also a group part that names no group. */
	req = request("app:ghost");
	req.run_as_group = 7;
	const gid_t seven[] = {7, 10, 50, 51};
	assert_user(passwd_text, group_text, &req, 1000, 7, "/home/app", seven, LEN(seven));
	req = request("");
	req.run_as_user = 1000;
	req.run_as_group = 3000;
	const gid_t both[] = {10, 50, 51, 3000};
	assert_user(passwd_text, group_text, &req, 1000, 3000, "/home/app", both, LEN(both));
}

static void test_supplemental_groups(void **state)
{
	(void)state;
	const int64_t supplemental[] = {70000, 50, 3000, 70000, 0};
	struct user_request req = request("app");
	req.supplemental_groups = supplemental;
	req.supplemental_count = LEN(supplemental);
	const gid_t groups[] = {0, 10, 50, 51, 1000, 3000, 70000};
	assert_user(passwd_text, group_text, &req, 1000, 1000, "/home/app", groups, LEN(groups));
	req = request("4242");
	req.supplemental_groups = supplemental;
	req.supplemental_count = 1;
	const gid_t bare[] = {0, 70000};
	assert_user("", "", &req, 4242, 0, "/", bare, LEN(bare));
}

static void test_missing_user_and_group(void **state)
{
	(void)state;
	struct user_request req = request("ghost");
	assert_user_fails(passwd_text, group_text, &req, ENOENT,
			  "unable to find user ghost: no matching entries in passwd file");
	assert_user_fails("", "", &req, ENOENT,
			  "unable to find user ghost: no matching entries in passwd file");
	req = request("app:ghost");
	assert_user_fails(passwd_text, group_text, &req, ENOENT,
			  "unable to find group ghost: no matching entries in group file");
	req = request("4242:ghost");
	assert_user_fails("", "", &req, ENOENT,
			  "unable to find group ghost: no matching entries in group file");
	/* A name is never taken for a number: "1e3" and " 1" are names. */
	req = request("1e3");
	assert_user_fails("", "", &req, ENOENT,
			  "unable to find user 1e3: no matching entries in passwd file");
	/* Beyond int64 is not a number for Go's Atoi either. */
	req = request("99999999999999999999");
	assert_user_fails("", "", &req, ENOENT,
			  "unable to find user 99999999999999999999: no matching entries in "
			  "passwd file");
}

static void test_bad_requests(void **state)
{
	(void)state;
	struct user_request req = request("a:b:c");
	assert_user_fails(passwd_text, group_text, &req, EINVAL, "invalid USER value a:b:c");
	req = request("-1");
	assert_user_fails("", "", &req, EINVAL,
			  "user -1: uids and gids must be in range 0-2147483647");
	req = request("2147483648");
	assert_user_fails("", "", &req, EINVAL,
			  "user 2147483648: uids and gids must be in range 0-2147483647");
	req = request("0:-5");
	assert_user_fails("", "", &req, EINVAL,
			  "group -5: uids and gids must be in range 0-2147483647");
	req = request("");
	req.run_as_user = 2147483648LL;
	assert_user_fails("", "", &req, EINVAL,
			  "runAsUser 2147483648: uids and gids must be in range 0-2147483647");
	req = request("");
	req.run_as_group = 4294967295LL;
	assert_user_fails("", "", &req, EINVAL,
			  "runAsGroup 4294967295: uids and gids must be in range 0-2147483647");
	const int64_t bad_groups[] = {5, -2};
	req = request("");
	req.supplemental_groups = bad_groups;
	req.supplemental_count = LEN(bad_groups);
	assert_user_fails("", "", &req, EINVAL,
			  "supplementalGroups -2: uids and gids must be in range 0-2147483647");
}

static void test_malformed_lines_are_skipped(void **state)
{
	(void)state;
	static const char passwd[] = "#root:x:0:0::/evil:/bin/sh\n"
				     "broken\n"
				     "x:x:notnum:0::/x:/bin/sh\n"
				     ":x:5:5::/nameless:/bin/sh\n"
				     "neg:x:-1:0::/neg:/bin/sh\n"
				     "minus1:x:4294967295:0::/m:/bin/sh\n"
				     "huge:x:99999999999:0::/h:/bin/sh\n"
				     "short:x:7\n"
				     "\n"
				     "   \t\n"
				     "root:x:0:0:root:/root:/bin/sh\n"
				     "  spaced:x:2001:2001::/home/spaced:/bin/sh  \n"
				     "crlf:x:6:6::/home/crlf:/bin/sh\r\n"
				     "minimal:x:8:9\n"
				     "colons:x:10:11:a:b:c:d:e:f\n"
				     "last:x:12:12::/home/last";
	static const char group[] = "# comment\n"
				    "bad:x:nope:spaced\n"
				    "nogid:x::spaced\n"
				    "ok:x:77:crlf,spaced\n"
				    "tail:x:78:spaced";
	struct user_request req = request("");
	const gid_t root_groups[] = {0};
	assert_user(passwd, group, &req, 0, 0, "/root", root_groups, 1);
	static const char *const skipped[] = {"broken", "x",     "neg",  "minus1",
					      "huge",   "short", "#root"};
	for (size_t i = 0; i < LEN(skipped); i++) {
		req = request(skipped[i]);
		char message[128];
		snprintf(message, sizeof(message),
			 "unable to find user %s: no matching entries in passwd file", skipped[i]);
		assert_user_fails(passwd, group, &req, ENOENT, message);
	}
	req = request("spaced");
	const gid_t spaced_groups[] = {77, 78, 2001};
	assert_user(passwd, group, &req, 2001, 2001, "/home/spaced", spaced_groups,
		    LEN(spaced_groups));
	req = request("crlf");
	const gid_t crlf_groups[] = {6, 77};
	assert_user(passwd, group, &req, 6, 6, "/home/crlf", crlf_groups, LEN(crlf_groups));
	req = request("minimal");
	const gid_t minimal_groups[] = {9};
	assert_user(passwd, group, &req, 8, 9, "/", minimal_groups, 1);
	req = request("colons");
	const gid_t colons_groups[] = {11};
	assert_user(passwd, group, &req, 10, 11, "b", colons_groups, 1);
	req = request("last");
	const gid_t last_groups[] = {12};
	assert_user(passwd, group, &req, 12, 12, "/home/last", last_groups, 1);
	req = request("1:bad");
	assert_user_fails(passwd, group, &req, ENOENT,
			  "unable to find group bad: no matching entries in group file");
}

static void test_hostile_long_lines(void **state)
{
	(void)state;
	struct buf passwd = {0}, group = {0};
	for (size_t i = 0; i < (1 << 20); i++)
		buf_putc(&passwd, 'a');
	buf_putc(&passwd, '\n');
	for (size_t i = 0; i < 200000; i++)
		buf_putc(&passwd, ':');
	buf_puts(&passwd, "\napp:x:1000:1000::/home/app:/bin/sh\n");
	buf_puts(&group, "many:x:5:");
	for (size_t i = 0; i < 200000; i++)
		buf_puts(&group, "x,");
	buf_puts(&group, "app\n");
	for (size_t i = 0; i < 100000; i++)
		buf_putc(&group, ',');
	buf_puts(&group, "\nlong:x:6:");
	for (size_t i = 0; i < (1 << 20); i++)
		buf_putc(&group, 'p');
	buf_putc(&group, '\n');
	struct user_request req = request("app");
	const gid_t groups[] = {5, 1000};
	assert_user(passwd.data, group.data, &req, 1000, 1000, "/home/app", groups, LEN(groups));
	buf_free(&passwd);
	buf_free(&group);
}

/* --- image_read_file --------------------------------------------------------------------- */

struct tree {
	char root[64];
};

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int tree_setup(void **state)
{
	struct tree *tree = calloc(1, sizeof(*tree));
	assert_non_null(tree);
	strcpy(tree->root, "/tmp/ckube-image-user-XXXXXX");
	assert_non_null(mkdtemp(tree->root));
	*state = tree;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *tree = *state;
	int r = nftw(tree->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(tree);
	return r;
}

static char *tree_path(const struct tree *tree, const char *relative)
{
	char *path;
	assert_true(asprintf(&path, "%s/%s", tree->root, relative) > 0);
	return path;
}

/* mkdir -p of the parents of `relative`. */
static void make_parents(const struct tree *tree, const char *relative)
{
	char *path = tree_path(tree, relative);
	for (char *slash = path + strlen(tree->root) + 1; (slash = strchr(slash, '/')); slash++) {
		*slash = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*slash = '/';
	}
	free(path);
}

static void make_file(const struct tree *tree, const char *relative, const char *content)
{
	make_parents(tree, relative);
	char *path = tree_path(tree, relative);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static void make_dir(const struct tree *tree, const char *relative)
{
	make_parents(tree, relative);
	char *path = tree_path(tree, relative);
	assert_int_equal(mkdir(path, 0755), 0);
	free(path);
}

static void make_symlink(const struct tree *tree, const char *relative, const char *target)
{
	make_parents(tree, relative);
	char *path = tree_path(tree, relative);
	assert_int_equal(symlink(target, path), 0);
	free(path);
}

/* Whiteouts and opaque markers need privileges (CAP_MKNOD, CAP_SYS_ADMIN for trusted.*); the
 * tests that need them are skipped without. */
static void make_whiteout_or_skip(const struct tree *tree, const char *relative)
{
	make_parents(tree, relative);
	char *path = tree_path(tree, relative);
	int r = mknod(path, S_IFCHR | 0000, makedev(0, 0));
	free(path);
	if (r < 0 && (errno == EPERM || errno == EACCES))
		skip();
	assert_int_equal(r, 0);
}

static void make_opaque_or_skip(const struct tree *tree, const char *relative)
{
	char *path = tree_path(tree, relative);
	int r = setxattr(path, "trusted.overlay.opaque", "y", 1, 0);
	free(path);
	if (r < 0 && (errno == EPERM || errno == ENOTSUP))
		skip();
	assert_int_equal(r, 0);
}

/* Reads `path` over the layers L0..L<count-1> under the tree. */
static int read_layers(const struct tree *tree, size_t count, const char *path, size_t max,
		       char **out, struct ck_error *err)
{
	char *layers[4];
	assert_true(count <= LEN(layers));
	for (size_t i = 0; i < count; i++) {
		char name[8];
		snprintf(name, sizeof(name), "L%zu", i);
		layers[i] = tree_path(tree, name);
		mkdir(layers[i], 0755);
	}
	size_t len = 0;
	*out = NULL;
	int r =
	    image_read_file((const char *const *)layers, count, NULL, path, max, out, &len, err);
	if (r == 0)
		assert_int_equal(len, strlen(*out));
	for (size_t i = 0; i < count; i++)
		free(layers[i]);
	return r;
}

static void assert_reads(const struct tree *tree, size_t count, const char *path,
			 const char *expected)
{
	char *data;
	struct ck_error err = {0};
	int r = read_layers(tree, count, path, 1 << 20, &data, &err);
	if (r != 0)
		fail_msg("read %s: %d %s", path, r, err.message);
	assert_string_equal(data, expected);
	free(data);
}

static void assert_read_fails(const struct tree *tree, size_t count, const char *path, int code)
{
	char *data;
	struct ck_error err = {0};
	int r = read_layers(tree, count, path, 1 << 20, &data, &err);
	if (r != -code)
		fail_msg("read %s: got %d (%s), want %d", path, r, err.message, -code);
	assert_int_equal(err.code, code);
	assert_null(data);
}

static void test_read_bottom_and_upper_layers(void **state)
{
	struct tree *tree = *state;
	make_file(tree, "L0/etc/passwd", "bottom passwd\n");
	make_file(tree, "L0/etc/group", "bottom group\n");
	make_file(tree, "L1/etc/hostname", "upper\n");
	assert_reads(tree, 1, "/etc/passwd", "bottom passwd\n");
	/* An upper layer with /etc but without the file lets the lower one show. */
	assert_reads(tree, 2, "/etc/passwd", "bottom passwd\n");
	make_file(tree, "L2/etc/passwd", "upper passwd\n");
	assert_reads(tree, 3, "/etc/passwd", "upper passwd\n");
	assert_reads(tree, 3, "//etc/./passwd", "upper passwd\n");
	assert_reads(tree, 3, "/etc/group", "bottom group\n");
	assert_read_fails(tree, 3, "/etc/shadow", ENOENT);
	assert_read_fails(tree, 3, "/nonexistent/dir/file", ENOENT);
}

static void test_read_whiteout_hides_lower(void **state)
{
	struct tree *tree = *state;
	make_file(tree, "L0/etc/passwd", "bottom passwd\n");
	make_file(tree, "L0/etc/group", "bottom group\n");
	make_file(tree, "L0/var/lib/file", "deep\n");
	make_whiteout_or_skip(tree, "L1/etc/passwd");
	assert_read_fails(tree, 2, "/etc/passwd", ENOENT);
	assert_reads(tree, 2, "/etc/group", "bottom group\n");
	/* Written again above the whiteout, the file is back. */
	make_file(tree, "L2/etc/passwd", "again\n");
	assert_reads(tree, 3, "/etc/passwd", "again\n");
	/* A whiteout of a directory hides everything below it. */
	make_whiteout_or_skip(tree, "L1/var");
	assert_read_fails(tree, 2, "/var/lib/file", ENOENT);
}

static void test_read_opaque_directory(void **state)
{
	struct tree *tree = *state;
	make_file(tree, "L0/etc/passwd", "bottom passwd\n");
	make_file(tree, "L0/etc/group", "bottom group\n");
	make_file(tree, "L0/etc/ssl/certs", "bottom certs\n");
	make_file(tree, "L1/etc/group", "upper group\n");
	make_opaque_or_skip(tree, "L1/etc");
	assert_read_fails(tree, 2, "/etc/passwd", ENOENT);
	assert_read_fails(tree, 2, "/etc/ssl/certs", ENOENT);
	assert_reads(tree, 2, "/etc/group", "upper group\n");
	/* A layer above the opaque one still adds its own files. */
	make_file(tree, "L2/etc/passwd", "top passwd\n");
	assert_reads(tree, 3, "/etc/passwd", "top passwd\n");
}

static void test_read_non_directory_on_the_way(void **state)
{
	struct tree *tree = *state;
	make_file(tree, "L0/etc/passwd", "bottom passwd\n");
	make_file(tree, "L1/etc", "a file where a directory was\n");
	assert_read_fails(tree, 2, "/etc/passwd", ENOENT);
}

static void test_read_symlinks_stay_in_the_layer(void **state)
{
	struct tree *tree = *state;
	/* The host's /etc/shadow exists (and is readable as root): a link to it must not reach
	 * it. */
	make_file(tree, "L0/etc/passwd", "bottom passwd\n");
	make_symlink(tree, "L1/etc/passwd", "/etc/shadow");
	assert_read_fails(tree, 2, "/etc/passwd", ENOENT);
	make_symlink(tree, "L1/etc/group", "../../../../../../../../etc/shadow");
	assert_read_fails(tree, 2, "/etc/group", ENOENT);
	/* The link resolves inside its own layer. */
	make_file(tree, "L1/etc/shadow", "layer shadow\n");
	assert_reads(tree, 2, "/etc/passwd", "layer shadow\n");
	assert_reads(tree, 2, "/etc/group", "layer shadow\n");
	/* A linked directory on the way, also resolved in the layer. */
	make_symlink(tree, "L2/etc", "/real-etc");
	make_file(tree, "L2/real-etc/passwd", "via link\n");
	assert_reads(tree, 3, "/etc/passwd", "via link\n");
	/* A loop is an error, not a hang. */
	make_symlink(tree, "L3/etc/passwd", "/etc/passwd");
	assert_read_fails(tree, 4, "/etc/passwd", ELOOP);
}

static void test_read_refuses_what_is_not_a_file(void **state)
{
	struct tree *tree = *state;
	make_file(tree, "L0/etc/passwd", "bottom passwd\n");
	make_dir(tree, "L1/etc/passwd");
	assert_read_fails(tree, 2, "/etc/passwd", EINVAL);
	/* A fifo would block a plain open for reading. */
	make_parents(tree, "L2/etc/group");
	char *fifo = tree_path(tree, "L2/etc/group");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	free(fifo);
	assert_read_fails(tree, 3, "/etc/group", EINVAL);
	/* And a link to a fifo. */
	make_symlink(tree, "L3/etc/group", "/etc/passwd");
	make_parents(tree, "L3/etc/passwd");
	fifo = tree_path(tree, "L3/etc/passwd");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	free(fifo);
	assert_read_fails(tree, 4, "/etc/group", EINVAL);
}

static void test_read_size_limit(void **state)
{
	struct tree *tree = *state;
	make_file(tree, "L0/etc/passwd", "0123456789");
	char *data;
	struct ck_error err = {0};
	assert_int_equal(read_layers(tree, 1, "/etc/passwd", 9, &data, &err), -EFBIG);
	assert_non_null(strstr(err.message, "larger than 9 bytes"));
	assert_int_equal(read_layers(tree, 1, "/etc/passwd", 10, &data, &err), 0);
	assert_string_equal(data, "0123456789");
	free(data);
	make_file(tree, "L0/etc/empty", "");
	assert_int_equal(read_layers(tree, 1, "/etc/empty", 0, &data, &err), 0);
	assert_string_equal(data, "");
	free(data);
}

static void test_read_bad_paths(void **state)
{
	struct tree *tree = *state;
	make_file(tree, "L0/etc/passwd", "bottom passwd\n");
	assert_read_fails(tree, 1, "etc/passwd", EINVAL);
	assert_read_fails(tree, 1, "/etc/../etc/passwd", EINVAL);
	assert_read_fails(tree, 1, "/", EINVAL);
	char *data;
	size_t len;
	struct ck_error err = {0};
	const char *missing[] = {"/nonexistent/ckube-layer"};
	assert_int_equal(image_read_file(missing, 1, NULL, "/etc/passwd", 100, &data, &len, &err),
			 -ENOENT);
	assert_non_null(strstr(err.message, "open layer /nonexistent/ckube-layer"));
	assert_int_equal(image_read_file(NULL, 0, NULL, "/etc/passwd", 100, &data, &len, &err),
			 -EINVAL);
}

static void test_read_rootfs(void **state)
{
	struct tree *tree = *state;
	make_file(tree, "rootfs/etc/passwd", "rootfs passwd\n");
	make_symlink(tree, "rootfs/etc/group", "/etc/shadow");
	char *rootfs = tree_path(tree, "rootfs");
	char *data = NULL;
	size_t len;
	struct ck_error err = {0};
	assert_int_equal(image_read_file(NULL, 0, rootfs, "/etc/passwd", 100, &data, &len, &err),
			 0);
	assert_string_equal(data, "rootfs passwd\n");
	assert_int_equal(len, 14);
	free(data);
	/* The link stays inside the root filesystem. */
	assert_int_equal(image_read_file(NULL, 0, rootfs, "/etc/group", 100, &data, &len, &err),
			 -ENOENT);
	make_file(tree, "rootfs/etc/shadow", "rootfs shadow\n");
	assert_int_equal(image_read_file(NULL, 0, rootfs, "/etc/group", 100, &data, &len, &err), 0);
	assert_string_equal(data, "rootfs shadow\n");
	free(data);
	free(rootfs);
}

/* --- user_resolve over layers ------------------------------------------------------------ */

static void test_user_resolve_over_layers(void **state)
{
	struct tree *tree = *state;
	make_file(tree, "L0/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
	make_file(tree, "L0/etc/group", "root:x:0:\n");
	make_file(tree, "L1/etc/passwd",
		  "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
	make_file(tree, "L1/etc/group", "root:x:0:\nstaff:x:50:app\n");
	char *layers[] = {tree_path(tree, "L0"), tree_path(tree, "L1")};
	struct user_request req = request("app");
	struct process_user user;
	struct ck_error err = {0};
	assert_int_equal(user_resolve((const char *const *)layers, 2, NULL, &req, &user, &err), 0);
	assert_int_equal(user.uid, 1000);
	assert_int_equal(user.gid, 1000);
	assert_string_equal(user.home, "/home/app");
	assert_int_equal(user.group_count, 2);
	assert_int_equal(user.groups[0], 50);
	assert_int_equal(user.groups[1], 1000);
	process_user_clear(&user);
	/* Only the bottom layer: no app there. */
	assert_int_equal(user_resolve((const char *const *)layers, 1, NULL, &req, &user, &err),
			 -ENOENT);
	assert_string_equal(err.message,
			    "unable to find user app: no matching entries in passwd file");
	free(layers[0]);
	free(layers[1]);
}

static void test_user_resolve_without_account_files(void **state)
{
	struct tree *tree = *state;
	make_dir(tree, "rootfs");
	char *rootfs = tree_path(tree, "rootfs");
	struct user_request req = request("4242:4343");
	struct process_user user;
	struct ck_error err = {0};
	assert_int_equal(user_resolve(NULL, 0, rootfs, &req, &user, &err), 0);
	assert_int_equal(user.uid, 4242);
	assert_int_equal(user.gid, 4343);
	assert_string_equal(user.home, "/");
	process_user_clear(&user);
	req = request("app");
	assert_int_equal(user_resolve(NULL, 0, rootfs, &req, &user, &err), -ENOENT);
	assert_string_equal(err.message,
			    "unable to find user app: no matching entries in passwd file");
	/* Other failures to read are errors, not empty files. */
	make_dir(tree, "rootfs/etc/passwd");
	req = request("");
	assert_int_equal(user_resolve(NULL, 0, rootfs, &req, &user, &err), -EINVAL);
	assert_string_equal(err.message, "/etc/passwd: not a regular file");
	free(rootfs);
}

#define TREE_TEST(f) cmocka_unit_test_setup_teardown(f, tree_setup, tree_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_root_by_default),
	    cmocka_unit_test(test_user_by_name),
	    cmocka_unit_test(test_user_by_uid),
	    cmocka_unit_test(test_user_and_group),
	    cmocka_unit_test(test_security_context_overrides),
	    cmocka_unit_test(test_supplemental_groups),
	    cmocka_unit_test(test_missing_user_and_group),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_malformed_lines_are_skipped),
	    cmocka_unit_test(test_hostile_long_lines),
	    TREE_TEST(test_read_bottom_and_upper_layers),
	    TREE_TEST(test_read_whiteout_hides_lower),
	    TREE_TEST(test_read_opaque_directory),
	    TREE_TEST(test_read_non_directory_on_the_way),
	    TREE_TEST(test_read_symlinks_stay_in_the_layer),
	    TREE_TEST(test_read_refuses_what_is_not_a_file),
	    TREE_TEST(test_read_size_limit),
	    TREE_TEST(test_read_bad_paths),
	    TREE_TEST(test_read_rootfs),
	    TREE_TEST(test_user_resolve_over_layers),
	    TREE_TEST(test_user_resolve_without_account_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
