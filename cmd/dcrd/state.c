/* dcrd's durable state: a SQLite database whose rows are sealed under the sealing key. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "seal.h"

#include "banned.h"

#define ROOM_LABEL "room"
#define NAMES_LABEL "dcr-state-names-v1"
#define NAME_LABEL "dcr-record-name-v1"

#define CLOCK_LABEL "clock-mark"

/*
 * What the sealed frontier holds: the tree's frontier, the digests of the
 * room's records as the log last recorded them, and the clock mark as it
 * stood when the entry was appended (see state_clock_mark). Older dcrds
 * sealed only the frontier, then the frontier and record_digest, and a
 * development version everything up to clock_mark, which then held the
 * latest call timestamp (see mark_from_call): a shorter frontier is a
 * prefix of this one. Zeros: not bound (or kept) yet.
 */
struct sealed_frontier {
	struct dcr_merkle_frontier f;
	uint8_t record_digest[32]; /* SHA-256 of the sealed room record */
	uint8_t pubs_digest[32];   /* publications_digest of the room's publication records */
	int64_t clock_mark;        /* dcrd's clock at the latest call accepted; 0: not kept yet */
	int64_t last_call_ms;      /* the latest call timestamp accepted */
};
_Static_assert(offsetof(struct sealed_frontier, pubs_digest) == sizeof(struct dcr_merkle_frontier) + 32,
	"a frontier sealed before publications were bound is a prefix of one sealed after");
static const uint8_t unbound[32];

/*
 * A mark sealed as the latest call timestamp alone (a development dcrd's
 * frontier, an 8-byte mark row): a call is accepted at most
 * DCR_CALL_MAX_AHEAD_MS ahead of dcrd's clock, which was therefore at
 * least that much less.
 */
static void mark_from_call(int64_t last_call_ms, int64_t *mark, int64_t *last)
{
	*last = last_call_ms;
	*mark = last_call_ms > DCR_CALL_MAX_AHEAD_MS ? last_call_ms - DCR_CALL_MAX_AHEAD_MS : 0;
}

/* The class of the last SQLite error on db, as sql_fail gives it. */
static int sql_code(sqlite3 *db)
{
	int rc = sqlite3_errcode(db) & 0xff;

	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_FORMAT ? DCR_EINTEGRITY : DCR_EIO;
}

/*
 * An SQLite error as a dcr error: a damaged file (a page or header the
 * host altered: SQLite's own checks fail) is an integrity violation like a
 * sealed row that does not open. Anything else (a full disk, a failing
 * read) is reported as code.
 */
static int sql_fail(struct state *s, int code, const char *what, struct dcr_err *err)
{
	if (sql_code(s->db) == DCR_EINTEGRITY)
		return dcr_err_set(err, DCR_EINTEGRITY, "state database: %s: %s (state.db was altered or damaged)", what,
			sqlite3_errmsg(s->db));
	if ((sqlite3_errcode(s->db) & 0xff) == SQLITE_FULL) {
		/* Said once where the operator looks; /healthz says it until a write succeeds. */
		if (!atomic_exchange(&s->full, true))
			fprintf(stderr, "dcrd: the state database cannot write: the disk is full\n");
		return dcr_err_set(err, code, "state database: %s: dcrd's disk is full", what);
	}
	return dcr_err_set(err, code, "state database: %s: %s", what, sqlite3_errmsg(s->db));
}

bool state_full(const struct state *s)
{
	return atomic_load(&s->full);
}

int (*state_fdatasync_fn)(int fd);

/* One fdatasync of the log (group commit), counted; first the files' directory, if a file was made there. */
static int log_sync(struct state *s)
{
	if (atomic_exchange(&s->files_changed, false) && fsync(s->files_fd) < 0)
		return -1;
	if ((state_fdatasync_fn ? state_fdatasync_fn : fdatasync)(s->wal_fd) < 0)
		return -1;
	atomic_fetch_add(&s->syncs, 1);
	return 0;
}

static int migrate_names(struct state *s, bool *changed, struct dcr_err *err);
static int seal_legacy_leaves(struct state *s, bool *changed, struct dcr_err *err);
static int build_audit_nodes(struct state *s, struct dcr_err *err);

int state_open(struct state *s, const char *dir, const uint8_t *key, struct dcr_err *err)
{
	static const char schema[] =
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=FULL;"
		/* What is deleted or replaced is overwritten, not left for the host in a freed page. */
		"PRAGMA secure_delete=ON;"
		"CREATE TABLE IF NOT EXISTS rooms ("
		"  id TEXT PRIMARY KEY,"
		"  record BLOB NOT NULL"
		") STRICT;"
		"CREATE TABLE IF NOT EXISTS audit ("
		"  room_id TEXT NOT NULL,"
		"  idx INTEGER NOT NULL,"
		"  leaf BLOB NOT NULL,"
		"  entry BLOB NOT NULL,"
		"  PRIMARY KEY (room_id, idx)"
		") STRICT;"
		"CREATE TABLE IF NOT EXISTS audit_frontier ("
		"  room_id TEXT PRIMARY KEY,"
		"  frontier BLOB NOT NULL"
		") STRICT;"
		/* The sealed root of each perfect subtree of 2^level leaves (level >= 1) at idx (state_audit_append). */
		"CREATE TABLE IF NOT EXISTS audit_node ("
		"  room_id TEXT NOT NULL,"
		"  level INTEGER NOT NULL,"
		"  idx INTEGER NOT NULL,"
		"  hash BLOB NOT NULL,"
		"  PRIMARY KEY (room_id, level, idx)"
		") STRICT, WITHOUT ROWID;"
		"CREATE TABLE IF NOT EXISTS nonces ("
		"  nonce BLOB PRIMARY KEY,"
		"  expires_ms INTEGER NOT NULL"
		") STRICT;"
		/* One row: the latest call timestamp accepted, sealed (state_clock_mark). */
		"CREATE TABLE IF NOT EXISTS clock ("
		"  id INTEGER PRIMARY KEY CHECK (id = 1),"
		"  mark BLOB NOT NULL"
		") STRICT;"
		/* Platform login tokens: only their SHA-256 is kept. Written by the host (dcrd token create). */
		"CREATE TABLE IF NOT EXISTS platform_tokens ("
		"  hash BLOB PRIMARY KEY,"
		"  email TEXT NOT NULL,"
		"  created_ms INTEGER NOT NULL,"
		"  expires_ms INTEGER NOT NULL,"
		"  used_ms INTEGER"
		") STRICT;"
		/* Datasets, publications and jobs: sealed records, each labelled with its kind, scope and name. */
		"CREATE TABLE IF NOT EXISTS records ("
		"  kind TEXT NOT NULL,"
		"  scope TEXT NOT NULL,"
		"  name TEXT NOT NULL,"
		"  seq INTEGER NOT NULL,"
		"  record BLOB NOT NULL,"
		"  PRIMARY KEY (kind, scope, name)"
		") STRICT;"
		/* A room's next job number (state_max_seq) without reading all its jobs' rows. */
		"CREATE INDEX IF NOT EXISTS records_seq ON records (kind, scope, seq);"
		/* Ciphertext in DIR/blobs/ID: what the host may know of it anyway. */
		"CREATE TABLE IF NOT EXISTS blobs ("
		"  id TEXT PRIMARY KEY,"
		"  size INTEGER NOT NULL,"
		"  received INTEGER NOT NULL,"
		"  token_hash BLOB NOT NULL,"
		"  complete INTEGER NOT NULL"
		") STRICT;";
	char path[4096];
	char *msg = NULL;
	bool changed = false;
	int r;

	memset(s, 0, sizeof(*s));
	if (key) {
		uint8_t prk[32];

		memcpy(s->key, key, 32);
		r = dcr_hkdf_extract(NULL, 0, key, 32, prk, err);
		if (r == 0)
			r = dcr_hkdf_expand(prk, (const uint8_t *)NAMES_LABEL, strlen(NAMES_LABEL), s->names_key, 32, err);
		dcr_wipe(prk, sizeof(prk));
		if (r < 0) {
			state_close(s);
			return r;
		}
	}
	if ((r = data_path(path, sizeof(path), dir, "state.db", err)) < 0)
		return r;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK) {
		r = dcr_err_set(err, DCR_EIO, "cannot open '%s': %s", path, s->db ? sqlite3_errmsg(s->db) : "no memory");
		sqlite3_close(s->db);
		s->db = NULL;
		return r;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		r = dcr_err_set(err, DCR_EIO, "cannot set up '%s': %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		state_close(s);
		return r;
	}
	if (key && ((r = migrate_names(s, &changed, err)) < 0 || (r = seal_legacy_leaves(s, &changed, err)) < 0 ||
		    (r = build_audit_nodes(s, err)) < 0)) {
		state_close(s);
		return r;
	}
	/*
	 * What was renamed or sealed is in the log; the database file still
	 * holds the pages with the names and leaves in the clear until the log
	 * is checkpointed into it, and the log's copies go when it is emptied.
	 */
	if (changed && sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL) != SQLITE_OK) {
		r = sql_fail(s, DCR_EIO, "cannot checkpoint the state after sealing what it held in the clear", err);
		state_close(s);
		return r;
	}
	return 0;
}

