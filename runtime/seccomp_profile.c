/* The RuntimeDefault seccomp profile, compiled with libseccomp into classic BPF.
 *
 * The facts follow moby's profiles/seccomp (the default profile Docker and containerd share):
 * which system calls every container may make, which ones a capability unlocks, and the
 * argument rules for socket, personality and clone. Names this libseccomp does not know are
 * left out, so they fail with EPERM like everything else outside the list. */
#include "runtime/seccomp_profile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"

/* A group of system calls allowed when the container holds capability `cap`, or by everyone
 * when `cap` is ANY_CAPS. */
#define ANY_CAPS (-1)
struct syscall_group {
	int cap;
	const char *const *names; /* NULL-terminated */
};

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct syscall_group allowed[] = {
    /* Paths: create, remove, rename, link, change owner and mode, times. */
    {ANY_CAPS,
     NAMES("access", "chdir", "chmod", "chown", "chown32", "creat", "faccessat", "faccessat2",
	   "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
	   "futimesat", "getcwd", "getdents", "getdents64", "lchown", "lchown32", "link", "linkat",
	   "mkdir", "mkdirat", "mknod", "mknodat", "name_to_handle_at", "open", "openat", "openat2",
	   "readlink", "readlinkat", "rename", "renameat", "renameat2", "rmdir", "symlink",
	   "symlinkat", "truncate", "truncate64", "umask", "unlink", "unlinkat", "utime",
	   "utimensat", "utimensat_time64", "utimes")},
    /* File and mount status (statmount and listmount only read). */
    {ANY_CAPS,
     NAMES("fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "listmount", "lstat", "lstat64",
	   "newfstatat", "stat", "stat64", "statfs", "statfs64", "statmount", "statx")},
    /* Extended attributes; the kernel checks the namespace (trusted., security.) itself. */
    {ANY_CAPS,
     NAMES("fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "getxattrat",
	   "lgetxattr", "listxattr", "listxattrat", "llistxattr", "lremovexattr", "lsetxattr",
	   "removexattr", "removexattrat", "setxattr", "setxattrat")},
    /* Descriptors and their data. */
    {ANY_CAPS,
     NAMES("_llseek", "close", "close_range", "copy_file_range", "dup", "dup2", "dup3", "fadvise64",
	   "fadvise64_64", "fallocate", "fcntl", "fcntl64", "fdatasync", "flock", "fsync",
	   "ftruncate", "ftruncate64", "ioctl", "lseek", "memfd_create", "memfd_secret", "pipe",
	   "pipe2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read",
	   "readahead", "readv", "sendfile", "sendfile64", "splice", "sync", "sync_file_range",
	   "syncfs", "tee", "vmsplice", "write", "writev")},
    /* Asynchronous I/O. io_uring stays out: it reaches most of the kernel past this filter. */
    {ANY_CAPS, NAMES("io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
		     "io_pgetevents_time64", "io_setup", "io_submit", "ioprio_get", "ioprio_set")},
    /* Waiting for events: poll and select families, epoll, inotify, eventfd, signalfd,
     * timerfd, and fanotify marks (creating a fanotify group needs CAP_SYS_ADMIN below). */
    {ANY_CAPS,
     NAMES("_newselect", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	   "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
	   "fanotify_mark", "inotify_add_watch", "inotify_init", "inotify_init1",
	   "inotify_rm_watch", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64",
	   "select", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime",
	   "timerfd_gettime64", "timerfd_settime", "timerfd_settime64")},
    /* Memory. */
    {ANY_CAPS,
     NAMES("brk", "cachestat", "madvise", "map_shadow_stack", "membarrier", "mincore", "mlock",
	   "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "mseal", "msync", "munlock",
	   "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages")},
    /* Processes and threads. clone is missing on purpose: its rule depends on CAP_SYS_ADMIN.
     * ptrace and process_vm_* are safe for everyone since Linux 4.8, where seccomp also
     * filters the tracee's system calls after a tracer changes them. */
    {ANY_CAPS,
     NAMES("capget", "capset", "execve", "execveat", "exit", "exit_group", "fork",
	   "get_robust_list", "get_thread_area", "getcpu", "getpgid", "getpgrp", "getpid",
	   "getppid", "getrlimit", "getrusage", "getsid", "gettid", "landlock_add_rule",
	   "landlock_create_ruleset", "landlock_restrict_self", "pidfd_open", "pidfd_send_signal",
	   "prctl", "prlimit64", "process_mrelease", "process_vm_readv", "process_vm_writev",
	   "ptrace", "restart_syscall", "riscv_hwprobe", "rseq", "seccomp", "set_robust_list",
	   "set_thread_area", "set_tid_address", "setpgid", "setrlimit", "setsid", "sysinfo",
	   "times", "ugetrlimit", "uname", "uretprobe", "vfork", "wait4", "waitid", "waitpid")},
    /* Signals. */
    {ANY_CAPS,
     NAMES("kill", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	   "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
	   "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn", "tgkill", "tkill")},
    /* User and group ids; changing them is the capability checks' business (CAP_SETUID ...). */
    {ANY_CAPS,
     NAMES("getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
	   "getgroups32", "getresgid", "getresgid32", "getresuid", "getresuid32", "getuid",
	   "getuid32", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
	   "setgroups", "setgroups32", "setregid", "setregid32", "setresgid", "setresgid32",
	   "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32")},
    /* Scheduling. */
    {ANY_CAPS,
     NAMES("getpriority", "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity",
	   "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
	   "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
	   "sched_setscheduler", "sched_yield", "setpriority")},
    /* Clocks, timers, sleeping, futexes. adjtimex and clock_adjtime read the clock state;
     * changing it needs CAP_SYS_TIME in the kernel as well. */
    {ANY_CAPS,
     NAMES("adjtimex", "alarm", "clock_adjtime", "clock_adjtime64", "clock_getres",
	   "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
	   "clock_nanosleep_time64", "futex", "futex_requeue", "futex_time64", "futex_wait",
	   "futex_waitv", "futex_wake", "getitimer", "getrandom", "gettimeofday", "nanosleep",
	   "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
	   "timer_gettime64", "timer_settime", "timer_settime64")},
    /* Sockets once created (socket itself has a family rule below). socketcall multiplexes
     * all of them on 32-bit x86, where no argument rule can look inside it. */
    {ANY_CAPS,
     NAMES("accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
	   "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send",
	   "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socketcall", "socketpair")},
    /* System V and POSIX message queues, semaphores, shared memory; the container has its
     * own IPC namespace. */
    {ANY_CAPS, NAMES("ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
		     "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
		     "msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop",
		     "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget")},
#if defined(__x86_64__)
    /* Thread pointers (arch_prctl) and 16-bit segments (modify_ldt, for Wine and old
     * runtimes). */
    {ANY_CAPS, NAMES("arch_prctl", "modify_ldt")},
#elif defined(__aarch64__)
    /* The 32-bit ARM ABI's own calls. */
    {ANY_CAPS, NAMES("arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush",
		     "set_tls", "sync_file_range2")},
#endif

    /* What a capability unlocks. The kernel checks the capability too; the filter closes
     * these doors to containers that could never pass, shrinking what they can probe. */
    {CAP_SYS_ADMIN,
     NAMES("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
	   "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
	   "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
	   "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare")},
    {CAP_DAC_READ_SEARCH, NAMES("open_by_handle_at")},
    {CAP_SYS_BOOT, NAMES("reboot")},
    {CAP_SYS_CHROOT, NAMES("chroot")},
    {CAP_SYS_MODULE, NAMES("delete_module", "finit_module", "init_module")},
    {CAP_SYS_PACCT, NAMES("acct")},
    /* ptrace and process_vm_* are already allowed for everyone (above). */
    {CAP_SYS_PTRACE, NAMES("kcmp", "pidfd_getfd", "process_madvise")},
    {CAP_SYS_RAWIO, NAMES("ioperm", "iopl")},
    {CAP_SYS_TIME, NAMES("clock_settime", "clock_settime64", "settimeofday", "stime")},
    {CAP_SYS_TTY_CONFIG, NAMES("vhangup")},
    {CAP_SYS_NICE, NAMES("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node")},
    {CAP_SYSLOG, NAMES("syslog")},
    {CAP_BPF, NAMES("bpf")},
    {CAP_PERFMON, NAMES("perf_event_open")},
};

