/* The agent's event loop: see loop.h. */
#include "kubelet/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

struct loop_timer {
	int64_t deadline_ms;
	uint64_t sequence; /* timers with one deadline fire in the order they were set */
	size_t heap_index;
	loop_fn fn;
	void *ctx;
};

struct watched_fd {
	int fd;
	loop_fd_fn fn;
	void *ctx;
	bool removed; /* set while events of this round may still name it */
	struct watched_fd *next;
};

struct posted {
	loop_fn fn, drop;
	void *ctx;
	struct posted *next;
};

struct loop {
	int epoll_fd;
	int timer_fd;
	int wake_fd; /* eventfd: posted work or quit */
	struct loop_timer **heap;
	size_t heap_len, heap_cap;
	uint64_t next_sequence;
	struct watched_fd *fds;
	pthread_mutex_t lock; /* guards posted, posted_tail, quit */
	struct posted *posted, *posted_tail;
	bool quit;
};

/* Markers in epoll_event.data for the loop's own descriptors. */
static char timer_marker, wake_marker;

int64_t loop_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int loop_new(struct loop **out, struct ck_error *err)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	struct epoll_event timer_event = {.events = EPOLLIN, .data.ptr = &timer_marker};
	struct epoll_event wake_event = {.events = EPOLLIN, .data.ptr = &wake_marker};

	if (!loop)
		abort();
	pthread_mutex_init(&loop->lock, NULL);
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	loop->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epoll_fd < 0 || loop->timer_fd < 0 || loop->wake_fd < 0 ||
	    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->timer_fd, &timer_event) < 0 ||
	    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &wake_event) < 0) {
		int e = errno;
		loop_free(loop);
		return ck_error_errno(err, e, "event loop");
	}
	*out = loop;
	return 0;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	for (size_t i = 0; i < loop->heap_len; i++)
		free(loop->heap[i]);
	free(loop->heap);
	while (loop->fds) {
		struct watched_fd *next = loop->fds->next;
		free(loop->fds);
		loop->fds = next;
	}
	while (loop->posted) {
		struct posted *next = loop->posted->next;
		if (loop->posted->drop)
			loop->posted->drop(loop->posted->ctx);
		free(loop->posted);
		loop->posted = next;
	}
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	if (loop->timer_fd >= 0)
		close(loop->timer_fd);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

/* --- descriptors ------------------------------------------------------------------------- */

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn, void *ctx,
		struct ck_error *err)
{
	struct watched_fd *watched = calloc(1, sizeof(*watched));
	struct epoll_event event = {.events = events};

	if (!watched)
		abort();
	*watched = (struct watched_fd){.fd = fd, .fn = fn, .ctx = ctx, .next = loop->fds};
	event.data.ptr = watched;
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) {
		int e = errno;
		free(watched);
		return ck_error_errno(err, e, "watch descriptor %d", fd);
	}
	loop->fds = watched;
	return 0;
}

void loop_remove_fd(struct loop *loop, int fd)
{
	for (struct watched_fd *w = loop->fds; w; w = w->next)
		if (w->fd == fd && !w->removed) {
			epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
			/* Freed after the round: an event for it may still wait in this round. */
			w->removed = true;
			return;
		}
}

static void free_removed_fds(struct loop *loop)
{
	for (struct watched_fd **link = &loop->fds; *link;) {
		struct watched_fd *w = *link;
		if (w->removed) {
			*link = w->next;
			free(w);
		} else {
			link = &w->next;
		}
	}
}

/* --- timers: a binary min-heap on (deadline, sequence) ------------------------------------- */

static bool earlier(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->deadline_ms < b->deadline_ms ||
	       (a->deadline_ms == b->deadline_ms && a->sequence < b->sequence);
}

static void heap_swap(struct loop *loop, size_t a, size_t b)
{
	struct loop_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_index = a;
	loop->heap[b]->heap_index = b;
}