/* The open transaction ended: settle what it carried. */
static void end_hooks(struct state *s, bool committed)
{
	size_t n = s->n_hooks;

	s->n_hooks = 0;
	for (size_t i = 0; i < n; i++)
		s->hooks[i].fn(s->hooks[i].arg, committed);
}

void state_close(struct state *s)
{
	if (!s)
		return;
	end_hooks(s, false);
	for (size_t i = 0; i < sizeof(s->audit_st) / sizeof(*s->audit_st); i++) {
		sqlite3_finalize(s->audit_st[i]);
		s->audit_st[i] = NULL;
	}
	for (size_t i = 0; i < sizeof(s->call_st) / sizeof(*s->call_st); i++) {
		sqlite3_finalize(s->call_st[i]);
		s->call_st[i] = NULL;
	}
	if (s->group) {
		/*
		 * What no state_unlock synced goes to disk now (closing a connection
		 * that is not the last does not checkpoint). dcrd stops its HTTP
		 * threads and the watchdog first, and its runners never wait; should
		 * a thread still be in sync_to, it finds the state closed and
		 * returns, so the mutex and condition variable stay.
		 */
		pthread_mutex_lock(&s->sync_mu);
		while (s->syncing)
			pthread_cond_wait(&s->sync_cv, &s->sync_mu);
		if (!s->closed) {
			if (log_sync(s) < 0)
				fprintf(stderr, "dcrd: the state database's log, or the blobs directory, cannot be written "
						"to disk (%s): what the last calls changed may be lost\n", strerror(errno));
			else
				atomic_store(&s->synced, atomic_load(&s->written));
			close(s->wal_fd);
			close(s->files_fd);
			s->closed = true;
		}
		pthread_cond_broadcast(&s->sync_cv);
		pthread_mutex_unlock(&s->sync_mu);
	}
	sqlite3_close(s->db);
	s->db = NULL;
	dcr_wipe(s->key, sizeof(s->key));
	dcr_wipe(s->names_key, sizeof(s->names_key));
}

/* SQLite's commit hook: called as a transaction commits (0: let it). */
static int on_commit(void *arg)
{
	((struct state *)arg)->committed = true;
	return 0;
}

/*
 * Group commit. In WAL mode a commit is durable once the log file holds
 * its frames on disk; synchronous=FULL makes every commit fdatasync the
 * log while holding dcrd's one call lock. Here a commit only writes its
 * frames, and state_unlock, after the lock is released, fdatasyncs the
 * log once for every thread that released it since the last fdatasync
 * began. SQLite still syncs the log before a checkpoint copies it into
 * the database, and the database after.
 */

int state_group_commit(struct state *s, const char *dir, const char *files_dir, struct dcr_err *err)
{
	char path[4096];
	int fd = -1, ffd = -1, r;

	if ((r = data_path(path, sizeof(path), dir, "state.db-wal", err)) < 0)
		return r;
	/* Open by state_open's reads in WAL mode, which make the file; it stays until the last connection closes. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return dcr_err_set(err, DCR_EIO, "cannot open '%s': %s", path, strerror(errno));
	if ((ffd = open(files_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = dcr_err_set(err, DCR_EIO, "cannot open '%s': %s", files_dir, strerror(errno));
		goto fail;
	}
	/* Before commits stop waiting: what the log holds, and its name in the directory, are on disk. */
	if (fdatasync(fd) < 0) {
		r = dcr_err_set(err, DCR_EIO, "cannot sync '%s' to disk: %s", path, strerror(errno));
		goto fail;
	}
	if ((r = dcr_sync_parent_dir(path, path, err)) < 0)
		goto fail;
	if (sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		r = sql_fail(s, DCR_EIO, "cannot set up group commit", err);
		goto fail;
	}
	s->wal_fd = fd;
	s->files_fd = ffd;
	pthread_mutex_init(&s->sync_mu, NULL);
	pthread_cond_init(&s->sync_cv, NULL);
	/* Every commit, whatever it writes (rows, schema, pragmas), in the thread holding the lock. */
	sqlite3_commit_hook(s->db, on_commit, s);
	s->group = true;
	return 0;
fail:
	if (ffd >= 0)
		close(ffd);
	close(fd);
	return r;
}

void state_files_changed(struct state *s)
{
	if (s->group)
		atomic_store(&s->files_changed, true);
}

/* Wait until every change counted up to ticket is on disk, syncing the log for the others if no one is. */
static void sync_to(struct state *s, uint64_t ticket)
{
	/* Most often another thread's fdatasync covered it already. */
	if (atomic_load(&s->synced) >= ticket)
		return;
	pthread_mutex_lock(&s->sync_mu);
	while (atomic_load(&s->synced) < ticket && !s->closed) {
		uint64_t target;

		if (s->syncing) {
			pthread_cond_wait(&s->sync_cv, &s->sync_mu);
			continue;
		}
		/*
		 * Read before the fdatasync starts: every ticket up to here was
		 * counted after its frames were written, so it covers them all. A
		 * ticket counted during it may have frames written after it began.
		 */
		target = atomic_load(&s->written);
		s->syncing = true;
		pthread_mutex_unlock(&s->sync_mu);
		if (log_sync(s) < 0) {
			fprintf(stderr, "dcrd: the state database's log, or the blobs directory, cannot be written to "
				"disk (%s): stopping now, before answering for what may not be on disk\n", strerror(errno));
			_exit(1);
		}
		pthread_mutex_lock(&s->sync_mu);
		s->syncing = false;
		atomic_store(&s->synced, target);
		pthread_cond_broadcast(&s->sync_cv);
	}
	pthread_mutex_unlock(&s->sync_mu);
}

/* Under the lock: count a release after commits, and return the ticket covering every commit so far. */
static uint64_t count_release(struct state *s)
{
	if (s->committed) {
		s->committed = false;
		atomic_fetch_add(&s->written, 1);
	}
	return atomic_load(&s->written);
}

void state_unlock(struct state *s, pthread_mutex_t *lock)
{
	/*
	 * Whatever was committed before this release, by this thread or
	 * another, is waited for: a call that only reads may answer with what
	 * another committed a moment ago.
	 */
	uint64_t ticket = s->group ? count_release(s) : 0;

	if (lock)
		pthread_mutex_unlock(lock);
	if (ticket)
		sync_to(s, ticket);
}

void state_release(struct state *s, pthread_mutex_t *lock)
{
	if (s->group)
		count_release(s);
	pthread_mutex_unlock(lock);
}

uint64_t state_ticket(struct state *s)
{
	/* This release will count the commit: one more than the releases counted so far. */
	return s->group ? atomic_load(&s->written) + 1 : 0;
}

bool state_synced(struct state *s, uint64_t ticket)
{
	return atomic_load(&s->synced) >= ticket;
}

void state_sync_counts(struct state *s, uint64_t *writes, uint64_t *syncs)
{
	*writes = atomic_load(&s->written);
	*syncs = atomic_load(&s->syncs);
}

int state_private_name(const struct state *s, const char *scope, const char *name,
	char out[static STATE_PRIVATE_NAME_LEN + 1], struct dcr_err *err)
{
	uint8_t info[1024], mac[STATE_PRIVATE_NAME_LEN / 2];
	size_t a = strlen(NAME_LABEL) + 1, b = strlen(scope) + 1, c = strlen(name);
	int r;

	if (c > sizeof(info) - a - b)
		return dcr_err_set(err, DCR_EINVALID, "a record name of %zu bytes is too long", c);
	memcpy(info, NAME_LABEL, a);
	memcpy(info + a, scope, b);
	memcpy(info + a + b, name, c);
	if ((r = dcr_hkdf_expand(s->names_key, info, a + b + c, mac, sizeof(mac), err)) == 0)
		dcr_hex(mac, sizeof(mac), out);
	return r;
}

/* Sealed rows name what they are and where they belong, so the host cannot move them around. */
static void label_for(char *buf, size_t size, const char *what, const char *room_id, int64_t idx)
{
	if (idx < 0)
		snprintf(buf, size, "%s:%s", what, room_id);
	else
		snprintf(buf, size, "%s:%s:%lld", what, room_id, (long long)idx);
}

static int seal_record(struct state *s, const char *id, const Dcr__V1__RoomRecord *rec, uint8_t **blob, size_t *len,
	struct dcr_err *err)
{
	char label[128];
	size_t n = dcr__v1__room_record__get_packed_size(rec);
	uint8_t *pt = malloc(n ? n : 1);
	int r;

	if (!pt)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	dcr__v1__room_record__pack(rec, pt);
	label_for(label, sizeof(label), ROOM_LABEL, id, -1);
	r = dcr_seal(s->key, label, pt, n, blob, len, err);
	dcr_wipe(pt, n);
	free(pt);
	return r;
}

