/* ckube-testbin: one small static program that container tests run inside their containers to
 * see what the process was given (environment, ids, capabilities, cgroup, seccomp, mounts) and
 * to make it do what a test needs (allocate, fork, sleep, exit, write, log, wait for a signal).
 *
 * It stands alone on purpose: it is linked with `gcc -static` and copied into test images that
 * have no libraries, so it uses nothing but libc. Every answer is plain lines: computed facts as
 * `key=value`, kernel files verbatim, so a test can split them without a parser of its own.
 *
 * Build: gcc -static -O2 -o ckube-testbin tests/testbin/ckube-testbin.c */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np, sigabbrev_np: errno and signal names, not prose */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *prog = "ckube-testbin";

/* Errors go to stderr and the exit status; a test reads the reason from the container log. */
static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* The name of an errno value ("EPERM"), which is what tests compare, not the locale's text. */
static const char *errname(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "EUNKNOWN";
}

static int usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: %s COMMAND [ARGS]\n"
	    "  env               the environment, one VAR=value a line\n"
	    "  id                uid, gid (real, effective, saved) and supplementary groups\n"
	    "  caps              CapInh/CapPrm/CapEff/CapBnd/CapAmb and no_new_privs\n"
	    "  cgroup            /proc/self/cgroup\n"
	    "  seccomp           seccomp mode, and whether unshare(CLONE_NEWNS) and mount() fail\n"
	    "  hostname          the hostname (UTS namespace)\n"
	    "  mounts            /proc/self/mountinfo\n"
	    "  alloc MB [SECS]   allocate and touch MB MiB, report, keep it SECS seconds\n"
	    "  fork N [SECS]     start N children that stay alive SECS seconds (default 0)\n"
	    "  sleep SECS        sleep SECS seconds (fractions and \"infinity\" allowed);\n"
	    "                    SIGTERM or SIGINT end it at once with status 0\n"
	    "  exit CODE         exit with CODE\n"
	    "  write FILE TEXT   write TEXT and a newline to FILE (created or truncated)\n"
	    "  spew LINES [LEN]  LINES numbered lines to stdout and to stderr, padded to LEN\n"
	    "  signals           print ready, wait for one signal, print it, exit 0\n"
	    "  pid               pid and ppid\n"
	    "  cat               copy stdin to stdout\n",
	    prog);
	return out == stdout ? 0 : 2;
}

/* Whole decimal numbers only: "12abc" or an overflow is a usage error, not a silent 12. */
static bool parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
		return false;
	*out = value;
	return true;
}

/* Seconds as a user writes them for sleep(1): "3", "0.25", "infinity". */
static bool parse_seconds(const char *text, double *out)
{
	char *end;
	double value;

	if (strcmp(text, "infinity") == 0 || strcmp(text, "inf") == 0) {
		*out = -1;
		return true;
	}
	errno = 0;
	value = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(value >= 0) || value > 1e9)
		return false;
	*out = value;
	return true;
}

/* Sleeps through interruptions by handled signals; a negative duration means forever. */
static void sleep_seconds(double seconds)
{
	struct timespec left;

	if (seconds < 0) {
		for (;;)
			pause();
	}
	left.tv_sec = (time_t)seconds;
	left.tv_nsec = (long)((seconds - (double)left.tv_sec) * 1e9);
	while (nanosleep(&left, &left) != 0) {
		if (errno != EINTR)
			return;
	}
}

/* write(2) until done: pipes to the log collector may take a part at a time. */
static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies a kernel file to stdout unchanged; the format is the kernel's, documented there. */
static int dump_file(const char *path)
{
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return fail(1, "open %s: %s", path, strerror(errno));
	if (fflush(stdout) != 0) {
		ret = fail(1, "stdout: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = fail(1, "read %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
			ret = fail(1, "stdout: %s", strerror(errno));
			break;
		}
	}
out:
	if (close(fd) != 0 && ret == 0)
		ret = fail(1, "close %s: %s", path, strerror(errno));
	return ret;
}

/* Prints the /proc/self/status lines whose names are listed, as name=value. Missing names are
 * printed as name=? so a test sees that the kernel lacks them rather than a short answer. */
