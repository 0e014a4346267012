#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

/* One connection with its prepared statements; one per reading thread, plus the writer's. */
struct connection {
	sqlite3 *db;
	sqlite3_stmt *get;
	sqlite3_stmt *list;
	sqlite3_stmt *count;
	sqlite3_stmt *revision;
	sqlite3_stmt *put;
	sqlite3_stmt *delete;
	sqlite3_stmt *set_revision;
	sqlite3_stmt *begin;
	sqlite3_stmt *commit;
	sqlite3_stmt *rollback;
};

struct store {
	char *path;
	struct connection *writer;
	pthread_key_t reader_key;
	_Atomic int64_t revision;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS objects ("
    "  key TEXT NOT NULL UNIQUE,"
    "  revision INTEGER NOT NULL,"
    "  value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES ('revision', 0);";

static int sqlite_failed(struct ck_error *err, sqlite3 *db, const char *step)
{
	return ck_error_set(err, EIO, "%s: %s", step, db ? sqlite3_errmsg(db) : "out of memory");
}

static void connection_close(struct connection *c)
{
	if (!c)
		return;
	sqlite3_stmt *stmts[] = {c->get,    c->list,         c->count, c->revision, c->put,
				 c->delete, c->set_revision, c->begin, c->commit,   c->rollback};
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
		sqlite3_finalize(stmts[i]);
	sqlite3_close(c->db);
	free(c);
}

static int prepare(struct connection *c, sqlite3_stmt **stmt, const char *sql, struct ck_error *err)
{
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK)
		return sqlite_failed(err, c->db, "prepare statement");
	return 0;
}

static int connection_open(const char *path, struct connection **out, struct ck_error *err)
{
	struct connection *c = calloc(1, sizeof(*c));
	if (!c)
		return ck_error_set(err, ENOMEM, "open %s: out of memory", path);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int ret = 0;
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		ret = sqlite_failed(err, c->db, "open database");
		goto fail;
	}
	sqlite3_busy_timeout(c->db, 5000);
	/* WAL lets readers work beside the writer; synchronous=NORMAL still makes every commit
	 * reach the WAL file before it returns, which is what surviving kill -9 needs. */
	if (sqlite3_exec(c->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			 "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-2048;",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
		ret = sqlite_failed(err, c->db, "set up database");
		goto fail;
	}
	if ((ret =
		 prepare(c, &c->get, "SELECT value, revision FROM objects WHERE key = ?1", err)) ||
	    (ret = prepare(c, &c->list,
			   "SELECT key, value, revision FROM objects WHERE key > ?1 AND key < ?2 "
			   "ORDER BY key LIMIT ?3",
			   err)) ||
	    (ret = prepare(c, &c->count, "SELECT count(*) FROM objects WHERE key > ?1 AND key < ?2",
			   err)) ||
	    (ret =
		 prepare(c, &c->revision, "SELECT value FROM meta WHERE name = 'revision'", err)) ||
	    (ret = prepare(c, &c->put,
			   "INSERT INTO objects (key, revision, value) VALUES (?1, ?2, ?3) "
			   "ON CONFLICT(key) DO UPDATE SET revision = ?2, value = ?3",
			   err)) ||
	    (ret = prepare(c, &c->delete, "DELETE FROM objects WHERE key = ?1", err)) ||
	    (ret = prepare(c, &c->set_revision,
			   "UPDATE meta SET value = ?1 WHERE name = 'revision'", err)) ||
	    (ret = prepare(c, &c->begin, "BEGIN", err)) ||
	    (ret = prepare(c, &c->commit, "COMMIT", err)) ||
	    (ret = prepare(c, &c->rollback, "ROLLBACK", err)))
		goto fail;
	*out = c;
	return 0;
fail:
	connection_close(c);
	return ret ? ret : ck_error_set(err, EIO, "open %s", path);
}

static void reader_destroy(void *connection)
{
	connection_close(connection);
}

/* This thread's read connection, opened on first use. */
static struct connection *reader(struct store *store, struct ck_error *err)
{
	struct connection *c = pthread_getspecific(store->reader_key);
	if (c)
		return c;
	if (connection_open(store->path, &c, err) < 0)
		return NULL;
	pthread_setspecific(store->reader_key, c);
	return c;
}

static int64_t read_revision(struct connection *c)
{
	int64_t revision = 0;
	if (sqlite3_step(c->revision) == SQLITE_ROW)
		revision = sqlite3_column_int64(c->revision, 0);
	sqlite3_reset(c->revision);
	return revision;
}

int store_open(const char *path, struct store **out, struct ck_error *err)
{
	struct store *store = calloc(1, sizeof(*store));
	if (!store || !(store->path = strdup(path))) {
		free(store);
		return ck_error_set(err, ENOMEM, "open store %s: out of memory", path);
	}
	int ret = pthread_key_create(&store->reader_key, reader_destroy);
	if (ret) {
		free(store->path);
		free(store);
		return ck_error_errno(err, ret, "open store %s", path);
	}
	ret = connection_open(path, &store->writer, err);
	if (ret < 0) {
		pthread_key_delete(store->reader_key);
		free(store->path);
		free(store);
		return ck_error_prefix(err, "open store %s", path);
	}
	atomic_store(&store->revision, read_revision(store->writer));
	*out = store;
	return 0;
}

void store_close(struct store *store)
{
	if (!store)
		return;
	/* Other threads' readers close when those threads exit; this one's closes now. */
	connection_close(pthread_getspecific(store->reader_key));
	pthread_setspecific(store->reader_key, NULL);
	pthread_key_delete(store->reader_key);
	connection_close(store->writer);
	free(store->path);
	free(store);
}

int64_t store_revision(struct store *store)
{
	return atomic_load(&store->revision);
}

int store_get(struct store *store, const char *key, char **value, int64_t *revision,
	      struct ck_error *err)
{
	struct connection *c = reader(store, err);
	if (!c)
		return -EIO;
	sqlite3_bind_text(c->get, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(c->get);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(c->get, 0);
		*value = strndup(text, (size_t)sqlite3_column_bytes(c->get, 0));
		if (revision)
			*revision = sqlite3_column_int64(c->get, 1);
		if (!*value)
			ret = ck_error_set(err, ENOMEM, "read %s: out of memory", key);
	} else if (rc == SQLITE_DONE) {
		ret = -ENOENT;
	} else {
		ret = sqlite_failed(err, c->db, "read object");
	}
	sqlite3_reset(c->get);
	sqlite3_clear_bindings(c->get);
	return ret;
}

/* The first key after every key that starts with `prefix`: the prefix with its last byte
 * raised by one ("pods/" -> "pods0"). Keys are ASCII, so no byte is 0xff. */
static char *prefix_end(const char *prefix)
{
	char *end = strdup(prefix);
	if (end && *end)
		end[strlen(end) - 1]++;
	return end;
}

int store_list(struct store *store, const struct store_range *range, store_visit_fn visit,
	       void *ctx, int64_t *snapshot_revision, bool *more, int64_t *remaining,
	       struct ck_error *err)
{
	struct connection *c = reader(store, err);
	if (!c)
		return -EIO;
	_cleanup_free_ char *end = prefix_end(range->prefix);
	if (!end)
		return ck_error_set(err, ENOMEM, "list %s: out of memory", range->prefix);
	const char *start = range->start_after ? range->start_after : range->prefix;
	if (strcmp(start, range->prefix) < 0)
		start = range->prefix;

