/* Paths opened inside a tree: symlinks (absolute, climbing, in chains, in loops) and ".." never
 * lead out of it, with openat2() and with the walk taken where openat2() is missing. The walk is
 * forced in a child process whose seccomp filter fails openat2() with ENOSYS, as old kernels and
 * valgrind do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/path_in_root.h"

/* The child's exit code when it cannot install its filter. */
#define SECCOMP_UNAVAILABLE 77

struct tree {
	char root[64];
	int fd;
};

static void make(const struct tree *t, const char *relative, const char *link_target)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", t->root, relative);
	if (link_target) {
		assert_int_equal(symlink(link_target, path), 0);
	} else if (relative[strlen(relative) - 1] == '/') {
		assert_int_equal(mkdir(path, 0755), 0);
	} else {
		assert_int_equal(fs_write_file_atomic(path, relative, strlen(relative), 0644, NULL),
				 0);
	}
}

static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	strcpy(t->root, "/tmp/ckube-path-in-root-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	make(t, "etc/", NULL);
	make(t, "etc/passwd", NULL);
	make(t, "a/", NULL);
	make(t, "a/b/", NULL);
	make(t, "absolute", "/etc");
	make(t, "a/b/climbing", "../../../../etc");
	make(t, "chain", "a/b/climbing");
	make(t, "loop1", "loop2");
	make(t, "loop2", "loop1");
	make(t, "proc-self", "/proc/self/root");
	t->fd = open(t->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(t->fd >= 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	close(t->fd);
	fs_remove_tree(AT_FDCWD, t->root, NULL);
	free(t);
	return 0;
}

/* What an open must give: a file with this content, a symlink, or an error. */
struct expectation {
	const char *path;
	int flags;
	const char *content; /* NULL: see `error` or `symlink` */
	bool symlink;
	int error;
};

static const struct expectation expectations[] = {
    {"etc/passwd", O_RDONLY, "etc/passwd", false, 0},
    {"/etc/passwd", O_RDONLY, "etc/passwd", false, 0},
    {"../../../etc/passwd", O_RDONLY, "etc/passwd", false, 0},
    {"absolute/passwd", O_RDONLY, "etc/passwd", false, 0},
    {"a/b/climbing/passwd", O_RDONLY, "etc/passwd", false, 0},
    {"chain/passwd", O_RDONLY, "etc/passwd", false, 0},
    {"a/b/../../a/./b/climbing/../etc/passwd", O_RDONLY, "etc/passwd", false, 0},
    {"absolute", O_PATH | O_NOFOLLOW, NULL, true, 0},
    {"loop1/x", O_RDONLY, NULL, false, ELOOP},
    {"absolute/passwd", O_RDONLY | O_NOFOLLOW, "etc/passwd", false, 0},
    {"etc/shadow", O_RDONLY, NULL, false, ENOENT},
    {"proc-self/etc/passwd", O_RDONLY, NULL, false, ENOENT},
    {"etc/passwd/x", O_RDONLY, NULL, false, ENOTDIR},
};

/* Checks every expectation; 0, or the number of the first one that failed (message in
 * `why`). */
static int check_all(int root_fd, char *why, size_t size)
{
	for (size_t i = 0; i < sizeof(expectations) / sizeof(expectations[0]); i++) {
		const struct expectation *e = &expectations[i];
		errno = 0;
		int fd = path_open_in_root(root_fd, e->path, e->flags);
		struct stat st;
		char content[64] = "";
		if (fd >= 0) {
			fstat(fd, &st);
			if (!(e->flags & O_PATH) && read(fd, content, sizeof(content) - 1) < 0)
				content[0] = '\0';
			close(fd);
		}
		bool ok = e->error     ? fd == -e->error && errno == e->error
			  : e->symlink ? fd >= 0 && S_ISLNK(st.st_mode)
				       : fd >= 0 && strcmp(content, e->content) == 0;
		if (!ok) {
			snprintf(why, size, "%s: got %d (errno %d, \"%s\")", e->path, fd, errno,
				 content);
			return (int)i + 1;
		}
	}
	return 0;
}

static void openat2_keeps_paths_inside(void **state)
{
	struct tree *t = *state;
	char why[256];
	if (check_all(t->fd, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static void the_walk_keeps_paths_inside(void **state)
{
	struct tree *t = *state;
	int report[2];
	assert_int_equal(pipe(report), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char why[256];
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		bool loaded =
		    ctx &&
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) == 0 &&
		    seccomp_load(ctx) == 0;
		seccomp_release(ctx);
		if (!loaded)
			_exit(SECCOMP_UNAVAILABLE);
		int failed = check_all(t->fd, why, sizeof(why));
		if (failed && write(report[1], why, strlen(why)) < 0)
			_exit(125);
		_exit(failed ? 1 : 0);
	}
	close(report[1]);
	char why[256] = "";
	ssize_t n = read(report[0], why, sizeof(why) - 1);
	why[n > 0 ? n : 0] = '\0';
	close(report[0]);
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	/* Valgrind runs no seccomp filters; it fails openat2() itself, so the first test took the
	 * walk there already. */
	if (WIFEXITED(status) && WEXITSTATUS(status) == SECCOMP_UNAVAILABLE)
		skip();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the walk: %s", why);
}

static void one_name_never_through_a_symlink(void **state)
{
	struct tree *t = *state;
	int dir = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir >= 0);
	assert_int_equal(path_open_child(dir, "absolute", O_RDONLY, 0), -ELOOP);
	int fd = path_open_child(dir, "made", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(path_open_child(dir, "made", O_WRONLY | O_CREAT | O_EXCL, 0600), -EEXIST);
	close(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(openat2_keeps_paths_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(the_walk_keeps_paths_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(one_name_never_through_a_symlink, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
