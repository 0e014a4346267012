/* The process events connector: see proc_events.h. */
#include "runtime/proc_events.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <arpa/inet.h>
#include <linux/connector.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"

struct proc_events {
	int fd;
};

/* Every process on the host that ends sends an event, and forks and execs send more: the
 * kernel keeps all but the exits of whole processes (pid == tgid) from ever waking us. */
static int keep_exits_only(int fd)
{
	const uint32_t event = NLMSG_LENGTH(0) + sizeof(struct cn_msg);
	const uint32_t what = event + offsetof(struct proc_event, what);
	const uint32_t pid = event + offsetof(struct proc_event, event_data.exit.process_pid);
	const uint32_t tgid = event + offsetof(struct proc_event, event_data.exit.process_tgid);
	/* Absolute loads read in network byte order, the events are in host order. */
	struct sock_filter program[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, what),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(PROC_EVENT_EXIT), 0, 5),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, tgid),
	    BPF_STMT(BPF_MISC | BPF_TAX, 0),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, pid),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
	    BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog fprog = {.len = sizeof(program) / sizeof(program[0]), .filter = program};

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0 ? -errno : 0;
}

static int subscribe(int fd)
{
	struct sockaddr_nl address = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
	/* A netlink header, a connector header, and the request to listen. */
	union {
		char bytes[NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op))];
		struct nlmsghdr align;
	} request = {0};
	struct nlmsghdr *header = &request.align;
	struct cn_msg *message = NLMSG_DATA(header);
	enum proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
	int r = keep_exits_only(fd);

	if (r < 0)
		return r;
	header->nlmsg_len = sizeof(request.bytes);
	header->nlmsg_type = NLMSG_DONE;
	message->id = (struct cb_id){.idx = CN_IDX_PROC, .val = CN_VAL_PROC};
	message->len = sizeof(op);
	memcpy(message->data, &op, sizeof(op));
	if (bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0)
		return -errno;
	if (send(fd, request.bytes, sizeof(request.bytes), 0) < 0)
		return -errno;
	return 0;
}

/* A subscribed connector socket made in the calling thread's network namespace, or -errno. */
static int open_here(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
	int r;

	if (fd < 0)
		return -errno;
	r = subscribe(fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

struct open_in {
	const char *netns; /* a /proc/<pid>/ns/net */
	int result;        /* the socket, or -errno */
};

/* Runs in a thread of its own: setns of a network namespace changes only the calling thread,
 * and the socket keeps the namespace it was made in. */
static void *open_in_thread(void *arg)
{
	struct open_in *attempt = arg;
	_cleanup_close_ int netns = open(attempt->netns, O_RDONLY | O_CLOEXEC);

	if (netns < 0 || setns(netns, CLONE_NEWNET) < 0)
		attempt->result = -errno;
	else
		attempt->result = open_here();
	return NULL;
}

static int open_in(const char *netns)
{
	struct open_in attempt = {.netns = netns, .result = -EINVAL};
	pthread_t thread;
	int r = pthread_create(&thread, NULL, open_in_thread, &attempt);

	if (r != 0)
		return -r;
	pthread_join(thread, NULL);
	return attempt.result;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], text[512], *end;
	_cleanup_fclose_ FILE *stat_file = NULL;
	int parent = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	stat_file = fopen(path, "re");
	if (!stat_file || !fgets(text, sizeof(text), stat_file))
		return 0;
	/* After the command name in parentheses, which may itself hold ") ". */
	end = strrchr(text, ')');
	if (!end || sscanf(end + 1, " %*c %d", &parent) != 1)
		return 0;
	return (pid_t)parent;
}

/* The connector serves the machine's first network namespace only: elsewhere its socket
 * cannot be made or its subscription is refused. An agent started inside a node's namespace
 * (by nsenter, a test harness, a container) reaches the first one through PID 1, or, where
 * PID 1's namespace files are closed to it, through the nearest of its ancestors that is
 * there. */
static int open_socket(struct ck_error *err)
{
	char path[64];
	int fd = open_here(), first_error = fd;

	if (fd >= 0)
		return fd;
	fd = open_in("/proc/1/ns/net");
	for (pid_t pid = parent_of(getpid()); fd < 0 && pid > 1; pid = parent_of(pid)) {
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
		fd = open_in(path);
	}
	return fd >= 0 ? fd : ck_error_errno(err, -first_error, "process events: subscribe");
}

int proc_events_open(struct proc_events **out, struct ck_error *err)
{
	struct proc_events *events;
	int fd = open_socket(err);

	if (fd < 0)
		return fd;
	events = calloc(1, sizeof(*events));
	if (!events)
		abort();
	events->fd = fd;
	*out = events;
	return 0;
}

void proc_events_close(struct proc_events *events)
{
	if (!events)
		return;
	close(events->fd);
	free(events);
}

int proc_events_fd(const struct proc_events *events)
{
	return events->fd;
}

static void dispatch(const struct nlmsghdr *header, size_t len,
		     void (*exited)(void *ctx, pid_t pid, int wait_status), void *ctx)
{
	for (; NLMSG_OK(header, len); header = NLMSG_NEXT(header, len)) {
		const struct cn_msg *message = NLMSG_DATA(header);
		struct proc_event event;

		if (message->id.idx != CN_IDX_PROC || message->id.val != CN_VAL_PROC ||
		    message->len < sizeof(event))
			continue;
		/* The event follows a 20-byte connector header: copied out to be aligned. */
		memcpy(&event, message->data, sizeof(event));
		/* Threads exit too; only the leader's exit is the process's. */
		if (event.what != PROC_EVENT_EXIT ||
		    event.event_data.exit.process_pid != event.event_data.exit.process_tgid)
			continue;
		exited(ctx, event.event_data.exit.process_tgid,
		       (int)event.event_data.exit.exit_code);
	}
}

int proc_events_read(struct proc_events *events,
		     void (*exited)(void *ctx, pid_t pid, int wait_status), void *ctx,
		     struct ck_error *err)
{
	char buffer[16384] __attribute__((aligned(NLMSG_ALIGNTO)));

	for (;;) {
		ssize_t n = recv(events->fd, buffer, sizeof(buffer), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		/* Events were lost while the agent was busy: the pidfds still tell every exit,
		 * only without its status. */
		if (n < 0 && errno == ENOBUFS)
			continue;
		if (n < 0)
			return ck_error_errno(err, errno, "process events: read");
		dispatch((const struct nlmsghdr *)buffer, (size_t)n, exited, ctx);
	}
}