int state_put_room(struct state *s, const char *id, const Dcr__V1__RoomRecord *rec, int create,
	struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	uint8_t *blob = NULL;
	size_t len = 0;
	int r, rc;

	if ((r = seal_record(s, id, rec, &blob, &len, err)) < 0)
		return r;
	rc = sqlite3_prepare_v2(s->db, create ? "INSERT INTO rooms (id, record) VALUES (?1, ?2)"
					     : "UPDATE rooms SET record = ?2 WHERE id = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	if (rc == SQLITE_CONSTRAINT)
		r = dcr_err_set(err, DCR_EEXIST, "room %s exists already (dcr create --salt makes another from the same file)",
			id);
	else if (rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot store the room", err);
	else if (!create && sqlite3_changes(s->db) != 1)
		r = dcr_err_set(err, DCR_ENOTFOUND, "no room %s", id);
	if (r == 0 && (r = dcr_sha256(blob, len, s->pending_digest, err)) == 0)
		snprintf(s->pending_room, sizeof(s->pending_room), "%s", id);
	sqlite3_finalize(st);
	free(blob);
	return r;
}

static int read_frontier(struct state *s, const char *room_id, struct sealed_frontier *sf, bool *present,
	struct dcr_err *err);

/* A record must be the one the room's log last recorded writing (if the log says). */
static int check_bound(struct state *s, const char *id, const void *blob, int len, struct dcr_err *err)
{
	struct sealed_frontier sf;
	uint8_t digest[32];
	bool present;
	int r;

	if ((r = read_frontier(s, id, &sf, &present, err)) < 0)
		return r;
	/* Written in this transaction, before the entry that will bind it. */
	if (strcmp(s->pending_room, id) == 0)
		memcpy(sf.record_digest, s->pending_digest, 32);
	/* Else the room's creation was logged: a room without a frontier lost it. */
	else if (!present)
		return dcr_err_set(err, DCR_EINTEGRITY, "room %s: its audit frontier is gone (state.db was altered)", id);
	if (dcr_ct_equal(sf.record_digest, unbound, 32))
		return 0;
	if ((r = dcr_sha256(blob, (size_t)(len > 0 ? len : 0), digest, err)) < 0)
		return r;
	if (!dcr_ct_equal(digest, sf.record_digest, 32))
		return dcr_err_set(err, DCR_EINTEGRITY, "room %s: its record is not the one its audit log last recorded "
						  "(restored from an older copy of the data directory?)", id);
	return 0;
}

#define PUBLICATION "publication"

/*
 * SHA-256 over a room's publication records as stored: for each, by name,
 * the name, a zero byte and the SHA-256 of its sealed blob.
 */
static int publications_digest(struct state *s, const char *room_id, uint8_t out[static 32], struct dcr_err *err)
{
	struct dcr_sha256 *h = dcr_sha256_new();
	sqlite3_stmt *st = NULL;
	uint8_t digest[32];
	int r = 0, rc;

	if (!h)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(s->db, "SELECT name, record FROM records WHERE kind = '" PUBLICATION "' AND scope = ?1 "
				      "ORDER BY name", -1, &st, NULL) != SQLITE_OK) {
		dcr_sha256_free(h);
		return sql_fail(s, DCR_EIO, "cannot read records", err);
	}
	sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		if ((r = dcr_sha256(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), digest, err)) == 0 &&
		    (r = dcr_sha256_update(h, name ? name : "", name ? strlen(name) + 1 : 1, err)) == 0)
			r = dcr_sha256_update(h, digest, sizeof(digest), err);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot read records", err);
	sqlite3_finalize(st);
	if (r == 0)
		r = dcr_sha256_final(h, out, err);
	dcr_sha256_free(h);
	return r;
}

/* A room's publications must be the ones its log last recorded (if the log says). */
static int check_publications(struct state *s, const char *room_id, struct dcr_err *err)
{
	struct sealed_frontier sf;
	uint8_t digest[32];
	int r;

	/* Checked before this transaction wrote the first of them. */
	if (strcmp(s->pending_pubs, room_id) == 0)
		return 0;
	if ((r = read_frontier(s, room_id, &sf, NULL, err)) < 0)
		return r;
	if (dcr_ct_equal(sf.pubs_digest, unbound, 32))
		return 0;
	if ((r = publications_digest(s, room_id, digest, err)) < 0)
		return r;
	if (!dcr_ct_equal(digest, sf.pubs_digest, 32))
		return dcr_err_set(err, DCR_EINTEGRITY, "room %s: its published data is not the one its audit log last "
						  "recorded (a publication record restored from an older copy of the data "
						  "directory?)", room_id);
	return 0;
}

static int unseal_record(struct state *s, const char *id, const void *blob, int len, Dcr__V1__RoomRecord **rec,
	struct dcr_err *err)
{
	uint8_t *pt = NULL;
	size_t n = 0;
	char label[128];
	int r;

	label_for(label, sizeof(label), ROOM_LABEL, id, -1);
	r = dcr_unseal(s->key, label, blob, (size_t)(len > 0 ? len : 0), &pt, &n, err);

	if (r < 0)
		return r;
	*rec = dcr__v1__room_record__unpack(NULL, n, pt);
	dcr_wipe(pt, n);
	free(pt);
	if (!*rec)
		return dcr_err_set(err, DCR_EINTEGRITY, "a sealed room record is malformed");
	return 0;
}

/*
 * The statements every call or job runs, prepared once per connection like
 * the audit log's: preparing them on every use was 5 % of dcrd's CPU per
 * job (docs/performance.md). stmt_done() resets one after its use.
 */
enum call_stmt { ROOM_GET, CLOCK_PUT, NONCE_EXPIRE, NONCE_PUT, RECORD_PUT, RECORD_GET, RECORD_DELETE, RECORD_SEQ };
static const char *const call_sql[] = {
	[ROOM_GET] = "SELECT record FROM rooms WHERE id = ?1",
	[CLOCK_PUT] = "INSERT OR REPLACE INTO clock (id, mark) VALUES (1, ?1)",
	[NONCE_EXPIRE] = "DELETE FROM nonces WHERE expires_ms < ?1",
	[NONCE_PUT] = "INSERT INTO nonces (nonce, expires_ms) VALUES (?1, ?2)",
	[RECORD_PUT] = "INSERT OR REPLACE INTO records (kind, scope, name, seq, record) VALUES (?1, ?2, ?3, ?4, ?5)",
	[RECORD_GET] = "SELECT record FROM records WHERE kind = ?1 AND scope = ?2 AND name = ?3",
	[RECORD_DELETE] = "DELETE FROM records WHERE kind = ?1 AND scope = ?2 AND name = ?3",
	[RECORD_SEQ] = "SELECT MAX(seq) FROM records WHERE kind = ?1 AND scope = ?2",
};
_Static_assert(sizeof(call_sql) / sizeof(*call_sql) == sizeof(((struct state *)0)->call_st) /
	sizeof(*((struct state *)0)->call_st), "one cached statement per call query");

/* The statement kept in *slot, prepared if need be; NULL (sqlite3_errcode tells why) if it cannot be. */
static sqlite3_stmt *kept_stmt(struct state *s, sqlite3_stmt **slot, const char *sql)
{
	if (!*slot && sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK)
		return NULL;
	return *slot;
}

/* A kept statement, ready for its next use. */
static void stmt_done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

static sqlite3_stmt *call_stmt(struct state *s, enum call_stmt which)
{
	return kept_stmt(s, &s->call_st[which], call_sql[which]);
}

int state_get_room(struct state *s, const char *id, Dcr__V1__RoomRecord **rec, struct dcr_err *err)
{
	sqlite3_stmt *st;
	int r, rc;

	*rec = NULL;
	if (!(st = call_stmt(s, ROOM_GET)))
		return sql_fail(s, DCR_EIO, "cannot read rooms", err);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st, 0);
		int len = sqlite3_column_bytes(st, 0);

		if ((r = check_bound(s, id, blob, len, err)) == 0)
			r = unseal_record(s, id, blob, len, rec, err);
	} else if (rc == SQLITE_DONE)
		r = dcr_err_set(err, DCR_ENOTFOUND, "no room %s", id);
	else
		r = sql_fail(s, DCR_EIO, "cannot read rooms", err);
	stmt_done(st);
	return r;
}

