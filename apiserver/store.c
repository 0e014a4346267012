#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/sqlite_dl.h"
#include "lib/cleanup.h"

/* How long replaced versions are kept once a paged list asked for them: a list's later pages
 * must come within this time (Kubernetes keeps about five minutes; clients re-list on 410). */
#define HISTORY_SECONDS 120
/* How often old history is dropped, at most. */
#define HISTORY_COMPACT_SECONDS 10

/* One connection with its prepared statements; one per reading thread, plus the writer's. */
struct connection {
	sqlite3 *db;
	sqlite3_stmt *get;
	sqlite3_stmt *list;
	sqlite3_stmt *list_at;
	sqlite3_stmt *count;
	sqlite3_stmt *revision;
	sqlite3_stmt *put;
	sqlite3_stmt *delete;
	sqlite3_stmt *keep_replaced;
	sqlite3_stmt *history_floor;
	sqlite3_stmt *compact_history;
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
	/* History, changed by writers only (serialized by the caller), read by listers: states
	 * from `history_since` on (and not before `history_floor`) can be rebuilt until
	 * `history_until`. */
	_Atomic int64_t history_since;
	_Atomic int64_t history_floor;
	_Atomic int64_t history_until; /* CLOCK_MONOTONIC seconds; 0 = not keeping history */
	int64_t next_compaction;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS objects ("
    "  key TEXT NOT NULL UNIQUE,"
    "  revision INTEGER NOT NULL,"
    "  value TEXT NOT NULL);"
    /* Versions that a write replaced or deleted (`superseded` is that write's revision). */
    "CREATE TABLE IF NOT EXISTS history ("
    "  key TEXT NOT NULL,"
    "  revision INTEGER NOT NULL,"
    "  superseded INTEGER NOT NULL,"
    "  recorded INTEGER NOT NULL,"
    "  value TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS history_by_key ON history (key);"
    "CREATE INDEX IF NOT EXISTS history_by_time ON history (recorded);"
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES ('revision', 0);";

static int64_t monotonic_seconds(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec;
}

static int sqlite_failed(struct ck_error *err, sqlite3 *db, const char *step)
{
	return ck_error_set(err, EIO, "%s: %s", step,
			    db ? sym_sqlite3_errmsg(db) : "out of memory");
}

static void connection_close(struct connection *c)
{
	if (!c)
		return;
	sqlite3_stmt *stmts[] = {
	    c->get,          c->list,   c->list_at,       c->count,         c->revision,
	    c->put,          c->delete, c->keep_replaced, c->history_floor, c->compact_history,
	    c->set_revision, c->begin,  c->commit,        c->rollback};
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
		sym_sqlite3_finalize(stmts[i]);
	sym_sqlite3_close(c->db);
	free(c);
}

static int prepare(struct connection *c, sqlite3_stmt **stmt, const char *sql, struct ck_error *err)
{
	if (sym_sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) !=
	    SQLITE_OK)
		return sqlite_failed(err, c->db, "prepare statement");
	return 0;
}

static const struct {
	size_t offset;
	const char *sql;
} statements[] = {
    {offsetof(struct connection, get), "SELECT value, revision FROM objects WHERE key = ?1"},
    {offsetof(struct connection, list),
     "SELECT key, value, revision FROM objects WHERE key > ?1 AND key < ?2 ORDER BY key "
     "LIMIT ?3"},
    /* The state as of ?3: what is unchanged since, and what was current then but replaced
     * later. Each key has at most one row of the two that qualifies. */
    {offsetof(struct connection, list_at),
     "SELECT key, value, revision FROM objects WHERE key > ?1 AND key < ?2 AND revision <= ?3 "
     "UNION ALL "
     "SELECT key, value, revision FROM history WHERE key > ?1 AND key < ?2 AND revision <= ?3 "
     "AND superseded > ?3 ORDER BY key LIMIT ?4"},
    {offsetof(struct connection, count),
     "SELECT count(*) FROM objects WHERE key > ?1 AND key < ?2"},
    {offsetof(struct connection, revision), "SELECT value FROM meta WHERE name = 'revision'"},
    {offsetof(struct connection, put),
     "INSERT INTO objects (key, revision, value) VALUES (?1, ?2, ?3) "
     "ON CONFLICT(key) DO UPDATE SET revision = ?2, value = ?3"},
    {offsetof(struct connection, delete), "DELETE FROM objects WHERE key = ?1"},
    {offsetof(struct connection, keep_replaced),
     "INSERT INTO history (key, revision, superseded, recorded, value) "
     "SELECT key, revision, ?2, ?3, value FROM objects WHERE key = ?1"},
    {offsetof(struct connection, history_floor),
     "SELECT max(superseded) FROM history WHERE recorded < ?1"},
    {offsetof(struct connection, compact_history), "DELETE FROM history WHERE recorded < ?1"},
    {offsetof(struct connection, set_revision),
     "UPDATE meta SET value = ?1 WHERE name = 'revision'"},
    {offsetof(struct connection, begin), "BEGIN"},
    {offsetof(struct connection, commit), "COMMIT"},
    {offsetof(struct connection, rollback), "ROLLBACK"},
};

static int connection_open(const char *path, struct connection **out, struct ck_error *err)
{
	struct connection *c = calloc(1, sizeof(*c));
	if (!c)
		return ck_error_set(err, ENOMEM, "open %s: out of memory", path);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int ret = 0;
	if (sym_sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		ret = sqlite_failed(err, c->db, "open database");
		goto fail;
	}
	sym_sqlite3_busy_timeout(c->db, 5000);
	/* WAL lets readers work beside the writer; synchronous=NORMAL still makes every commit
	 * reach the WAL file before it returns, which is what surviving kill -9 needs. */
	if (sym_sqlite3_exec(c->db,
			     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			     "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-2048;",
			     NULL, NULL, NULL) != SQLITE_OK ||
	    sym_sqlite3_exec(c->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
		ret = sqlite_failed(err, c->db, "set up database");
		goto fail;
	}
	for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
		sqlite3_stmt **stmt = (sqlite3_stmt **)((char *)c + statements[i].offset);
		if ((ret = prepare(c, stmt, statements[i].sql, err)) < 0)
			goto fail;
	}
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
	if (sym_sqlite3_step(c->revision) == SQLITE_ROW)
		revision = sym_sqlite3_column_int64(c->revision, 0);
	sym_sqlite3_reset(c->revision);
	return revision;
}

int store_open(const char *path, struct store **out, struct ck_error *err)
{
	if (dlopen_sqlite(err) < 0)
		return ck_error_prefix(err, "open store %s", path);
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
	/* Continue tokens do not outlive the process, so neither does the history. */
	sym_sqlite3_exec(store->writer->db, "DELETE FROM history", NULL, NULL, NULL);
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
	sym_sqlite3_bind_text(c->get, 1, key, -1, SQLITE_STATIC);
	int rc = sym_sqlite3_step(c->get);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sym_sqlite3_column_text(c->get, 0);
		*value = strndup(text, (size_t)sym_sqlite3_column_bytes(c->get, 0));
		if (revision)
			*revision = sym_sqlite3_column_int64(c->get, 1);
		if (!*value)
			ret = ck_error_set(err, ENOMEM, "read %s: out of memory", key);
	} else if (rc == SQLITE_DONE) {
		ret = -ENOENT;
	} else {
		ret = sqlite_failed(err, c->db, "read object");
	}
	sym_sqlite3_reset(c->get);
	sym_sqlite3_clear_bindings(c->get);
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

void store_keep_history(struct store *store)
{
	if (atomic_load(&store->history_until) == 0)
		atomic_store(&store->history_since, store_revision(store));
	atomic_store(&store->history_until, monotonic_seconds() + HISTORY_SECONDS);
}

/* Whether the state as of `revision` can still be rebuilt. */
static bool history_covers(struct store *store, int64_t revision)
{
	int64_t until = atomic_load(&store->history_until);
	return until && monotonic_seconds() < until &&
	       revision >= atomic_load(&store->history_since) &&
	       revision >= atomic_load(&store->history_floor);
}

/* Counts the keys after `after` in the range; -1 when the count fails. */
static int64_t count_after(struct connection *c, const char *after, const char *end)
{
	sym_sqlite3_bind_text(c->count, 1, after, -1, SQLITE_TRANSIENT);
	sym_sqlite3_bind_text(c->count, 2, end, -1, SQLITE_STATIC);
	int64_t count =
	    sym_sqlite3_step(c->count) == SQLITE_ROW ? sym_sqlite3_column_int64(c->count, 0) : -1;
	sym_sqlite3_reset(c->count);
	sym_sqlite3_clear_bindings(c->count);
	return count;
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
	if (sym_sqlite3_step(c->begin) != SQLITE_DONE) {
		sym_sqlite3_reset(c->begin);
		return sqlite_failed(err, c->db, "begin read");
	}
	sym_sqlite3_reset(c->begin);
	int64_t revision = read_revision(c);
	bool past = range->at_revision > 0 && range->at_revision < revision;
	if (past && !history_covers(store, range->at_revision)) {
		sym_sqlite3_step(c->commit);
		sym_sqlite3_reset(c->commit);
		return ck_error_set(err, ESTALE, "the state as of revision %lld is no longer kept",
				    (long long)range->at_revision);
	}
	sqlite3_stmt *query = past ? c->list_at : c->list;
	int64_t fetch = range->limit ? (int64_t)range->limit + 1 : -1;
	sym_sqlite3_bind_text(query, 1, start, -1, SQLITE_STATIC);
	sym_sqlite3_bind_text(query, 2, end, -1, SQLITE_STATIC);
	if (past) {
		sym_sqlite3_bind_int64(query, 3, range->at_revision);
		sym_sqlite3_bind_int64(query, 4, fetch);
	} else {
		sym_sqlite3_bind_int64(query, 3, fetch);
	}

	int ret = 0;
	int64_t seen = 0;
	bool truncated = false;
	int rc;
	while ((rc = sym_sqlite3_step(query)) == SQLITE_ROW) {
		if (range->limit && seen == (int64_t)range->limit) {
			truncated = true;
			break;
		}
		seen++;
		ret = visit(ctx, (const char *)sym_sqlite3_column_text(query, 0),
			    (const char *)sym_sqlite3_column_text(query, 1),
			    (size_t)sym_sqlite3_column_bytes(query, 1),
			    sym_sqlite3_column_int64(query, 2));
		if (ret != 0)
			break;
	}
	int64_t left = -1;
	if (ret > 0) {
		/* The visitor stopped: only whether another key follows is cheap to know. */
		ret = 0;
		truncated = sym_sqlite3_step(query) == SQLITE_ROW;
	} else if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = sqlite_failed(err, c->db, "list objects");
	} else if (ret == 0 && truncated && !past) {
		/* Counted from the first key not returned, which is the row at hand. */
		int64_t after =
		    count_after(c, (const char *)sym_sqlite3_column_text(query, 0), end);
		left = after < 0 ? -1 : after + 1;
	} else if (ret == 0 && !truncated) {
		left = 0;
	}
	if (remaining)
		*remaining = left;
	sym_sqlite3_reset(query);
	sym_sqlite3_clear_bindings(query);
	sym_sqlite3_step(c->commit);
	sym_sqlite3_reset(c->commit);
	if (ret < 0)
		return ret;
	if (snapshot_revision)
		*snapshot_revision = past ? range->at_revision : revision;
	if (more)
		*more = truncated;
	return 0;
}

