/* Image pulls off the sync loop: see image_puller.h. */
#include "kubelet/image_puller.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kubelet/ckube_child.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "runtime/image_ref.h"

/* What of the pull's stderr is kept: its last line is the error, and progress lines before it
 * are not worth more memory. */
#define STDERR_KEEP (16 * 1024)
#define PULL_ERROR_PREFIX "ckube image pull: "

struct waiter {
	image_pulled_fn done;
	void *ctx;
	struct waiter *next;
};

struct pull_job {
	char *reference;
	bool always;
	bool running;
	/* Filled by the worker for the loop. */
	bool invalid;
	struct ck_error err;
	int result;
	struct waiter *waiters;
	struct image_puller *puller;
	struct pull_job *next;
};

struct image_puller {
	struct loop *loop;
	char *data_dir, *config_dir, *run_dir;
	struct image_store *store;
	pthread_t *threads;
	int thread_count;
	pthread_mutex_t lock;
	pthread_cond_t work;
	bool stopping;
	struct pull_job *jobs; /* queued and running, by reference */
};

static void job_free(struct pull_job *job)
{
	while (job->waiters) {
		struct waiter *next = job->waiters->next;
		free(job->waiters);
		job->waiters = next;
	}
	free(job->reference);
	free(job);
}

/* In the loop: every waiter gets the outcome (its own copy of the record). */
static void finish(void *ctx)
{
	struct pull_job *job = ctx;
	struct image_puller *puller = job->puller;

	for (struct waiter *w = job->waiters; w; w = w->next) {
		struct image_record *record = NULL;
		struct ck_error err = job->err;

		if (job->result == 0 &&
		    image_store_find(puller->store, job->reference, &record, &err) < 0)
			record = NULL;
		w->done(w->ctx, record, job->invalid, &err);
	}
	job_free(job);
}

static void drop_job(void *ctx)
{
	job_free(ctx);
}

/* Under the lock: the first job not yet running. */
static struct pull_job *next_job(struct image_puller *puller)
{
	for (struct pull_job *job = puller->jobs; job; job = job->next)
		if (!job->running)
			return job;
	return NULL;
}

static void unlink_job(struct image_puller *puller, struct pull_job *job)
{
	for (struct pull_job **link = &puller->jobs; *link; link = &(*link)->next)
		if (*link == job) {
			*link = job->next;
			job->next = NULL;
			return;
		}
}

/* The pull's error as `ckube image pull` printed it: its last line, without the prefix. */
static void child_error(const struct buf *stderr_text, int status, struct ck_error *err)
{
	const char *text = stderr_text->data ? stderr_text->data : "";
	size_t len = stderr_text->len;
	const char *line;

	line = memrchr(text, '\n', len);
	line = line ? line + 1 : text;
	if (strncmp(line, PULL_ERROR_PREFIX, strlen(PULL_ERROR_PREFIX)) == 0)
		line += strlen(PULL_ERROR_PREFIX);
	if (line < text + len)
		ck_error_set(err, EIO, "%.*s", (int)(text + len - line), line);
	else if (WIFSIGNALED(status))
		ck_error_set(err, EIO, "the pull was killed by signal %d", WTERMSIG(status));
	else
		ck_error_set(err, EIO, "the pull failed (exit status %d)", WEXITSTATUS(status));
}

/* The pull itself runs in a child process, `ckube image pull`: the agent never maps libarchive
 * and the libraries behind it (2.5 MiB it would keep resident after its first pull), and a
 * layer that crashes the unpacker ends that child, not the node's agent. */
static int pull_in_child(const struct image_puller *puller, const char *reference,
			 struct ck_error *err)
{
	char *const argv[] = {"ckube",
			      "image",
			      "--data-dir",
			      puller->data_dir,
			      "--config-dir",
			      puller->config_dir,
			      "--run-dir",
			      puller->run_dir,
			      "pull",
			      (char *)reference,
			      NULL};
	_cleanup_close_ int read_end = -1;
	int status = 0, r;
	struct buf stderr_text = {0};
	pid_t pid;

	r = ckube_child_start(argv, "pull", &pid, &read_end, err);
	if (r < 0)
		return r;
	ckube_child_read_stderr(read_end, STDERR_KEEP, &stderr_text);
	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		r = ck_error_errno(err, errno, "pull: wait for ckube image pull");
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		r = 0;
	} else {
		child_error(&stderr_text, status, err);
		r = -EIO;
	}
	buf_free(&stderr_text);
	return r;
}