/* The sealed clock mark row: the mark and the latest call timestamp, 8 bytes each, big-endian milliseconds. */
static int write_clock_mark(struct state *s, int64_t mark, int64_t last_call_ms, struct dcr_err *err)
{
	uint8_t be[16], *blob = NULL;
	size_t len = 0;
	sqlite3_stmt *st = NULL;
	int r, rc;

	for (int i = 0; i < 8; i++) {
		be[i] = (uint8_t)((uint64_t)mark >> (56 - 8 * i));
		be[8 + i] = (uint8_t)((uint64_t)last_call_ms >> (56 - 8 * i));
	}
	if ((r = dcr_seal(s->key, CLOCK_LABEL, be, sizeof(be), &blob, &len, err)) < 0)
		return r;
	rc = (st = call_stmt(s, CLOCK_PUT)) ? SQLITE_OK : SQLITE_ERROR;
	if (rc == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, blob, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	stmt_done(st);
	free(blob);
	return rc == SQLITE_DONE ? 0 : sql_fail(s, DCR_EIO, "cannot record the call", err);
}

int state_use_nonce(struct state *s, const uint8_t nonce[static DCR_CALL_NONCE_LEN], int64_t now_ms,
	int64_t timestamp_ms, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t mark, last;
	int r = 0, rc;

	/* The nonce and the mark in one transaction: one synchronous write per call, as before. */
	if ((r = state_begin(s, err)) < 0)
		return r;
	/* Forget nonces whose calls can no longer pass as fresh, now and then. */
	if (nonce[0] == 0 && (st = call_stmt(s, NONCE_EXPIRE))) {
		sqlite3_bind_int64(st, 1, now_ms);
		sqlite3_step(st);
		stmt_done(st);
		st = NULL;
	}
	if (!(st = call_stmt(s, NONCE_PUT))) {
		r = sql_fail(s, DCR_EIO, "cannot record the call", err);
	} else {
		sqlite3_bind_blob(st, 1, nonce, DCR_CALL_NONCE_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms + DCR_CALL_NONCE_KEEP_MS);
		rc = sqlite3_step(st);
		if (rc == SQLITE_CONSTRAINT)
			r = dcr_err_set(err, DCR_EINTEGRITY, "replayed call: this nonce was used before");
		else if (rc != SQLITE_DONE)
			r = sql_fail(s, DCR_EIO, "cannot record the call", err);
	}
	stmt_done(st);
	mark = now_ms > s->clock_mark ? now_ms : s->clock_mark;
	last = timestamp_ms > s->last_call_ms ? timestamp_ms : s->last_call_ms;
	if (r == 0 && (mark != s->clock_mark || last != s->last_call_ms))
		r = write_clock_mark(s, mark, last, err);
	if (r == 0 && (r = state_commit(s, err)) == 0) {
		s->clock_mark = mark;
		s->last_call_ms = last;
	}
	if (r < 0)
		state_rollback(s);
	return r;
}

static int unseal_frontier(struct state *s, const char *room_id, const void *blob, int len, struct sealed_frontier *sf,
	struct dcr_err *err);

/* The mark row's mark and latest call timestamp; DCR_EINTEGRITY if it does not unseal. */
static int unseal_mark(struct state *s, const void *blob, int blob_len, int64_t *mark, int64_t *last,
	struct dcr_err *err)
{
	uint8_t *pt = NULL;
	int64_t v[2] = { 0, 0 };
	size_t n = 0;
	int r;

	*mark = *last = 0;
	if ((r = dcr_unseal(s->key, CLOCK_LABEL, blob, (size_t)(blob_len > 0 ? blob_len : 0), &pt, &n, err)) < 0)
		return r;
	if (n == 8 || n == 16) {
		for (size_t i = 0; i < n; i++)
			v[i / 8] = (int64_t)(((uint64_t)v[i / 8] << 8) | pt[i]);
		if (n == 8) {
			mark_from_call(v[0], mark, last);
		} else {
			*mark = v[0];
			*last = v[1];
		}
	} else {
		r = dcr_err_set(err, DCR_EINTEGRITY, "the sealed clock mark is damaged");
	}
	dcr_wipe(pt, n);
	free(pt);
	return r;
}

int state_clock_mark(struct state *s, int64_t *mark, int64_t *last_call_ms, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t m, l;
	int r = 0, rc;

	*mark = *last_call_ms = 0;
	/* The mark row, and every room's frontier: restoring an older row alone does not lower the mark. */
	if (sqlite3_prepare_v2(s->db, "SELECT 1, mark, '' FROM clock UNION ALL SELECT 0, frontier, room_id FROM "
				      "audit_frontier", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot read the clock mark", err);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st, 1);
		int len = sqlite3_column_bytes(st, 1);

		if (sqlite3_column_int(st, 0) == 0) {
			struct sealed_frontier sf;

			/* A damaged frontier is its room's to report, at its next call. */
			if (unseal_frontier(s, (const char *)sqlite3_column_text(st, 2), blob, len, &sf, NULL) < 0)
				continue;
			m = sf.clock_mark;
			l = sf.last_call_ms;
		} else if ((r = unseal_mark(s, blob, len, &m, &l, err)) < 0) {
			break;
		}
		if (m > *mark)
			*mark = m;
		if (l > *last_call_ms)
			*last_call_ms = l;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot read the clock mark", err);
	sqlite3_finalize(st);
	if (r == 0) {
		s->clock_mark = *mark;
		s->last_call_ms = *last_call_ms;
	}
	return r;
}

int state_on_end(struct state *s, void (*fn)(void *arg, bool committed), void *arg, struct dcr_err *err)
{
	if (s->n_hooks >= STATE_HOOKS_MAX)
		return dcr_err_set(err, DCR_EFAIL, "a transaction carries at most %d in-memory changes", STATE_HOOKS_MAX);
	s->hooks[s->n_hooks++] = (struct state_hook){ fn, arg };
	return 0;
}

int state_begin(struct state *s, struct dcr_err *err)
{
	end_hooks(s, false); /* none are left over, but none may leak into this one */
	s->pending_room[0] = s->pending_pubs[0] = '\0';
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot begin a transaction", err);
	return 0;
}

int state_commit(struct state *s, struct dcr_err *err)
{
	s->pending_pubs[0] = '\0';
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int r = sql_fail(s, DCR_EIO, "cannot commit", err);

		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		end_hooks(s, false);
		return r;
	}
	end_hooks(s, true);
	if (atomic_exchange(&s->full, false))
		fprintf(stderr, "dcrd: the state database writes again\n");
	return 0;
}

void state_rollback(struct state *s)
{
	s->pending_room[0] = s->pending_pubs[0] = '\0';
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	end_hooks(s, false);
}

/*
 * The audit log's statements: every room-scoped call runs some, so they
 * are prepared once. A statement is reset once its rows are read
 * (stmt_done), which also ends its read of the database.
 */
enum audit_stmt { FRONTIER_GET, FRONTIER_PUT, LEAF_GET, LEAF_PUT, NODE_GET, NODE_PUT };
static const char *const audit_sql[] = {
	[FRONTIER_GET] = "SELECT frontier FROM audit_frontier WHERE room_id = ?1",
	[FRONTIER_PUT] = "INSERT OR REPLACE INTO audit_frontier (room_id, frontier) VALUES (?1, ?2)",
	[LEAF_GET] = "SELECT leaf FROM audit WHERE room_id = ?1 AND idx = ?2",
	[LEAF_PUT] = "INSERT INTO audit (room_id, idx, leaf, entry) VALUES (?1, ?2, ?3, ?4)",
	[NODE_GET] = "SELECT hash FROM audit_node WHERE room_id = ?1 AND level = ?2 AND idx = ?3",
	/* A row left where a leaf now completes a subtree is not this log's (its room was deleted): replaced. */
	[NODE_PUT] = "INSERT OR REPLACE INTO audit_node (room_id, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
};
_Static_assert(sizeof(audit_sql) / sizeof(*audit_sql) == sizeof(((struct state *)0)->audit_st) /
	sizeof(*((struct state *)0)->audit_st), "one cached statement per audit query");

static sqlite3_stmt *audit_stmt(struct state *s, enum audit_stmt which)
{
	return kept_stmt(s, &s->audit_st[which], audit_sql[which]);
}

/* Unseal room_id's frontier from its row. */
static int unseal_frontier(struct state *s, const char *room_id, const void *blob, int len, struct sealed_frontier *sf,
	struct dcr_err *err)
{
	uint8_t *pt = NULL;
	size_t n = 0;
	char label[128];
	int r;

	memset(sf, 0, sizeof(*sf));
	dcr_merkle_frontier_init(&sf->f);
	/* Sealed: the host must not choose the root the enclave signs. */
	label_for(label, sizeof(label), "audit-frontier", room_id, -1);
	r = dcr_unseal(s->key, label, blob, (size_t)(len > 0 ? len : 0), &pt, &n, err);
	/* A frontier from before records (or publications and clock marks) were bound is shorter. */
	if (r == 0 && n != sizeof(*sf) && n != offsetof(struct sealed_frontier, last_call_ms) &&
	    n != offsetof(struct sealed_frontier, pubs_digest) && n != sizeof(sf->f))
		r = dcr_err_set(err, DCR_EINTEGRITY, "room %s: the audit frontier is damaged", room_id);
	if (r == 0)
		memcpy(sf, pt, n);
	if (r == 0 && n == offsetof(struct sealed_frontier, last_call_ms))
		mark_from_call(sf->clock_mark, &sf->clock_mark, &sf->last_call_ms);
	free(pt);
	return r;
}

/* room_id's frontier; an empty one, and *present false (if asked), when it has none yet. */
static int read_frontier(struct state *s, const char *room_id, struct sealed_frontier *sf, bool *present,
	struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	memset(sf, 0, sizeof(*sf));
	dcr_merkle_frontier_init(&sf->f);
	if (present)
		*present = false;
	if (!(st = audit_stmt(s, FRONTIER_GET)))
		return sql_fail(s, DCR_EIO, "cannot read the audit log", err);
	sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r = unseal_frontier(s, room_id, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), sf, err);
		if (present)
			*present = true;
	} else if (rc != SQLITE_DONE) {
		r = sql_fail(s, DCR_EIO, "cannot read the audit log", err);
	}
	stmt_done(st);
	return r;
}

int state_audit_frontier(struct state *s, const char *room_id, struct dcr_merkle_frontier *f, struct dcr_err *err)
{
	struct sealed_frontier sf;
	int r = read_frontier(s, room_id, &sf, NULL, err);

	*f = sf.f;
	return r;
}