/* personality(2) values a container may set: Linux and 32-bit Linux (PER_LINUX32, what
 * `linux32` asks for), each optionally with UNAME26 (uname reports 2.6.x for old software), and
 * 0xffffffff, which only reads the current persona. Turning off address randomisation is not
 * among them. */
static const unsigned long allowed_personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/* s390 swaps clone's first two arguments; everywhere else the flags come first. */
#if defined(__s390x__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

/* x86_64 takes i386 binaries, not x32 ones: Debian's and most distributions' kernels turn the
 * x32 ABI off (syscall.x32), and leaving it out of the program makes it a third smaller and
 * its load (which the kernel pays per container) a quarter faster. x32 system calls meet the
 * bad-architecture action, ENOSYS. */
#if defined(__x86_64__)
#define COMPAT_ARCHES SCMP_ARCH_X86,
#elif defined(__aarch64__)
#define COMPAT_ARCHES SCMP_ARCH_ARM,
#else
#define COMPAT_ARCHES
#endif

struct program {
	struct program *next;
	uint64_t key;
	struct sock_fprog fprog;
	struct sock_filter insns[];
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct program *cache; /* guarded by cache_lock; entries live until the process ends */
static char *disk_cache_dir;  /* guarded by cache_lock; NULL: memory only */

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static bool group_applies(const struct syscall_group *group, uint64_t capabilities)
{
	return group->cap == ANY_CAPS || (capabilities & (UINT64_C(1) << group->cap));
}

/* Only the capabilities some group depends on change the program, so sets that differ in
 * others share one. */
static uint64_t profile_key(uint64_t capabilities)
{
	uint64_t relevant = UINT64_C(1) << CAP_SYS_ADMIN;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (allowed[i].cap != ANY_CAPS)
			relevant |= UINT64_C(1) << allowed[i].cap;
	}
	return capabilities & relevant;
}