	/* One read transaction: the revision and the rows come from the same snapshot. */
	if (sqlite3_step(c->begin) != SQLITE_DONE) {
		sqlite3_reset(c->begin);
		return sqlite_failed(err, c->db, "begin read");
	}
	sqlite3_reset(c->begin);
	int ret = 0;
	int64_t revision = read_revision(c);
	int64_t fetch = range->limit ? (int64_t)range->limit + 1 : -1;
	sqlite3_bind_text(c->list, 1, start, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->list, 2, end, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->list, 3, fetch);
	int64_t seen = 0;
	bool truncated = false;
	int rc;
	while ((rc = sqlite3_step(c->list)) == SQLITE_ROW) {
		if (range->limit && seen == (int64_t)range->limit) {
			truncated = true;
			break;
		}
		seen++;
		ret = visit(ctx, (const char *)sqlite3_column_text(c->list, 0),
			    (const char *)sqlite3_column_text(c->list, 1),
			    (size_t)sqlite3_column_bytes(c->list, 1),
			    sqlite3_column_int64(c->list, 2));
		if (ret != 0)
			break;
	}
	int64_t left = 0;
	if (ret > 0) {
		/* The visitor stopped: only whether another key follows is cheap to know. */
		ret = 0;
		truncated = sqlite3_step(c->list) == SQLITE_ROW;
		left = -1;
	} else if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = sqlite_failed(err, c->db, "list objects");
	} else if (ret == 0 && truncated) {
		/* Counted from the first key not returned. */
		const char *after = (const char *)sqlite3_column_text(c->list, 0);
		sqlite3_bind_text(c->count, 1, after, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(c->count, 2, end, -1, SQLITE_STATIC);
		left = sqlite3_step(c->count) == SQLITE_ROW ? sqlite3_column_int64(c->count, 0) + 1
							    : 0;
		sqlite3_reset(c->count);
		sqlite3_clear_bindings(c->count);
	}
	if (remaining)
		*remaining = left;
	sqlite3_reset(c->list);
	sqlite3_clear_bindings(c->list);
	sqlite3_step(c->commit);
	sqlite3_reset(c->commit);
	if (ret < 0)
		return ret;
	if (snapshot_revision)
		*snapshot_revision = revision;
	if (more)
		*more = truncated;
	return 0;
}

/* Runs `stmt` (already bound) and the revision update in one transaction. */
static int write_transaction(struct store *store, sqlite3_stmt *stmt, int64_t revision,
			     const char *what, const char *key, struct ck_error *err)
{
	struct connection *c = store->writer;
	int ret = 0;
	if (revision != store_revision(store) + 1) {
		ret = ck_error_set(err, EINVAL, "%s %s: revision %lld does not follow %lld", what,
				   key, (long long)revision, (long long)store_revision(store));
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
		return ret;
	}
	if (sqlite3_step(c->begin) != SQLITE_DONE)
		ret = sqlite_failed(err, c->db, "begin write");
	sqlite3_reset(c->begin);
	if (ret == 0 && sqlite3_step(stmt) != SQLITE_DONE)
		ret = sqlite_failed(err, c->db, what);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (ret == 0) {
		sqlite3_bind_int64(c->set_revision, 1, revision);
		if (sqlite3_step(c->set_revision) != SQLITE_DONE)
			ret = sqlite_failed(err, c->db, "record revision");
		sqlite3_reset(c->set_revision);
	}
	if (ret == 0) {
		if (sqlite3_step(c->commit) != SQLITE_DONE)
			ret = sqlite_failed(err, c->db, "commit");
		sqlite3_reset(c->commit);
	}
	if (ret < 0) {
		sqlite3_step(c->rollback);
		sqlite3_reset(c->rollback);
		return ck_error_prefix(err, "%s %s", what, key);
	}
	atomic_store(&store->revision, revision);
	return 0;
}

int store_put(struct store *store, const char *key, const char *value, int64_t revision,
	      struct ck_error *err)
{
	sqlite3_stmt *put = store->writer->put;
	sqlite3_bind_text(put, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(put, 2, revision);
	sqlite3_bind_text(put, 3, value, -1, SQLITE_STATIC);
	return write_transaction(store, put, revision, "write", key, err);
}

int store_delete(struct store *store, const char *key, int64_t revision, struct ck_error *err)
{
	sqlite3_stmt *del = store->writer->delete;
	sqlite3_bind_text(del, 1, key, -1, SQLITE_STATIC);
	return write_transaction(store, del, revision, "delete", key, err);
}