/* "audit-node:ROOM:LEVEL:IDX": a node's seal is bound to its room and place. */
static void node_label(char *buf, size_t size, const char *room_id, unsigned level, uint64_t idx)
{
	snprintf(buf, size, "audit-node:%s:%u:%llu", room_id, level, (unsigned long long)idx);
}

/* Seal and store the root of the perfect subtree of 2^level leaves at idx. */
static int put_node(struct state *s, const char *room_id, unsigned level, uint64_t idx,
	const uint8_t hash[static 32], struct dcr_err *err)
{
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	sqlite3_stmt *st;
	char label[128];
	int r, rc;

	node_label(label, sizeof(label), room_id, level, idx);
	if ((r = dcr_seal(s->key, label, hash, 32, &blob, &blob_len, err)) < 0)
		return r;
	if (!(st = audit_stmt(s, NODE_PUT))) {
		free(blob);
		return sql_fail(s, DCR_EIO, "cannot append to the audit log", err);
	}
	sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)level);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)idx);
	sqlite3_bind_blob(st, 4, blob, (int)blob_len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	r = rc == SQLITE_DONE ? 0 : sql_fail(s, DCR_EIO, "cannot append to the audit log", err);
	stmt_done(st);
	free(blob);
	return r;
}

/* Append a leaf to f and store the subtrees it completes. */
static int push_leaf(struct state *s, const char *room_id, struct dcr_merkle_frontier *f,
	const uint8_t leaf[static 32], struct dcr_err *err)
{
	uint8_t nodes[DCR_MERKLE_PROOF_MAX][32];
	unsigned n_nodes = 0;
	int r;

	if ((r = dcr_merkle_frontier_append_nodes(f, leaf, nodes, &n_nodes, err)) < 0)
		return r;
	for (unsigned i = 0; i < n_nodes; i++)
		if ((r = put_node(s, room_id, i + 1, (f->size >> (i + 1)) - 1, nodes[i], err)) < 0)
			return r;
	return 0;
}

int state_audit_append(struct state *s, const char *room_id, const uint8_t *entry, size_t len,
	struct dcr_merkle_frontier *f, struct dcr_err *err)
{
	uint8_t leaf[32], *blob = NULL, *fblob = NULL;
	size_t blob_len = 0, fblob_len = 0;
	struct sealed_frontier sf;
	sqlite3_stmt *st;
	char label[128];
	int r, rc = SQLITE_ERROR;

	if ((r = read_frontier(s, room_id, &sf, NULL, err)) < 0 || (r = dcr_merkle_leaf_hash(entry, len, leaf, err)) < 0)
		return r;
	*f = sf.f;
	/* Bound to its room and place: entries cannot be moved, dropped from the middle or reordered. */
	label_for(label, sizeof(label), "audit-entry", room_id, (int64_t)f->size);
	if ((r = dcr_seal(s->key, label, entry, len, &blob, &blob_len, err)) < 0)
		return r;
	if ((st = audit_stmt(s, LEAF_PUT))) {
		sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)f->size);
		sqlite3_bind_blob(st, 3, leaf, sizeof(leaf), SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, blob, (int)blob_len, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	/* An entry where the frontier ends: the frontier was put back from an older copy (or dropped). */
	if (rc == SQLITE_CONSTRAINT)
		r = dcr_err_set(err, DCR_EINTEGRITY, "room %s: the audit frontier is older than the log (state.db was "
						     "altered)", room_id);
	else if (rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot append to the audit log", err);
	stmt_done(st);
	free(blob);
	if (r < 0 || (r = push_leaf(s, room_id, f, leaf, err)) < 0)
		return r;
	sf.f = *f;
	/* The entry logging a record's write binds that record. */
	if (strcmp(s->pending_room, room_id) == 0) {
		memcpy(sf.record_digest, s->pending_digest, 32);
		s->pending_room[0] = '\0';
	}
	/* And the room's publications: when written now, or not bound yet (as a dcrd before this left them). */
	if (strcmp(s->pending_pubs, room_id) == 0 || dcr_ct_equal(sf.pubs_digest, unbound, 32)) {
		if ((r = publications_digest(s, room_id, sf.pubs_digest, err)) < 0)
			return r;
		if (strcmp(s->pending_pubs, room_id) == 0)
			s->pending_pubs[0] = '\0';
	}
	/* Rolling the log back is what clients detect: the mark cannot go back without it. */
	sf.clock_mark = s->clock_mark;
	sf.last_call_ms = s->last_call_ms;
	label_for(label, sizeof(label), "audit-frontier", room_id, -1);
	if ((r = dcr_seal(s->key, label, (const uint8_t *)&sf, sizeof(sf), &fblob, &fblob_len, err)) < 0)
		return r;
	rc = SQLITE_ERROR;
	if ((st = audit_stmt(s, FRONTIER_PUT))) {
		sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, fblob, (int)fblob_len, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	r = rc == SQLITE_DONE ? 0 : sql_fail(s, DCR_EIO, "cannot append to the audit log", err);
	stmt_done(st);
	free(fblob);
	return r;
}

/*
 * The hash of leaf idx from its row's leaf column: in the clear, or sealed
 * for an entry from before salts (seal_legacy_leaves). DCR_EINTEGRITY if
 * it is neither.
 */
static int leaf_of_row(struct state *s, const char *room_id, uint64_t idx, sqlite3_stmt *st, int col,
	uint8_t out[static 32])
{
	char label[128];
	uint8_t *pt = NULL;
	size_t n = 0;
	int r = DCR_EINTEGRITY;

	if (sqlite3_column_bytes(st, col) == 32) {
		memcpy(out, sqlite3_column_blob(st, col), 32);
		return 0;
	}
	if (sqlite3_column_type(st, col) != SQLITE_BLOB)
		return DCR_EINTEGRITY;
	label_for(label, sizeof(label), "audit-leaf", room_id, (int64_t)idx);
	if (dcr_unseal(s->key, label, sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col), &pt, &n,
		    NULL) == 0 && n == 32) {
		memcpy(out, pt, 32);
		r = 0;
	}
	free(pt);
	return r;
}

struct node_ctx {
	struct state *s;
	const char *room_id;
};

/*
 * A leaf (level 0) or the sealed root of a perfect subtree. Below the
 * frontier's size every one is there: a missing or damaged row is
 * DCR_EINTEGRITY.
 */
static int read_node(void *ctx, unsigned level, uint64_t index, uint8_t out[static 32])
{
	struct node_ctx *l = ctx;
	sqlite3_stmt *st = audit_stmt(l->s, level == 0 ? LEAF_GET : NODE_GET);
	int r, rc;

	if (!st)
		return sql_code(l->s->db);
	sqlite3_bind_text(st, 1, l->room_id, -1, SQLITE_STATIC);
	if (level == 0) {
		sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
	} else {
		sqlite3_bind_int(st, 2, (int)level);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)index);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && level == 0) {
		r = leaf_of_row(l->s, l->room_id, index, st, 0, out);
	} else if (rc == SQLITE_ROW) {
		char label[128];
		uint8_t *pt = NULL;
		size_t n = 0;

		node_label(label, sizeof(label), l->room_id, level, index);
		r = dcr_unseal(l->s->key, label, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &pt,
			    &n, NULL) == 0 && n == 32 ? 0 : DCR_EINTEGRITY;
		if (r == 0)
			memcpy(out, pt, 32);
		free(pt);
	} else if (rc == SQLITE_DONE) {
		r = DCR_EINTEGRITY;
	} else {
		r = sql_code(l->s->db);
	}
	stmt_done(st);
	return r;
}

int state_audit_consistency(struct state *s, const char *room_id, uint64_t old_size, uint64_t new_size,
	struct dcr_merkle_proof *proof, struct dcr_err *err)
{
	struct node_ctx l = { s, room_id };
	struct dcr_merkle_frontier f;
	uint8_t old_root[32], new_root[32];
	int r;

	/*
	 * Checked before it leaves: leaves are stored in the clear, and a proof
	 * that does not lead from the stored old tree to the sealed root is
	 * the host's doing, which dcr would only call a fork.
	 */
	if ((r = dcr_merkle_consistency_proof_nodes(old_size, new_size, read_node, &l, proof, err)) == 0 &&
	    (r = state_audit_frontier(s, room_id, &f, err)) == 0 && (r = dcr_merkle_frontier_root(&f, new_root, err)) == 0 &&
	    (r = dcr_merkle_root_nodes(old_size, read_node, &l, old_root, err)) == 0 && f.size == new_size &&
	    dcr_merkle_consistency_verify(old_size, new_size, old_root, new_root, proof, NULL) < 0)
		r = dcr_err_set(err, DCR_EINTEGRITY, "they do not lead to the sealed root");
	if (r < 0)
		proof->len = 0;
	if (r == DCR_EINTEGRITY) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		return dcr_err_set(err, r, "room %s: the audit log's stored leaves or subtrees are missing or damaged (%s; "
					   "state.db was altered)", room_id, why);
	}
	return r;
}