static int status_fields(const char *const *names, size_t count)
{
	char line[512];
	bool seen[16] = {false};
	FILE *status = fopen("/proc/self/status", "re");

	if (!status)
		return fail(1, "open /proc/self/status: %s", strerror(errno));
	if (count > sizeof(seen) / sizeof(seen[0]))
		count = sizeof(seen) / sizeof(seen[0]);
	while (fgets(line, sizeof(line), status)) {
		char *colon = strchr(line, ':');
		char *value;

		if (!colon)
			continue;
		*colon = '\0';
		value = colon + 1 + strspn(colon + 1, " \t");
		value[strcspn(value, "\n")] = '\0';
		for (size_t i = 0; i < count; i++) {
			if (!seen[i] && strcmp(line, names[i]) == 0) {
				printf("%s=%s\n", names[i], value);
				seen[i] = true;
			}
		}
	}
	if (ferror(status)) {
		fclose(status);
		return fail(1, "read /proc/self/status: %s", strerror(errno));
	}
	if (fclose(status) != 0)
		return fail(1, "close /proc/self/status: %s", strerror(errno));
	for (size_t i = 0; i < count; i++)
		if (!seen[i])
			printf("%s=?\n", names[i]);
	return 0;
}

static int cmd_env(void)
{
	for (char **var = environ; *var; var++)
		printf("%s\n", *var);
	return 0;
}

static int cmd_id(void)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	gid_t groups[NGROUPS_MAX];
	int count;

	if (getresuid(&ruid, &euid, &suid) != 0)
		return fail(1, "getresuid: %s", strerror(errno));
	if (getresgid(&rgid, &egid, &sgid) != 0)
		return fail(1, "getresgid: %s", strerror(errno));
	count = getgroups(NGROUPS_MAX, groups);
	if (count < 0)
		return fail(1, "getgroups: %s", strerror(errno));
	printf("uid=%u\neuid=%u\nsuid=%u\ngid=%u\negid=%u\nsgid=%u\ngroups=", (unsigned)ruid,
	       (unsigned)euid, (unsigned)suid, (unsigned)rgid, (unsigned)egid, (unsigned)sgid);
	for (int i = 0; i < count; i++)
		printf("%s%u", i ? "," : "", (unsigned)groups[i]);
	printf("\n");
	return 0;
}

static int cmd_caps(void)
{
	static const char *const names[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	int ret;

	if (nnp < 0)
		return fail(1, "prctl(PR_GET_NO_NEW_PRIVS): %s", strerror(errno));
	ret = status_fields(names, sizeof(names) / sizeof(names[0]));
	if (ret != 0)
		return ret;
	printf("no_new_privs=%d\n", nnp);
	return 0;
}

/* The outcome of a privileged call made in a child, so the probe cannot change this process
 * (a successful unshare would move it into a new mount namespace). */
static const char *probe_in_child(int (*probe)(void))
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return errname(errno);
	if (pid == 0)
		_exit(probe() == 0 ? 0 : (errno & 0xff));
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return errname(errno);
	}
	if (!WIFEXITED(status))
		return "killed";
	return WEXITSTATUS(status) == 0 ? "ok" : errname(WEXITSTATUS(status));
}

static int probe_unshare(void)
{
	return unshare(CLONE_NEWNS);
}

/* A remount of a directory that is not the root of a mount is refused with EINVAL, but only
 * after the kernel's permission check (and after any seccomp filter). So EPERM means "not
 * allowed" and EINVAL means "allowed", and even a privileged caller changes nothing. */