static struct scmp_arg_cmp first_arg(enum scmp_compare op, scmp_datum_t value)
{
	return (struct scmp_arg_cmp){.arg = 0, .op = op, .datum_a = value, .datum_b = 0};
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned int arg_count,
		    const struct scmp_arg_cmp *args, struct ck_error *err)
{
	int nr = seccomp_syscall_resolve_name(name);
	/* Newer than this libseccomp: it stays denied, like any system call outside the list. */
	if (nr == __NR_SCMP_ERROR)
		return 0;
	int rc = seccomp_rule_add_array(ctx, action, nr, arg_count, args);
	if (rc < 0)
		return ck_error_errno(err, -rc, "seccomp: rule for %s", name);
	return 0;
}

static int allow_groups(scmp_filter_ctx ctx, uint64_t capabilities, struct ck_error *err)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (!group_applies(&allowed[i], capabilities))
			continue;
		for (const char *const *name = allowed[i].names; *name; name++) {
			int rc = add_rule(ctx, SCMP_ACT_ALLOW, *name, 0, NULL, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* socket for every family but AF_ALG (kernel crypto, a frequent source of exploits) and
 * AF_VSOCK (the host's hypervisor sockets). One rule per allowed range, since a rule cannot
 * compare the same argument twice. */
static int allow_socket_families(scmp_filter_ctx ctx, struct ck_error *err)
{
	struct scmp_arg_cmp below = first_arg(SCMP_CMP_LT, AF_ALG);
	struct scmp_arg_cmp above = first_arg(SCMP_CMP_GT, AF_VSOCK);
	int rc = add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &below, err);
	if (rc == 0)
		rc = add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &above, err);
	for (int family = AF_ALG + 1; rc == 0 && family < AF_VSOCK; family++) {
		struct scmp_arg_cmp between = first_arg(SCMP_CMP_EQ, (scmp_datum_t)family);
		rc = add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &between, err);
	}
	return rc;
}