/* Drops history older than HISTORY_SECONDS, now and then; states before the newest dropped
 * version can no longer be rebuilt. Part of a write transaction. */
static int compact_history(struct store *store, int64_t now, struct ck_error *err)
{
	if (now < store->next_compaction)
		return 0;
	store->next_compaction = now + HISTORY_COMPACT_SECONDS;
	struct connection *c = store->writer;
	int64_t cutoff = now - HISTORY_SECONDS;
	sym_sqlite3_bind_int64(c->history_floor, 1, cutoff);
	if (sym_sqlite3_step(c->history_floor) == SQLITE_ROW &&
	    sym_sqlite3_column_type(c->history_floor, 0) != SQLITE_NULL)
		atomic_store(&store->history_floor, sym_sqlite3_column_int64(c->history_floor, 0));
	sym_sqlite3_reset(c->history_floor);
	sym_sqlite3_bind_int64(c->compact_history, 1, cutoff);
	int rc = sym_sqlite3_step(c->compact_history);
	sym_sqlite3_reset(c->compact_history);
	return rc == SQLITE_DONE ? 0 : sqlite_failed(err, c->db, "compact history");
}

/* Keeps the version `key` has now, which the write at `revision` replaces. */
static int keep_replaced(struct store *store, const char *key, int64_t revision, int64_t now,
			 struct ck_error *err)
{
	struct connection *c = store->writer;
	sym_sqlite3_bind_text(c->keep_replaced, 1, key, -1, SQLITE_STATIC);
	sym_sqlite3_bind_int64(c->keep_replaced, 2, revision);
	sym_sqlite3_bind_int64(c->keep_replaced, 3, now);
	int rc = sym_sqlite3_step(c->keep_replaced);
	sym_sqlite3_reset(c->keep_replaced);
	sym_sqlite3_clear_bindings(c->keep_replaced);
	return rc == SQLITE_DONE ? 0 : sqlite_failed(err, c->db, "keep replaced version");
}