int state_audit_entries_range(struct state *s, const char *room_id, uint64_t from, uint64_t to,
	ProtobufCBinaryData *items, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	uint64_t n = from;
	int r = 0, rc;

	if (from >= to)
		return 0;
	if (sqlite3_prepare_v2(s->db, "SELECT entry, idx FROM audit WHERE room_id = ?1 AND idx >= ?2 AND idx < ?3 "
				      "ORDER BY idx", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot read the audit log", err);
	sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)to);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW && n < to) {
		char label[128];

		if (sqlite3_column_int64(st, 1) != (sqlite3_int64)n) {
			r = dcr_err_set(err, DCR_EINTEGRITY, "room %s: audit entry %llu is missing", room_id,
				(unsigned long long)n);
			break;
		}
		label_for(label, sizeof(label), "audit-entry", room_id, (int64_t)n);
		r = dcr_unseal(s->key, label, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
			&items[n - from].data, &items[n - from].len, err);
		if (r == 0)
			n++;
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot read the audit log", err);
	sqlite3_finalize(st);
	if (r == 0 && n != to)
		r = dcr_err_set(err, DCR_EINTEGRITY, "room %s: the audit log has %llu entries, its frontier %llu", room_id,
			(unsigned long long)n, (unsigned long long)to);
	if (r < 0) {
		for (uint64_t i = from; i < n; i++) {
			free(items[i - from].data);
			items[i - from] = (ProtobufCBinaryData){ 0, NULL };
		}
	}
	return r;
}

void state_audit_entries_free(ProtobufCBinaryData *items, uint64_t n)
{
	for (uint64_t i = 0; items && i < n; i++)
		free(items[i].data);
	free(items);
}

/* Whether the sealed entry of room_id at idx has a salt; < 0 if it does not unseal or decode. */
static int entry_salted(struct state *s, const char *room_id, int64_t idx, const void *blob, int len,
	struct dcr_err *err)
{
	Dcr__V1__AuditEntry *e;
	uint8_t *pt = NULL;
	size_t n = 0;
	char label[128];
	int r;

	label_for(label, sizeof(label), "audit-entry", room_id, idx);
	if ((r = dcr_unseal(s->key, label, blob, (size_t)(len > 0 ? len : 0), &pt, &n, err)) < 0)
		return r;
	e = dcr__v1__audit_entry__unpack(NULL, n, pt);
	free(pt);
	if (!e)
		return dcr_err_set(err, DCR_EINTEGRITY, "room %s: audit entry %lld is malformed", room_id, (long long)idx);
	r = e->salt.len > 0;
	dcr__v1__audit_entry__free_unpacked(e, NULL);
	return r;
}

/* The rooms that have an audit log, into *rooms (n of them; free it, also after a failure). */
static int audit_rooms(struct state *s, char (**rooms)[65], size_t *n, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc = SQLITE_DONE;

	*rooms = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT room_id FROM audit_frontier", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot read the audit log", err);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char (*grown)[65] = realloc(*rooms, (*n + 1) * sizeof(**rooms));

		if (!grown) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
			break;
		}
		*rooms = grown;
		snprintf((*rooms)[(*n)++], 65, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot read the audit log", err);
	sqlite3_finalize(st);
	return r;
}

/*
 * A leaf in the clear hashes only its entry, and an entry without a salt
 * (written before salts) can be guessed: its leaf would confirm the guess.
 * Seal such leaves, room by room from the oldest entry up to the first
 * salted one (every later entry is salted), so that after the first start
 * each room costs one entry to check.
 */
static int seal_legacy_leaves(struct state *s, bool *changed, struct dcr_err *err)
{
	struct sealed_leaf {
		int64_t idx;
		uint8_t *blob;
		size_t len;
	} *items = NULL;
	char (*rooms)[65] = NULL;
	sqlite3_stmt *st = NULL;
	size_t n_rooms = 0, n = 0, cap = 0;
	/* The rooms first: the updates below are not made under a pending read of the same tables. */
	int r = audit_rooms(s, &rooms, &n_rooms, err);

	for (size_t k = 0; r == 0 && k < n_rooms; k++) {
		n = 0;
		if (sqlite3_prepare_v2(s->db, "SELECT idx, entry, leaf FROM audit WHERE room_id = ?1 AND length(leaf) = 32 "
					      "ORDER BY idx", -1, &st, NULL) != SQLITE_OK) {
			r = sql_fail(s, DCR_EIO, "cannot read the audit log", err);
			break;
		}
		sqlite3_bind_text(st, 1, rooms[k], -1, SQLITE_STATIC);
		while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
			int64_t idx = sqlite3_column_int64(st, 0);
			char label[128];

			/* Up to the first salted entry; a damaged one is for the room's next call to report. */
			if ((r = entry_salted(s, rooms[k], idx, sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1),
				     err)) != 0)
				break;
			if (n == cap) {
				struct sealed_leaf *grown = realloc(items, (cap ? 2 * cap : 64) * sizeof(*items));

				if (!grown) {
					r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
					break;
				}
				items = grown;
				cap = cap ? 2 * cap : 64;
			}
			label_for(label, sizeof(label), "audit-leaf", rooms[k], idx);
			items[n].idx = idx;
			if ((r = dcr_seal(s->key, label, sqlite3_column_blob(st, 2), 32, &items[n].blob, &items[n].len,
				     err)) == 0)
				n++;
		}
		sqlite3_finalize(st);
		if (r > 0 || r == DCR_EINTEGRITY)
			r = 0;
		if (r == 0 && n && (r = state_begin(s, err)) == 0) {
			for (size_t i = 0; r == 0 && i < n; i++) {
				if (sqlite3_prepare_v2(s->db, "UPDATE audit SET leaf = ?3 WHERE room_id = ?1 AND idx = ?2", -1,
					    &st, NULL) != SQLITE_OK) {
					r = sql_fail(s, DCR_EIO, "cannot seal the audit log's leaves", err);
					break;
				}
				sqlite3_bind_text(st, 1, rooms[k], -1, SQLITE_STATIC);
				sqlite3_bind_int64(st, 2, items[i].idx);
				sqlite3_bind_blob(st, 3, items[i].blob, (int)items[i].len, SQLITE_STATIC);
				if (sqlite3_step(st) != SQLITE_DONE)
					r = sql_fail(s, DCR_EIO, "cannot seal the audit log's leaves", err);
				sqlite3_finalize(st);
			}
			if (r == 0)
				r = state_commit(s, err);
			else
				state_rollback(s);
			if (r == 0)
				*changed = true;
		}
		for (size_t i = 0; i < n; i++)
			free(items[i].blob);
	}
	free(rooms);
	free(items);
	return r;
}

/*
 * Whether the log of f's size has every subtree root it should: those of
 * the frontier (one per set bit of the size above bit 0). Any other was
 * completed before the frontier's and is there if they are (the log only
 * grows); a dcrd before audit_node, or one run on the same state in
 * between, left them out.
 */
static int nodes_present(struct state *s, const char *room_id, uint64_t size, bool *present, struct dcr_err *err)
{
	sqlite3_stmt *st = audit_stmt(s, NODE_GET);
	int r = 0, rc;

	*present = true;
	if (!st)
		return sql_fail(s, DCR_EIO, "cannot read the audit log", err);
	for (unsigned b = 1; b < 64 && r == 0 && *present; b++) {
		if (!(size >> b & 1))
			continue;
		sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)b);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)((size >> b) - 1));
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			*present = false;
		else if (rc != SQLITE_ROW)
			r = sql_fail(s, DCR_EIO, "cannot read the audit log", err);
		stmt_done(st);
	}
	return r;
}

/*
 * Rebuild room_id's subtree roots from its leaves, in one transaction, and
 * keep them only if they lead to the root of its sealed frontier. A log
 * whose leaves do not (a leaf missing or altered) is left as it is: its
 * room's next call that needs a proof reports it.
 */
static int rebuild_nodes(struct state *s, const char *room_id, const struct dcr_merkle_frontier *want,
	struct dcr_err *err)
{
	struct dcr_merkle_frontier f;
	uint8_t leaf[32], root[32], want_root[32];
	sqlite3_stmt *st = NULL;
	int r, rc = SQLITE_DONE;
	bool ok = true;

	dcr_merkle_frontier_init(&f);
	if ((r = state_begin(s, err)) < 0)
		return r;
	if (sqlite3_prepare_v2(s->db, "SELECT idx, leaf FROM audit WHERE room_id = ?1 AND idx < ?2 ORDER BY idx", -1,
		    &st, NULL) != SQLITE_OK) {
		state_rollback(s);
		return sql_fail(s, DCR_EIO, "cannot read the audit log", err);
	}
	sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)want->size);
	while (r == 0 && ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t idx = (uint64_t)sqlite3_column_int64(st, 0);

		if (idx != f.size || leaf_of_row(s, room_id, idx, st, 1, leaf) < 0)
			ok = false;
		else
			r = push_leaf(s, room_id, &f, leaf, err);
	}
	if (r == 0 && ok && rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot read the audit log", err);
	sqlite3_finalize(st);
	if (r == 0 && ok && f.size == want->size && (r = dcr_merkle_frontier_root(&f, root, err)) == 0 &&
	    (r = dcr_merkle_frontier_root(want, want_root, err)) == 0 && dcr_ct_equal(root, want_root, 32))
		return state_commit(s, err);
	state_rollback(s);
	return r;
}