static void heap_up(struct loop *loop, size_t i)
{
	while (i > 0 && earlier(loop->heap[i], loop->heap[(i - 1) / 2])) {
		heap_swap(loop, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct loop *loop, size_t i)
{
	for (;;) {
		size_t smallest = i, left = 2 * i + 1, right = left + 1;

		if (left < loop->heap_len && earlier(loop->heap[left], loop->heap[smallest]))
			smallest = left;
		if (right < loop->heap_len && earlier(loop->heap[right], loop->heap[smallest]))
			smallest = right;
		if (smallest == i)
			return;
		heap_swap(loop, i, smallest);
		i = smallest;
	}
}

static void heap_remove(struct loop *loop, size_t i)
{
	loop->heap_len--;
	if (i == loop->heap_len)
		return;
	heap_swap(loop, i, loop->heap_len);
	heap_up(loop, i);
	heap_down(loop, i);
}

/* Points the timerfd at the earliest deadline (or disarms it). */
static void arm(struct loop *loop)
{
	struct itimerspec spec = {0};

	if (loop->heap_len) {
		int64_t deadline = loop->heap[0]->deadline_ms;
		/* An absolute time of 0 would disarm: a deadline in the past fires at once. */
		if (deadline < 1)
			deadline = 1;
		spec.it_value.tv_sec = deadline / 1000;
		spec.it_value.tv_nsec = (deadline % 1000) * 1000000;
	}
	timerfd_settime(loop->timer_fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

struct loop_timer *loop_timer_at(struct loop *loop, int64_t deadline_ms, loop_fn fn, void *ctx)
{
	struct loop_timer *timer = calloc(1, sizeof(*timer));

	if (!timer)
		abort();
	*timer = (struct loop_timer){
	    .deadline_ms = deadline_ms, .sequence = loop->next_sequence++, .fn = fn, .ctx = ctx};
	if (loop->heap_len == loop->heap_cap) {
		loop->heap_cap = loop->heap_cap ? 2 * loop->heap_cap : 16;
		loop->heap = realloc(loop->heap, loop->heap_cap * sizeof(*loop->heap));
		if (!loop->heap)
			abort();
	}
	timer->heap_index = loop->heap_len;
	loop->heap[loop->heap_len++] = timer;
	heap_up(loop, timer->heap_index);
	if (loop->heap[0] == timer)
		arm(loop);
	return timer;
}

struct loop_timer *loop_timer_in(struct loop *loop, int64_t delay_ms, loop_fn fn, void *ctx)
{
	return loop_timer_at(loop, loop_now_ms() + delay_ms, fn, ctx);
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *timer)
{
	bool was_first;

	if (!timer)
		return;
	was_first = timer->heap_index == 0;
	heap_remove(loop, timer->heap_index);
	free(timer);
	if (was_first)
		arm(loop);
}

static void fire_timers(struct loop *loop)
{
	uint64_t expirations;
	int64_t now = loop_now_ms();

	(void)!read(loop->timer_fd, &expirations, sizeof(expirations));
	while (loop->heap_len && loop->heap[0]->deadline_ms <= now) {
		struct loop_timer *timer = loop->heap[0];
		loop_fn fn = timer->fn;
		void *ctx = timer->ctx;

		heap_remove(loop, 0);
		free(timer);
		fn(ctx); /* may set or cancel other timers */
	}
	arm(loop);
}

/* --- posted work and quitting -------------------------------------------------------------- */

void loop_post(struct loop *loop, loop_fn fn, loop_fn drop, void *ctx)
{
	struct posted *item = calloc(1, sizeof(*item));
	uint64_t one = 1;

	if (!item)
		abort();
	*item = (struct posted){.fn = fn, .drop = drop, .ctx = ctx};
	pthread_mutex_lock(&loop->lock);
	if (loop->posted_tail)
		loop->posted_tail->next = item;
	else
		loop->posted = item;
	loop->posted_tail = item;
	pthread_mutex_unlock(&loop->lock);
	(void)!write(loop->wake_fd, &one, sizeof(one));
}

void loop_quit(struct loop *loop)
{
	uint64_t one = 1;

	pthread_mutex_lock(&loop->lock);
	loop->quit = true;
	pthread_mutex_unlock(&loop->lock);
	(void)!write(loop->wake_fd, &one, sizeof(one));
}

/* Runs what was posted; false once quit was asked. */
static bool run_posted(struct loop *loop)
{
	struct posted *items;
	uint64_t count;
	bool quit;

	(void)!read(loop->wake_fd, &count, sizeof(count));
	pthread_mutex_lock(&loop->lock);
	items = loop->posted;
	loop->posted = loop->posted_tail = NULL;
	quit = loop->quit;
	pthread_mutex_unlock(&loop->lock);
	while (items) {
		struct posted *next = items->next;
		items->fn(items->ctx);
		free(items);
		items = next;
	}
	return !quit;
}

void loop_run(struct loop *loop)
{
	struct epoll_event events[64];
	bool running = true;

	while (running) {
		int n = epoll_wait(loop->epoll_fd, events, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("event loop: epoll_wait: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			void *ptr = events[i].data.ptr;

			if (ptr == &timer_marker) {
				fire_timers(loop);
			} else if (ptr == &wake_marker) {
				running = run_posted(loop) && running;
			} else {
				struct watched_fd *w = ptr;
				if (!w->removed)
					w->fn(w->ctx, events[i].events);
			}
		}
		free_removed_fds(loop);
	}
}