static void pull(struct image_puller *puller, struct pull_job *job)
{
	struct image_ref ref;

	/* An unparsable name is InvalidImageName, told apart here: the child's failures are all
	 * ErrImagePull. */
	job->result = image_ref_parse(job->reference, &ref, &job->err);
	job->invalid = job->result < 0;
	if (job->result == 0) {
		image_ref_clear(&ref);
		job->result = pull_in_child(puller, job->reference, &job->err);
	}
}

static void *work(void *arg)
{
	struct image_puller *puller = arg;

	pthread_mutex_lock(&puller->lock);
	while (!puller->stopping) {
		struct pull_job *job = next_job(puller);

		if (!job) {
			pthread_cond_wait(&puller->work, &puller->lock);
			continue;
		}
		job->running = true;
		pthread_mutex_unlock(&puller->lock);
		pull(puller, job);
		pthread_mutex_lock(&puller->lock);
		/* Waiters that came while it ran are on the job: they get this outcome too. */
		unlink_job(puller, job);
		loop_post(puller->loop, finish, drop_job, job);
	}
	pthread_mutex_unlock(&puller->lock);
	return NULL;
}

void image_puller_request(struct image_puller *puller, const char *reference, bool always,
			  image_pulled_fn done, void *ctx)
{
	struct waiter *waiter = calloc(1, sizeof(*waiter));
	struct pull_job *job;

	if (!waiter)
		abort();
	*waiter = (struct waiter){.done = done, .ctx = ctx};
	pthread_mutex_lock(&puller->lock);
	for (job = puller->jobs; job; job = job->next)
		if (strcmp(job->reference, reference) == 0 && (!always || !job->running))
			break;
	if (!job) {
		job = calloc(1, sizeof(*job));
		if (!job)
			abort();
		*job = (struct pull_job){.reference = strdup(reference), .puller = puller};
		job->next = puller->jobs;
		puller->jobs = job;
	}
	job->always = job->always || always;
	waiter->next = job->waiters;
	job->waiters = waiter;
	pthread_cond_signal(&puller->work);
	pthread_mutex_unlock(&puller->lock);
}

struct image_store *image_puller_store(struct image_puller *puller)
{
	return puller->store;
}

int image_puller_start(struct loop *loop, const struct runtime_dirs *dirs, int workers,
		       struct image_puller **out, struct ck_error *err)
{
	struct image_puller *puller = calloc(1, sizeof(*puller));
	_cleanup_free_ char *store_dir = NULL;
	int r;

	if (!puller)
		abort();
	puller->loop = loop;
	pthread_mutex_init(&puller->lock, NULL);
	pthread_cond_init(&puller->work, NULL);
	puller->data_dir = strdup(dirs->data_dir);
	puller->config_dir = strdup(dirs->config_dir);
	puller->run_dir = strdup(dirs->run_dir);
	if (!puller->data_dir || !puller->config_dir || !puller->run_dir ||
	    asprintf(&store_dir, "%s/images", dirs->data_dir) < 0)
		abort();
	r = image_store_open(store_dir, &puller->store, err);
	puller->threads = calloc((size_t)workers, sizeof(pthread_t));
	if (!puller->threads)
		abort();
	for (int i = 0; r == 0 && i < workers; i++) {
		r = -pthread_create(&puller->threads[i], NULL, work, puller);
		if (r < 0)
			ck_error_errno(err, -r, "start image pull workers");
		else
			puller->thread_count++;
	}
	if (r < 0) {
		image_puller_stop(puller);
		return r;
	}
	*out = puller;
	return 0;
}

void image_puller_stop(struct image_puller *puller)
{
	if (!puller)
		return;
	pthread_mutex_lock(&puller->lock);
	puller->stopping = true;
	pthread_cond_broadcast(&puller->work);
	pthread_mutex_unlock(&puller->lock);
	/* A pull in progress finishes first (pulls cannot be interrupted halfway). */
	for (int i = 0; i < puller->thread_count; i++)
		pthread_join(puller->threads[i], NULL);
	while (puller->jobs) {
		struct pull_job *next = puller->jobs->next;
		job_free(puller->jobs);
		puller->jobs = next;
	}
	if (puller->store)
		image_store_close(puller->store);
	pthread_mutex_destroy(&puller->lock);
	pthread_cond_destroy(&puller->work);
	free(puller->threads);
	free(puller->data_dir);
	free(puller->config_dir);
	free(puller->run_dir);
	free(puller);
}