static int probe_mount(void)
{
	return mount(NULL, "/proc/self/fd", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
}

static int cmd_seccomp(void)
{
	static const char *const names[] = {"Seccomp", "Seccomp_filters"};
	int ret = status_fields(names, sizeof(names) / sizeof(names[0]));

	if (ret != 0)
		return ret;
	printf("unshare_newns=%s\n", probe_in_child(probe_unshare));
	printf("mount=%s\n", probe_in_child(probe_mount));
	return 0;
}

static int cmd_hostname(void)
{
	char name[HOST_NAME_MAX + 1];

	if (gethostname(name, sizeof(name)) != 0)
		return fail(1, "gethostname: %s", strerror(errno));
	printf("hostname=%s\n", name);
	return 0;
}

static int cmd_alloc(int argc, char **argv)
{
	const size_t mib = 1024 * 1024;
	long page = sysconf(_SC_PAGESIZE);
	long megabytes;
	double hold = 0;
	char *mem;

	if (argc < 1 || !parse_long(argv[0], 0, 1L << 30, &megabytes) ||
	    (argc > 1 && !parse_seconds(argv[1], &hold)))
		return usage(stderr);
	if (page <= 0)
		page = 4096;
	/* One mapping that is touched MiB by MiB, so progress lines show how far a process got
	 * before a memory limit stopped it. */
	mem = mmap(NULL, (size_t)megabytes * mib + 1, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail(1, "mmap %ld MiB: %s", megabytes, strerror(errno));
	for (long done = 0; done < megabytes; done++) {
		for (size_t off = 0; off < mib; off += (size_t)page)
			mem[(size_t)done * mib + off] = (char)(done + 1);
		if ((done + 1) % 64 == 0 && done + 1 < megabytes) {
			printf("allocated_mb=%ld\n", done + 1);
			fflush(stdout);
		}
	}
	printf("allocated_mb=%ld\ndone\n", megabytes);
	fflush(stdout);
	sleep_seconds(hold);
	if (munmap(mem, (size_t)megabytes * mib + 1) != 0)
		return fail(1, "munmap: %s", strerror(errno));
	return 0;
}

static int cmd_fork(int argc, char **argv)
{
	long wanted;
	double hold = 0;
	pid_t *children;
	long started = 0;
	int err = 0;
	pid_t parent = getpid();

	if (argc < 1 || !parse_long(argv[0], 0, 1000000, &wanted) ||
	    (argc > 1 && !parse_seconds(argv[1], &hold)))
		return usage(stderr);
	children = calloc((size_t)wanted + 1, sizeof(*children));
	if (!children)
		return fail(1, "out of memory for %ld pids", wanted);
	fflush(stdout);
	for (; started < wanted; started++) {
		pid_t pid = fork();

		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			/* Children live until the parent ends them or dies, never longer: a
			 * pids limit test must not leave strays behind. */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent)
				_exit(1);
			for (;;)
				pause();
		}
		children[started] = pid;
	}
	printf("forked=%ld\n", started);
	if (err)
		printf("fork_error=%s\n", errname(err));
	fflush(stdout);
	sleep_seconds(hold);
	for (long i = 0; i < started; i++) {
		if (kill(children[i], SIGKILL) != 0)
			fail(0, "kill %d: %s", (int)children[i], strerror(errno));
	}
	for (long i = 0; i < started; i++) {
		while (waitpid(children[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	free(children);
	return err ? 1 : 0;
}

static void on_stop_signal(int sig)
{
	static const char term[] = "sleep: stopped by SIGTERM\n";
	static const char intr[] = "sleep: stopped by SIGINT\n";

	/* Only async-signal-safe calls here; a lost line is acceptable, the exit status is not. */
	if (sig == SIGTERM)
		(void)!write(STDOUT_FILENO, term, sizeof(term) - 1);
	else
		(void)!write(STDOUT_FILENO, intr, sizeof(intr) - 1);
	_exit(0);
}

static int cmd_sleep(int argc, char **argv)
{
	struct sigaction stop = {.sa_handler = on_stop_signal};
	double seconds;

	if (argc < 1 || !parse_seconds(argv[0], &seconds))
		return usage(stderr);
	/* A handler, because as a pid namespace's init the process would otherwise ignore
	 * SIGTERM and every graceful stop of a test pod would wait out its grace period. (Tests of
	 * that grace period run busybox sleep, which has no handler.) */
	if (sigemptyset(&stop.sa_mask) != 0 || sigaction(SIGTERM, &stop, NULL) != 0 ||
	    sigaction(SIGINT, &stop, NULL) != 0)
		return fail(1, "sigaction: %s", strerror(errno));
	sleep_seconds(seconds);
	return 0;
}

static int cmd_exit(int argc, char **argv)
{
	long code;

	if (argc < 1 || !parse_long(argv[0], 0, 255, &code))
		return usage(stderr);
	printf("exit=%ld\n", code);
	return (int)code;
}

static int cmd_write(int argc, char **argv)
{
	int fd;
	int ret = 0;
	size_t len;
	char *text;

	if (argc < 2)
		return usage(stderr);
	len = strlen(argv[1]);
	text = malloc(len + 1);
	if (!text)
		return fail(1, "out of memory");
	memcpy(text, argv[1], len);
	text[len] = '\n';
	fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = fail(1, "open %s: %s", argv[0], errname(errno));
		goto out;
	}
	if (write_all(fd, text, len + 1) < 0)
		ret = fail(1, "write %s: %s", argv[0], errname(errno));
	if (close(fd) != 0 && ret == 0)
		ret = fail(1, "close %s: %s", argv[0], errname(errno));
	if (ret == 0)
		printf("wrote=%s\nbytes=%zu\n", argv[0], len + 1);
out:
	free(text);
	return ret;
}

static int cmd_spew(int argc, char **argv)
{
	long lines;
	long width = 0;

	if (argc < 1 || !parse_long(argv[0], 0, 100000000, &lines) ||
	    (argc > 1 && !parse_long(argv[1], 0, 1 << 20, &width)))
		return usage(stderr);
	/* Both streams line-buffered so the lines reach the log in the order they were written. */
	setvbuf(stderr, NULL, _IOLBF, 0);
	for (long i = 1; i <= lines; i++) {
		int out_len = printf("stdout %ld", i);
		int err_len = fprintf(stderr, "stderr %ld", i);

		for (long pad = out_len; pad < width; pad++)
			putchar('x');
		for (long pad = err_len; pad < width; pad++)
			fputc('x', stderr);
		putchar('\n');
		fputc('\n', stderr);
		if (ferror(stdout) || ferror(stderr))
			return fail(1, "write: %s", strerror(errno));
	}
	return 0;
}

static int cmd_signals(void)
{
	sigset_t all;
	siginfo_t info;
	int sig;
	const char *abbrev;

	/* Blocked signals are queued even for a namespace's pid 1, which would otherwise drop
	 * every signal it has no handler for; sigwaitinfo then takes them one by one. */
	if (sigfillset(&all) != 0 || sigprocmask(SIG_BLOCK, &all, NULL) != 0)
		return fail(1, "sigprocmask: %s", strerror(errno));
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	do {
		sig = sigwaitinfo(&all, &info);
	} while (sig < 0 && errno == EINTR);
	if (sig < 0)
		return fail(1, "sigwaitinfo: %s", strerror(errno));
	abbrev = sigabbrev_np(sig);
	if (abbrev)
		printf("signal=SIG%s\n", abbrev);
	else
		printf("signal=%d\n", sig);
	printf("signal_number=%d\nsender_pid=%d\n", sig, (int)info.si_pid);
	return 0;
}

static int cmd_pid(void)
{
	printf("pid=%d\nppid=%d\n", (int)getpid(), (int)getppid());
	return 0;
}

static int cmd_cat(void)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(1, "read stdin: %s", strerror(errno));
		if (n == 0)
			return 0;
		if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
			return fail(1, "write stdout: %s", strerror(errno));
	}
}

static int dispatch(int argc, char **argv)
{
	const char *cmd = argv[0];

	argc--;
	argv++;
	if (strcmp(cmd, "env") == 0)
		return cmd_env();
	if (strcmp(cmd, "id") == 0)
		return cmd_id();
	if (strcmp(cmd, "caps") == 0)
		return cmd_caps();
	if (strcmp(cmd, "cgroup") == 0)
		return dump_file("/proc/self/cgroup");
	if (strcmp(cmd, "seccomp") == 0)
		return cmd_seccomp();
	if (strcmp(cmd, "hostname") == 0)
		return cmd_hostname();
	if (strcmp(cmd, "mounts") == 0)
		return dump_file("/proc/self/mountinfo");
	if (strcmp(cmd, "alloc") == 0)
		return cmd_alloc(argc, argv);
	if (strcmp(cmd, "fork") == 0)
		return cmd_fork(argc, argv);
	if (strcmp(cmd, "sleep") == 0)
		return cmd_sleep(argc, argv);
	if (strcmp(cmd, "exit") == 0)
		return cmd_exit(argc, argv);
	if (strcmp(cmd, "write") == 0)
		return cmd_write(argc, argv);
	if (strcmp(cmd, "spew") == 0)
		return cmd_spew(argc, argv);
	if (strcmp(cmd, "signals") == 0)
		return cmd_signals();
	if (strcmp(cmd, "pid") == 0)
		return cmd_pid();
	if (strcmp(cmd, "cat") == 0)
		return cmd_cat();
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0)
		return usage(stdout);
	fprintf(stderr, "%s: unknown command \"%s\"\n", prog, cmd);
	return usage(stderr);
}

int main(int argc, char **argv)
{
	int ret;

	/* Line by line, so a test that waits for a line sees it as soon as it is printed even
	 * when stdout is a pipe to the log collector. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return usage(stderr);
	ret = dispatch(argc - 1, argv + 1);
	if (fflush(stdout) != 0 || ferror(stdout))
		return fail(1, "stdout: %s", strerror(errno));
	return ret;
}