static int allow_personas(scmp_filter_ctx ctx, struct ck_error *err)
{
	for (size_t i = 0; i < sizeof(allowed_personas) / sizeof(allowed_personas[0]); i++) {
		struct scmp_arg_cmp persona = first_arg(SCMP_CMP_EQ, allowed_personas[i]);
		int rc = add_rule(ctx, SCMP_ACT_ALLOW, "personality", 1, &persona, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Without CAP_SYS_ADMIN: clone without namespace flags only (fork and threads keep working),
 * and clone3, whose flags live in memory a filter cannot read, fails with ENOSYS so that libc
 * falls back to clone instead of failing. */
static int limit_clone(scmp_filter_ctx ctx, struct ck_error *err)
{
	const scmp_datum_t namespaces = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
					CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
	struct scmp_arg_cmp no_namespaces = {
	    .arg = CLONE_FLAGS_ARG, .op = SCMP_CMP_MASKED_EQ, .datum_a = namespaces, .datum_b = 0};
	int rc = add_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &no_namespaces, err);
	if (rc == 0)
		rc = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
	return rc;
}

static int add_compat_arches(scmp_filter_ctx ctx, struct ck_error *err)
{
	/* A 64-bit container may still run 32-bit binaries: their system calls arrive with
	 * other numbers and must meet the same list. */
	static const uint32_t compat[] = {COMPAT_ARCHES 0};
	for (size_t i = 0; compat[i]; i++) {
		int rc = seccomp_arch_add(ctx, compat[i]);
		if (rc < 0)
			return ck_error_errno(err, -rc, "seccomp: add architecture %#x", compat[i]);
	}
	return 0;
}

static int read_exact(int fd, void *data, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, (char *)data + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* A program read back from a descriptor: an export, or a copy kept on disk. */
static int read_program(int fd, struct program **out, struct ck_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ck_error_errno(err, errno, "seccomp: stat the filter");
	size_t size = (size_t)st.st_size;
	size_t count = size / sizeof(struct sock_filter);
	if (count == 0 || size % sizeof(struct sock_filter) || count > BPF_MAXINSNS)
		return ck_error_set(err, EIO, "seccomp: a filter of %zu bytes is no program", size);
	_cleanup_free_ struct program *program = calloc(1, sizeof(*program) + size);
	if (!program)
		return ck_error_set(err, ENOMEM, "seccomp: out of memory");
	int rc = read_exact(fd, program->insns, size);
	if (rc < 0)
		return ck_error_errno(err, -rc, "seccomp: read the filter");
	program->fprog.len = (unsigned short)count;
	program->fprog.filter = program->insns;
	*out = steal_ptr(&program);
	return 0;
}

/* libseccomp 2.5 (Debian 12) exports only to a descriptor: seccomp_export_bpf_mem came in
 * 2.6. A memfd keeps the program off any file system. */
static int export_program(scmp_filter_ctx ctx, struct program **out, struct ck_error *err)
{
	_cleanup_close_ int fd = memfd_create("ckube-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return ck_error_errno(err, errno, "seccomp: memfd_create");
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return ck_error_errno(err, -rc, "seccomp: export the filter");
	return read_program(fd, out, err);
}

static int build_program(uint64_t capabilities, struct program **out, struct ck_error *err)
{
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return ck_error_set(err, ENOMEM, "seccomp: seccomp_init failed");
	/* A binary tree of system call numbers instead of a linear chain. The program grows a
	 * little, but the kernel runs it for every number of every architecture when it loads
	 * it (to cache the always-allowed ones), and on the chain that costs a millisecond per
	 * container. */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
	if (rc < 0)
		return ck_error_errno(err, -rc, "seccomp: filter attributes");
	rc = add_compat_arches(ctx, err);
	if (rc == 0)
		rc = allow_groups(ctx, capabilities, err);
	if (rc == 0)
		rc = allow_socket_families(ctx, err);
	if (rc == 0)
		rc = allow_personas(ctx, err);
	if (rc == 0 && !(capabilities & (UINT64_C(1) << CAP_SYS_ADMIN)))
		rc = limit_clone(ctx, err);
	if (rc == 0)
		rc = export_program(ctx, out, err);
	return rc;
}

void seccomp_profile_cache_dir(const char *dir)
{
	pthread_mutex_lock(&cache_lock);
	free(disk_cache_dir);
	disk_cache_dir = dir ? strdup(dir) : NULL;
	pthread_mutex_unlock(&cache_lock);
}

/* Bumped whenever build_program changes how it compiles the lists. */
#define PROFILE_REVISION 3

/* Names what the program is built from (the lists here and the libseccomp that compiles
 * them), so a copy on disk from another build is never taken for this one. FNV-1a. */
static uint64_t profile_fingerprint(void)
{
	const struct scmp_version *version = seccomp_version();
	uint64_t hash = 0xcbf29ce484222325u;
	const unsigned char *p;

#define MIX(byte) (hash = (hash ^ (unsigned char)(byte)) * 0x100000001b3u)
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		MIX(allowed[i].cap);
		for (const char *const *name = allowed[i].names; *name; name++)
			for (p = (const unsigned char *)*name; *p; p++)
				MIX(*p);
	}
	for (size_t i = 0; i < sizeof(allowed_personas) / sizeof(allowed_personas[0]); i++)
		MIX(allowed_personas[i]);
	MIX(PROFILE_REVISION);
	MIX(version->major);
	MIX(version->minor);
	MIX(version->micro);
#undef MIX
	return hash;
}

static char *disk_copy_path(uint64_t key)
{
	char *path;
	if (asprintf(&path, "%s/%016" PRIx64 "-%016" PRIx64 ".bpf", disk_cache_dir, key,
		     profile_fingerprint()) < 0)
		return NULL;
	return path;
}

static int load_disk_copy(uint64_t key, struct program **out)
{
	_cleanup_free_ char *path = disk_copy_path(key);
	if (!path)
		return -ENOMEM;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return read_program(fd, out, NULL);
}

/* Best effort: without a copy on disk the next process builds the program again. */
static void save_disk_copy(uint64_t key, const struct program *program)
{
	_cleanup_free_ char *path = disk_copy_path(key);
	struct ck_error ignored;
	if (path && fs_mkdir_p(disk_cache_dir, 0700, &ignored) == 0)
		fs_replace_file(path, program->insns,
				program->fprog.len * sizeof(struct sock_filter), 0600, &ignored);
}

/* The program from disk when a process before built it, else built now (10 to 20 ms). */
static int obtain_program(uint64_t key, struct program **out, struct ck_error *err)
{
	if (disk_cache_dir && load_disk_copy(key, out) == 0)
		return 0;
	int rc = build_program(key, out, err);
	if (rc == 0 && disk_cache_dir)
		save_disk_copy(key, *out);
	return rc;
}

int seccomp_runtime_default(uint64_t capabilities, const struct sock_fprog **out,
			    struct ck_error *err)
{
	uint64_t key = profile_key(capabilities);
	pthread_mutex_lock(&cache_lock);
	struct program *program = cache;
	while (program && program->key != key)
		program = program->next;
	int rc = 0;
	/* Built under the lock: a second caller with the same set waits rather than building the
	 * same program again, and distinct sets are rare enough not to contend. */
	if (!program) {
		rc = obtain_program(key, &program, err);
		if (rc == 0) {
			program->key = key;
			program->next = cache;
			cache = program;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	if (rc == 0)
		*out = &program->fprog;
	return rc;
}

int seccomp_load_program(const struct sock_fprog *program)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, program) < 0)
		return -errno;
	return 0;
}