/* Runs `stmt` (already bound) and the revision update in one transaction, keeping the
 * replaced version first while history is wanted. */
static int write_transaction(struct store *store, sqlite3_stmt *stmt, int64_t revision,
			     const char *what, const char *key, struct ck_error *err)
{
	struct connection *c = store->writer;
	int ret = 0;
	if (revision != store_revision(store) + 1) {
		ret = ck_error_set(err, EINVAL, "%s %s: revision %lld does not follow %lld", what,
				   key, (long long)revision, (long long)store_revision(store));
		sym_sqlite3_reset(stmt);
		sym_sqlite3_clear_bindings(stmt);
		return ret;
	}
	int64_t now = monotonic_seconds();
	int64_t until = atomic_load(&store->history_until);
	if (until && now >= until)
		atomic_store(&store->history_until, 0); /* no paged list is under way any more */
	bool keep = until && now < until;

	if (sym_sqlite3_step(c->begin) != SQLITE_DONE)
		ret = sqlite_failed(err, c->db, "begin write");
	sym_sqlite3_reset(c->begin);
	if (ret == 0 && keep)
		ret = keep_replaced(store, key, revision, now, err);
	if (ret == 0)
		ret = compact_history(store, now, err);
	if (ret == 0 && sym_sqlite3_step(stmt) != SQLITE_DONE)
		ret = sqlite_failed(err, c->db, what);
	sym_sqlite3_reset(stmt);
	sym_sqlite3_clear_bindings(stmt);
	if (ret == 0) {
		sym_sqlite3_bind_int64(c->set_revision, 1, revision);
		if (sym_sqlite3_step(c->set_revision) != SQLITE_DONE)
			ret = sqlite_failed(err, c->db, "record revision");
		sym_sqlite3_reset(c->set_revision);
	}
	if (ret == 0) {
		if (sym_sqlite3_step(c->commit) != SQLITE_DONE)
			ret = sqlite_failed(err, c->db, "commit");
		sym_sqlite3_reset(c->commit);
	}
	if (ret < 0) {
		sym_sqlite3_step(c->rollback);
		sym_sqlite3_reset(c->rollback);
		return ck_error_prefix(err, "%s %s", what, key);
	}
	atomic_store(&store->revision, revision);
	return 0;
}

int store_put(struct store *store, const char *key, const char *value, int64_t revision,
	      struct ck_error *err)
{
	sqlite3_stmt *put = store->writer->put;
	sym_sqlite3_bind_text(put, 1, key, -1, SQLITE_STATIC);
	sym_sqlite3_bind_int64(put, 2, revision);
	sym_sqlite3_bind_text(put, 3, value, -1, SQLITE_STATIC);
	return write_transaction(store, put, revision, "write", key, err);
}

int store_delete(struct store *store, const char *key, int64_t revision, struct ck_error *err)
{
	sqlite3_stmt *del = store->writer->delete;
	sym_sqlite3_bind_text(del, 1, key, -1, SQLITE_STATIC);
	return write_transaction(store, del, revision, "delete", key, err);
}