/* Give every room's log the subtree roots a dcrd before audit_node did not keep (state_open). */
static int build_audit_nodes(struct state *s, struct dcr_err *err)
{
	char (*rooms)[65] = NULL;
	size_t n_rooms = 0;
	/* The rooms first: rebuilding writes while this would still be reading. */
	int r = audit_rooms(s, &rooms, &n_rooms, err);

	for (size_t k = 0; r == 0 && k < n_rooms; k++) {
		struct sealed_frontier sf;
		bool present;

		/* A frontier that does not open is its room's to report, at its next call. */
		if (read_frontier(s, rooms[k], &sf, NULL, NULL) < 0)
			continue;
		if ((r = nodes_present(s, rooms[k], sf.f.size, &present, err)) == 0 && !present)
			r = rebuild_nodes(s, rooms[k], &sf.f, err);
	}
	free(rooms);
	return r;
}

int state_count_rooms(struct state *s, uint64_t *n, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM rooms", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		r = sql_fail(s, DCR_EIO, "cannot count rooms", err);
	else
		*n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return r;
}

int state_each_room(struct state *s, int (*fn)(void *ctx, const char *id, const Dcr__V1__RoomRecord *rec),
	void *ctx, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	if (sqlite3_prepare_v2(s->db, "SELECT id, record FROM rooms ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot read rooms", err);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		Dcr__V1__RoomRecord *rec;

		if ((r = check_bound(s, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
			     sqlite3_column_bytes(st, 1), err)) < 0 ||
		    (r = unseal_record(s, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
			     sqlite3_column_bytes(st, 1), &rec, err)) < 0)
			break;
		r = fn(ctx, (const char *)sqlite3_column_text(st, 0), rec);
		dcr__v1__room_record__free_unpacked(rec, NULL);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot read rooms", err);
	sqlite3_finalize(st);
	return r;
}

int state_each_room_id(struct state *s, int (*fn)(void *ctx, const char *id), void *ctx, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	if (sqlite3_prepare_v2(s->db, "SELECT id FROM rooms ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot read rooms", err);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);

		r = fn(ctx, id ? id : "");
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot read rooms", err);
	sqlite3_finalize(st);
	return r;
}

int state_token_add(struct state *s, const uint8_t hash[static DCR_SHA256_LEN], const char *email, int64_t created_ms,
	int64_t expires_ms, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "INSERT INTO platform_tokens (hash, email, created_ms, expires_ms) "
				       "VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, hash, DCR_SHA256_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, email, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, created_ms);
		sqlite3_bind_int64(st, 4, expires_ms);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(s, DCR_EIO, "cannot store the token", err);
	return 0;
}

int state_token_get(struct state *s, const uint8_t hash[static DCR_SHA256_LEN], struct state_token *out,
	struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(s->db, "SELECT hash, email, expires_ms, used_ms FROM platform_tokens WHERE hash = ?1",
		    -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot read tokens", err);
	sqlite3_bind_blob(st, 1, hash, DCR_SHA256_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == DCR_SHA256_LEN &&
	    sqlite3_column_bytes(st, 1) <= DCR_EMAIL_MAX) {
		memcpy(out->hash, sqlite3_column_blob(st, 0), DCR_SHA256_LEN);
		snprintf(out->email, sizeof(out->email), "%s", (const char *)sqlite3_column_text(st, 1));
		out->expires_ms = sqlite3_column_int64(st, 2);
		out->used = sqlite3_column_type(st, 3) != SQLITE_NULL;
		out->used_ms = sqlite3_column_int64(st, 3);
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		r = dcr_err_set(err, DCR_ENOTFOUND, "no such token");
	} else {
		r = sql_fail(s, DCR_EIO, "cannot read tokens", err);
	}
	sqlite3_finalize(st);
	return r;
}

int state_token_use(struct state *s, const uint8_t hash[static DCR_SHA256_LEN], int64_t now_ms, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "UPDATE platform_tokens SET used_ms = ?2 WHERE hash = ?1 AND used_ms IS NULL", -1,
		&st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, hash, DCR_SHA256_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(s, DCR_EIO, "cannot use the token", err);
	if (sqlite3_changes(s->db) != 1)
		return dcr_err_set(err, DCR_EEXIST, "the token was used already");
	return 0;
}

/* ---- sealed records: datasets, publications, jobs ---- */

static void record_label(char *buf, size_t size, const char *kind, const char *scope, const char *name)
{
	snprintf(buf, size, "%s:%s:%s", kind, scope, name);
}

static int put_record(struct state *s, const char *kind, const char *scope, const char *name, int64_t seq,
	const ProtobufCMessage *msg, struct dcr_err *err)
{
	char label[256];
	size_t n = protobuf_c_message_get_packed_size(msg), len = 0;
	uint8_t *pt = malloc(n ? n : 1), *blob = NULL;
	sqlite3_stmt *st = NULL;
	int r, rc;

	if (!pt)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	protobuf_c_message_pack(msg, pt);
	record_label(label, sizeof(label), kind, scope, name);
	r = dcr_seal(s->key, label, pt, n, &blob, &len, err);
	dcr_wipe(pt, n);
	free(pt);
	if (r < 0)
		return r;
	rc = (st = call_stmt(s, RECORD_PUT)) ? SQLITE_OK : SQLITE_ERROR;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, seq);
		sqlite3_bind_blob(st, 5, blob, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot store a record", err);
	stmt_done(st);
	free(blob);
	if (rc != SQLITE_DONE)
		return r;
	return 0;
}

int state_put_record(struct state *s, const char *kind, const char *scope, const char *name, int64_t seq,
	const ProtobufCMessage *msg, struct dcr_err *err)
{
	bool pub = strcmp(kind, PUBLICATION) == 0;
	int r;

	if (pub && (r = check_publications(s, scope, err)) < 0)
		return r;
	if ((r = put_record(s, kind, scope, name, seq, msg, err)) < 0)
		return r;
	if (pub)
		snprintf(s->pending_pubs, sizeof(s->pending_pubs), "%s", scope);
	return 0;
}

static int unseal_message(struct state *s, const char *kind, const char *scope, const char *name, sqlite3_stmt *st,
	int col, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, struct dcr_err *err)
{
	char label[256];
	uint8_t *pt = NULL;
	size_t n = 0;
	int r, len = sqlite3_column_bytes(st, col);

	record_label(label, sizeof(label), kind, scope, name);
	if ((r = dcr_unseal(s->key, label, sqlite3_column_blob(st, col), (size_t)(len > 0 ? len : 0), &pt, &n, err)) < 0)
		return dcr_err_prefix(err, "%s %s", kind, name);
	*out = protobuf_c_message_unpack(d, NULL, n, pt);
	dcr_wipe(pt, n);
	free(pt);
	if (!*out)
		return dcr_err_set(err, DCR_EINTEGRITY, "%s %s: the sealed record is malformed", kind, name);
	return 0;
}

static int get_record(struct state *s, const char *kind, const char *scope, const char *name,
	const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	*out = NULL;
	if (!(st = call_stmt(s, RECORD_GET)))
		return sql_fail(s, DCR_EIO, "cannot read records", err);
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = unseal_message(s, kind, scope, name, st, 0, d, out, err);
	else if (rc == SQLITE_DONE)
		r = dcr_err_set(err, DCR_ENOTFOUND, "no %s %s", kind, name);
	else
		r = sql_fail(s, DCR_EIO, "cannot read records", err);
	stmt_done(st);
	return r;
}

int state_get_record(struct state *s, const char *kind, const char *scope, const char *name,
	const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, struct dcr_err *err)
{
	int r;

	*out = NULL;
	if (strcmp(kind, PUBLICATION) == 0 && (r = check_publications(s, scope, err)) < 0)
		return r;
	return get_record(s, kind, scope, name, d, out, err);
}

int state_delete_record(struct state *s, const char *kind, const char *scope, const char *name, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	rc = (st = call_stmt(s, RECORD_DELETE)) ? SQLITE_OK : SQLITE_ERROR;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	r = rc == SQLITE_DONE ? 0 : sql_fail(s, DCR_EIO, "cannot delete a record", err);
	stmt_done(st);
	return r;
}

static int each_record(struct state *s, const char *kind, const char *scope, const ProtobufCMessageDescriptor *d,
	int (*fn)(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg), void *ctx, bool check,
	struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	char checked[65] = "";
	int r = 0, rc;

	if (sqlite3_prepare_v2(s->db, scope ? "SELECT scope, name, record FROM records WHERE kind = ?1 AND scope = ?2 "
					      "ORDER BY scope, seq, name"
					    : "SELECT scope, name, record FROM records WHERE kind = ?1 ORDER BY scope, seq, name",
		    -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot read records", err);
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (scope)
		sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sc = (const char *)sqlite3_column_text(st, 0), *name = (const char *)sqlite3_column_text(st, 1);
		ProtobufCMessage *msg;

		/* Rows come by scope: each room's publications are checked once, before the first is used. */
		if (check && strcmp(checked, sc ? sc : "") != 0) {
			if ((r = check_publications(s, sc ? sc : "", err)) < 0)
				break;
			snprintf(checked, sizeof(checked), "%s", sc ? sc : "");
		}
		if ((r = unseal_message(s, kind, sc ? sc : "", name ? name : "", st, 2, d, &msg, err)) < 0)
			break;
		r = fn(ctx, sc, name, msg);
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot read records", err);
	sqlite3_finalize(st);
	return r;
}

int state_each_record(struct state *s, const char *kind, const char *scope, const ProtobufCMessageDescriptor *d,
	int (*fn)(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg), void *ctx,
	struct dcr_err *err)
{
	bool pub = strcmp(kind, PUBLICATION) == 0;
	int r;

	/* A room with no publication at all is checked too: one put back where there was none. */
	if (pub && scope && (r = check_publications(s, scope, err)) < 0)
		return r;
	return each_record(s, kind, scope, d, fn, ctx, pub && !scope, err);
}

int state_max_seq(struct state *s, const char *kind, const char *scope, int64_t *out, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	*out = 0;
	if (!(st = call_stmt(s, RECORD_SEQ)))
		return sql_fail(s, DCR_EIO, "cannot read records", err);
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) /* NULL, none yet: 0 */
		*out = sqlite3_column_int64(st, 0);
	r = rc == SQLITE_ROW ? 0 : sql_fail(s, DCR_EIO, "cannot read records", err);
	stmt_done(st);
	return r;
}

/* A publication record still stored under its node's name, and the private name it gets. */
struct rename {
	char *scope, *name, *private_name;
};

struct renames {
	struct rename *items;
	size_t n, cap;
	struct state *s;
	struct dcr_err *err;
	int failed;
};

static int find_clear_name(void *ctx, const char *scope, const char *name, ProtobufCMessage *msg)
{
	const Dcr__V1__PublicationRecord *pub = (const Dcr__V1__PublicationRecord *)msg;
	struct renames *l = ctx;
	char private_name[STATE_PRIVATE_NAME_LEN + 1];
	struct rename *grown;
	int r;

	if (!pub->info || !pub->info->node)
		return 0;
	if ((r = state_private_name(l->s, scope, pub->info->node, private_name, l->err)) < 0)
		return l->failed = r;
	if (strcmp(private_name, name) == 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;

		if (!(grown = realloc(l->items, cap * sizeof(*grown))))
			return l->failed = dcr_err_set(l->err, DCR_ENOMEM, "out of memory");
		l->items = grown;
		l->cap = cap;
	}
	grown = &l->items[l->n++];
	grown->scope = strdup(scope);
	grown->name = strdup(name);
	grown->private_name = strdup(private_name);
	if (!grown->scope || !grown->name || !grown->private_name)
		return l->failed = dcr_err_set(l->err, DCR_ENOMEM, "out of memory");
	return 0;
}

/* Free an unpacked publication record (NULL too), its dataset key wiped first. */
static void free_publication(ProtobufCMessage *msg)
{
	Dcr__V1__PublicationRecord *pub = (Dcr__V1__PublicationRecord *)msg;

	if (!pub)
		return;
	if (pub->key.data)
		dcr_wipe(pub->key.data, pub->key.len);
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* Delete the publication record of scope stored under name. */
static int delete_publication(struct state *s, const char *scope, const char *name, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "DELETE FROM records WHERE kind = '" PUBLICATION "' AND scope = ?1 AND name = ?2",
		-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(s, DCR_EIO, "cannot rename a record", err);
}

/* The rooms that have publication records but have not bound them to their log yet. */
static int unbound_rooms(struct state *s, char (**out)[65], size_t *n, struct dcr_err *err)
{
	struct sealed_frontier sf;
	sqlite3_stmt *st = NULL;
	char (*rooms)[65] = NULL;
	size_t count = 0;
	int r = 0, rc;

	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT p.scope, f.frontier FROM (SELECT DISTINCT scope FROM records WHERE kind "
				      "= '" PUBLICATION "') p LEFT JOIN audit_frontier f ON f.room_id = p.scope", -1,
		    &st, NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot read records", err);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *scope = (const char *)sqlite3_column_text(st, 0);
		char (*grown)[65];

		if (!scope || strlen(scope) != 64)
			continue;
		/*
		 * A frontier that does not open is its room's to report, at its
		 * next call (-9 there): the other rooms are served.
		 */
		if (sqlite3_column_type(st, 1) != SQLITE_NULL &&
		    (unseal_frontier(s, scope, sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1), &sf, NULL) < 0 ||
			    !dcr_ct_equal(sf.pubs_digest, unbound, 32)))
			continue;
		if (!(grown = realloc(rooms, (count + 1) * sizeof(*rooms)))) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
			break;
		}
		rooms = grown;
		memcpy(rooms[count++], scope, 65);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sql_fail(s, DCR_EIO, "cannot read records", err);
	sqlite3_finalize(st);
	if (r < 0) {
		free(rooms);
		return r;
	}
	*out = rooms;
	*n = count;
	return 0;
}

/*
 * Node names come from the room's sealed definition; a dcrd from before
 * state_private_name stored publications under them, in the clear. Reseal
 * each under its private name, in one transaction. Only in rooms whose log
 * has not bound their publications yet: once bound, every publication was
 * written by a dcrd that names them privately, and a row under a clear
 * name can only be one the host put back (reads of the room report it).
 * A clear-named row never replaces a privately named one: that is dropped.
 */
static int migrate_names(struct state *s, bool *changed, struct dcr_err *err)
{
	struct renames l = { .s = s, .err = err };
	char (*rooms)[65] = NULL;
	size_t n_rooms = 0;
	int r;

	r = unbound_rooms(s, &rooms, &n_rooms, err);
	for (size_t k = 0; r == 0 && k < n_rooms; k++) {
		r = each_record(s, PUBLICATION, rooms[k], &dcr__v1__publication_record__descriptor, find_clear_name, &l,
			false, err);
		if (l.failed)
			r = l.failed;
	}
	free(rooms);
	if (r == 0 && l.n && (r = state_begin(s, err)) == 0) {
		for (size_t i = 0; r == 0 && i < l.n; i++) {
			ProtobufCMessage *msg = NULL, *newer = NULL;

			r = get_record(s, PUBLICATION, l.items[i].scope, l.items[i].private_name,
				&dcr__v1__publication_record__descriptor, &newer, err);
			if (r == 0)
				fprintf(stderr, "dcrd: room %s: dropped a publication record stored under its node's name: "
						"the node has a newer one\n", l.items[i].scope);
			else if (r == DCR_ENOTFOUND && (r = get_record(s, PUBLICATION, l.items[i].scope, l.items[i].name,
								&dcr__v1__publication_record__descriptor, &msg, err)) == 0)
				r = put_record(s, PUBLICATION, l.items[i].scope, l.items[i].private_name, 0, msg, err);
			free_publication(msg);
			free_publication(newer);
			if (r == 0)
				r = delete_publication(s, l.items[i].scope, l.items[i].name, err);
		}
		if (r == 0)
			r = state_commit(s, err);
		else
			state_rollback(s);
		if (r == 0)
			*changed = true;
	}
	for (size_t i = 0; i < l.n; i++) {
		free(l.items[i].scope);
		free(l.items[i].name);
		free(l.items[i].private_name);
	}
	free(l.items);
	return r;
}

/* ---- blobs ---- */

int state_blob_add(struct state *s, const char *id, uint64_t size, const uint8_t token_hash[static 32], int complete,
	struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "INSERT INTO blobs (id, size, received, token_hash, complete) "
				       "VALUES (?1, ?2, ?3, ?4, ?5)", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)size);
		sqlite3_bind_int64(st, 3, complete ? (int64_t)size : 0);
		sqlite3_bind_blob(st, 4, token_hash, 32, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, complete);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(s, DCR_EIO, "cannot store a blob", err);
}

int state_blob_get(struct state *s, const char *id, struct state_blob *out, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(s->db, "SELECT size, received, token_hash, complete FROM blobs WHERE id = ?1", -1, &st,
		    NULL) != SQLITE_OK)
		return sql_fail(s, DCR_EIO, "cannot read blobs", err);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 2) == 32) {
		out->size = (uint64_t)sqlite3_column_int64(st, 0);
		out->received = (uint64_t)sqlite3_column_int64(st, 1);
		memcpy(out->token_hash, sqlite3_column_blob(st, 2), 32);
		out->complete = sqlite3_column_int(st, 3) != 0;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		r = dcr_err_set(err, DCR_ENOTFOUND, "no blob %s", id);
	} else {
		r = sql_fail(s, DCR_EIO, "cannot read blobs", err);
	}
	sqlite3_finalize(st);
	return r;
}

int state_blob_progress(struct state *s, const char *id, uint64_t received, int complete, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* Never back, never after completion: a late writer cannot undo a finished upload. */
	rc = sqlite3_prepare_v2(s->db, "UPDATE blobs SET received = ?2, complete = ?3 "
				       "WHERE id = ?1 AND complete = 0 AND received <= ?2", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)received);
		sqlite3_bind_int(st, 3, complete);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(s, DCR_EIO, "cannot update a blob", err);
}

int state_blob_delete(struct state *s, const char *id, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "DELETE FROM blobs WHERE id = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(s, DCR_EIO, "cannot delete a blob", err);
}
