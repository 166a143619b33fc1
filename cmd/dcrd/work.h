/*
 * The workers that run a room's computations inside dcrd: SQL in SQLite
 * (sqlwork.c) and python in a bubblewrap sandbox (pywork.c, sandbox.c). Both work on
 * plaintext in memory only: nothing they read or write touches the host's
 * disk in the clear. The job runner (jobs.c) decides what runs and keeps
 * the results.
 */
#ifndef DCRD_WORK_H
#define DCRD_WORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "room.pb-c.h"
#include "sandbox.h"
#include "stream.h"
#include "table.h"

/*
 * Where a job's inputs come from: read streams the plaintext of the data
 * node named node (the dataset published to it) into sink, in pieces of
 * any size, and returns 0 once all of it has gone through; or a negative
 * DCR_E* code with err set (DCR_ENOTFOUND "nothing is published to node
 * 'X'", DCR_EINTEGRITY when it is not what was published), or whatever
 * sink returned. A sink that refuses with DCR_EINVALID (the data does not
 * fit its schema) is not called again, but read goes on checking the rest
 * and returns DCR_EINTEGRITY if it was not what was published; any other
 * refusal (a time or size limit) stops the reading at once.
 */
struct work_inputs {
	int (*read)(void *ctx, const char *node, dcr_stream_sink *sink, void *sink_ctx, struct dcr_err *err);
	void *ctx;
	/*
	 * Where there is a table store (duckdb computations run by dcrd): the
	 * SHA-256 of the plaintext published to node, the one read would check
	 * it against, so that a table loaded from it before can be used
	 * without reading it again (the job then counts node as read). Errors
	 * as read's. NULL with store.
	 */
	int (*identify)(void *ctx, const char *node, uint8_t sha256[static 32], uint64_t *size, struct dcr_err *err);
	const struct table_store *store;
	/*
	 * The SQL worker's confinement (sql_worker_confine) when the caller has
	 * left it to duck_run (a job with the store, whose files are opened by
	 * path): duck_run compiles the query on empty tables in a child process
	 * that confines itself first, and calls confine once the tables are
	 * loaded, kept and attached, before the query is compiled on them and
	 * run. NULL: nothing to do.
	 */
	int (*confine)(struct dcr_err *err);
	/*
	 * Where tables are loaded into the store (a duckdb job's first run):
	 * false, they are written there before the query runs on them; true,
	 * a table small enough to be held in memory (duckwork.c, "writing the
	 * store while the query runs") is loaded in memory and a child process
	 * writes it into the store while the query runs; sql_result's keeping
	 * says the caller must call duck_keep after sending the answer.
	 */
	bool keep_after;
	/* sql_run_warm's caller, where it takes the store's writing after the answer upon itself (sql_keep_finish). */
	struct sql_keeping **keeping;
	/*
	 * Set by duck_run (where not NULL) when the query ran out of memory
	 * beside tables loaded in memory: the job may succeed with every table
	 * loaded into the store first (keep_after false), as dcrd then runs it.
	 */
	bool *again;
	/*
	 * Set by duck_run (where not NULL) when the worker's held database
	 * (duck_held) does not serve the job: the job must run in a new worker.
	 */
	bool *anew;
	/* The worker may be kept for the room's next job (duck_keep then compresses the tables it loaded in memory). */
	bool may_hold;
};

/*
 * A room's DuckDB tables kept between jobs, and one job's scratch space
 * (tablestore.c makes them, duckwork.c uses them; dcrd(8), FILES): each
 * table an encrypted DuckDB file in dir named and keyed after the room's
 * table key, the data node and the SHA-256 of the plaintext it was loaded
 * from; job holds tables while they load and the job's spill files, and
 * goes with the job.
 */
#define TABLE_STORE_PATH_MAX 1024
struct table_store {
	char dir[TABLE_STORE_PATH_MAX];  /* DIR/duckdb/ROOM */
	char job[TABLE_STORE_PATH_MAX];  /* DIR/duckdb/ROOM/job-RANDOM, empty: none */
	uint8_t key[32];                 /* the room's table key: HKDF of the sealing key; wiped by table_store_close */
};
/*
 * ts for a job of room_id: DIR/duckdb/ROOM made if need be, a fresh job
 * directory in it, the room's key derived from sealing_key.
 * table_store_close removes the job directory and wipes the key (NULL
 * and a failed open are fine).
 */
int table_store_open(struct table_store *ts, const char *data_dir, const uint8_t sealing_key[static 32],
	const char *room_id, struct dcr_err *err);
void table_store_close(struct table_store *ts);
/* ts's room ID: its directory's last name (DIR/duckdb/ROOM), if that is a room ID; else NULL (review M-3). */
const char *table_store_room(const struct table_store *ts);
/* DIR/duckdb/ROOM and all in it: the room stopped (jobs_room_stopped, dcrd.h, decides when). Whether it exists. */
int table_store_remove_room(const char *data_dir, const char *room_id, struct dcr_err *err);
bool table_store_exists(const char *data_dir, const char *room_id);
/* fn for the rooms that have a table store (64 hex digits; a room removed meanwhile may come twice). */
void table_store_each_room(const char *data_dir, void (*fn)(const char *room_id));
/* At start: the job directories a killed dcrd left (logged when there were any). */
int table_store_sweep(const char *data_dir, struct dcr_err *err);
/*
 * The job's directory of links into memory (duckwork.c), made and removed
 * with its job directory: /dev/shm/dcrd-duckdb- and the job directory's 16
 * hex digits, in memory rather than in the data directory, so that no one
 * who can change the data directory can point a link elsewhere while
 * DuckDB writes through it. out holds TABLE_STORE_LINKS_MAX bytes.
 */
#define TABLE_STORE_LINKS_MAX 48
void table_store_links(const struct table_store *ts, char out[static TABLE_STORE_LINKS_MAX]);
/*
 * File name (TAG-FILE.duckdb.enc, each 32 hex digits; duckwork.c), written
 * whole in ts's job directory, moved into the store, and the node's other
 * files (TAG-*: tables of datasets published to it before) deleted.
 * DCR_EINVALID for another name, DCR_EIO when it cannot be moved (the room
 * stopped meanwhile).
 */
int table_store_adopt(const struct table_store *ts, const char *name, struct dcr_err *err);

/* ---- SQL (sqlwork.c) ---- */

struct sql_limits {
	uint64_t time_ms;          /* wall clock for loading and querying; 0: 60 s */
	uint64_t max_result_bytes; /* CSV size; 0: 256 MiB */
	uint64_t max_memory;       /* what SQLite may allocate for the job (tables, query); 0: 1 GiB */
	uint64_t threads;          /* DuckDB's threads for the job; 0: 1, at most SQL_THREADS_MAX */
};
#define SQL_THREADS_MAX 256

struct sql_result {
	uint8_t *csv;              /* free(): the result, CSV with a header row */
	size_t len;
	uint64_t rows;             /* data rows, without the header */
	bool thresholded;          /* an aggregate computation with a threshold: */
	uint64_t groups_suppressed; /* how many groups it left out, or DCR_AGGREGATE_WITHHELD */
	bool keeping;              /* duck_run with keep_after: its keeper may still write (duck_keep) */
};

/*
 * Run SQL or aggregate computation `name` of def (an aggregate one as the
 * SQL lib/aggregate writes, then its count of suppressed groups): an in-memory database gets one table
 * per table node and one view per SQL computation it reads; the query is
 * compiled under the policy of lib/sql, and the tables its program opens
 * (directly or through views) are loaded through in and checked against
 * the node's schema (lib/table); then it runs within lim. Failures are
 * DCR_ECOMPUTE (the query failed or was refused, ran out of time, the
 * result is too large), DCR_EINVALID (published data does not fit its
 * schema; the message names node, record and column) or what in->read
 * returned (DCR_ENOTFOUND when nothing is published to a table it reads).
 */
int sql_run(const Dcr__V1__RoomDefinition *def, const char *name, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err);

/* ---- what both SQL engines share (work.c) ---- */

/* A job's clock: its deadline on CLOCK_MONOTONIC, time_ms from its start; late once it was seen passed. */
struct work_clock {
	struct timespec deadline;
	uint64_t time_ms;
	bool late;
};
void work_clock_start(struct work_clock *c, uint64_t time_ms);
/* Whether the deadline has passed (and c->late from then on). */
bool work_clock_late(struct work_clock *c);

/*
 * Load table node `node` for computation `computation`: its plaintext read
 * from in and checked by lib/table (dcr-formats(5), TABLE DATA), each
 * record passed to row(ctx, ...) in order. The clock is looked at before
 * each piece of plaintext and every 1024 records; past it, DCR_ECOMPUTE
 * "computation 'NAME' ran out of time". Returns 0 once every record went
 * through row and the CSV ended well, or the first refusal: the loader's
 * (DCR_EINVALID naming node, record and column), row's, the clock's, or
 * in->read's own (DCR_ENOTFOUND, DCR_EINTEGRITY, which wins over a
 * refusal found before the data turned out not to be what was published).
 */
int work_load_table(const struct work_inputs *in, const Dcr__V1__DataNode *node, const char *computation,
	struct work_clock *clock, dcr_table_row_fn *row, void *ctx, struct dcr_err *err);

/* The result CSV as a job writes it, at most max bytes (the message names computation `name`). */
struct csv_out {
	uint8_t *p;
	size_t len, cap, max;
	const char *name;
};
int csv_put(struct csv_out *o, const void *p, size_t n, struct dcr_err *err);
/* s as a field, quoted when it could be misread (empty, or holding ',', '"', CR, LF, or edge blanks). */
int csv_put_text(struct csv_out *o, const uint8_t *s, size_t n, struct dcr_err *err);
/* The shortest of %.15g, %.16g and %.17g that reads back as d; ".0" when it would look like an integer. */
void csv_format_real(double d, char buf[static 40]);
/* Wipe and free what o holds. */
void csv_out_free(struct csv_out *o);
/* How a run ends: r < 0, o freed and r returned; otherwise *out is res with o's CSV in it, and 0. */
int csv_out_finish(struct csv_out *o, int r, const struct sql_result *res, struct sql_result *out);

/*
 * SANITIZED: a build with AddressSanitizer (tests), whose shadow memory
 * defeats RLIMIT_DATA: the SQL worker gets ASan's RSS limit instead.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* ---- DuckDB (duckwork.c) ---- */

/* Whether c is an SQL computation with engine duckdb. */
bool duck_computation(const Dcr__V1__Computation *c);
/* Whether a duckdb computation of def may read node: a table node without a privacy rule. */
bool duck_may_read(const Dcr__V1__RoomDefinition *def, const char *node);
/* The DuckDB release this dcrd runs ("1.5.6"), NULL when it was built without DuckDB. */
const char *duck_version(void);
/*
 * At room.create: every duckdb computation of def is for this dcrd's DuckDB
 * release and its query is exactly one read-only SELECT that compiles, in
 * the locked-down database of duck_run, against the room's table nodes
 * without a privacy rule. DCR_EINVALID naming the computation otherwise
 * (and always, for a dcrd built without DuckDB).
 */
int duck_check_room(const Dcr__V1__RoomDefinition *def, struct dcr_err *err);
/* sql_run for a duckdb computation c of def (sql_run dispatches to it). */
int duck_run(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Computation *c, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err);
/*
 * For tests: query, unchecked, in the locked-down database that a job with
 * lim's memory and threads gets, without tables; its result as duck_run's.
 */
int duck_query_locked(const char *query, const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err);
/*
 * After duck_run ended with out->keeping (its result already sent): wait
 * for the keeper process that writes the tables it loaded in memory into
 * the store (duckwork.c); then the job's database is held (duck_held) or
 * closed. 0 when they are kept; a failure means only that the room's next
 * job loads them again. Built with DCR_DUCK_TEST_FAULTS (test-duckwork
 * only: cmd/dcrd/meson.build refuses it in c_args), a query naming
 * checkpoint_fails has its compression fail.
 */
int duck_keep(struct dcr_err *err);
/*
 * Whether this process holds the database of its last duckdb job, which
 * answered: a worker that was confined for a job with the table store
 * keeps it, its tables loaded and attached, for its next job. duck_run
 * then runs a job of the same computation of the same room (the room ID
 * ending in->store's directory), whose definition has the same data
 * nodes where it holds a table, on it, once each table it holds is
 * identified again (in->identify) as the same dataset; otherwise it sets
 * *in->anew and fails, running nothing.
 */
bool duck_held(void);

/* lim with its defaults filled in and its bounds applied, as sql_run applies them. */
void sql_limits_resolve(struct sql_limits *lim);
/* DCR_ECOMPUTE "computation 'NAME' ran out of time (the limit is N ms)". */
int sql_out_of_time(const char *name, uint64_t time_ms, struct dcr_err *err);

/*
 * sql_run in a process of its own (sqlproc.c), as dcrd runs every SQL job:
 * SQLite looks at the clock only between the instructions of its program,
 * and one call of a built-in function (trim, instr, replace, like...) can
 * run for days, so the process is killed when lim's time is up, whatever
 * it is doing, and the job fails as having run out of time. It is this
 * executable run as "sql-worker" (sql_worker_main, which the program's
 * main must dispatch to): in->read and in->identify run here, in the
 * caller, and the worker receives plaintext over a socket and no key but
 * the room's table key when in has a store. Results and
 * failures are as sql_run's, plus DCR_ECOMPUTE when the worker dies
 * (naming the signal) and DCR_EIO when it cannot be started.
 */
int sql_run_isolated(const Dcr__V1__RoomDefinition *def, const char *name, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err);
/*
 * sql_run_isolated for a job of room room_id, in the room's warm worker
 * when the pool has one: a worker whose last job, of the same room and
 * with the same memory limit, ended well is kept (sql_pool_start) rather
 * than killed, and runs the room's next SQLite job without a new exec and
 * set-up, in a database of its own as every job. It is killed, and the
 * next job gets a new one, when a job fails in any way (its time or memory
 * limit included), after max_jobs jobs, after idle_ms without a job, and
 * at sql_pool_stop. A DuckDB job's worker (with in->store) is kept the
 * same way and holds its database for the next job (duck_held), which runs
 * in a new worker when the worker's tables are no longer the datasets
 * published; at most two such workers are idle at once. Every job while
 * the pool is not started gets a worker of its own as with
 * sql_run_isolated.
 */
int sql_run_warm(const char *room_id, const Dcr__V1__RoomDefinition *def, const char *name,
	const struct work_inputs *in, const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err);
/*
 * A duckdb job answered (sql_run_warm returned its result) whose worker
 * still waits for its keeper to write the tables it loaded into the table
 * store: made where in->keeping is not NULL, and then it owns a copy of
 * in->store (the caller no longer closes its own). sql_keep_finish waits
 * for the worker's word within the job's time, keeps the worker as
 * sql_run_warm would (or ends it), closes the store (its job directory
 * goes) and frees k; a failure (err set) means
 * only that the room's next job loads the tables again.
 */
struct sql_keeping;
int sql_keep_finish(struct sql_keeping *k, struct dcr_err *err);
/*
 * Keep workers (sql_run_warm) from now on: each at most idle_ms idle (one
 * holding a DuckDB database: duck_idle_ms) and for max_jobs jobs, at most
 * 64 idle at once (the one idle longest goes for a new one). An idle time
 * of 0 keeps none of that kind; both 0 or max_jobs 1: keep none (0,
 * nothing done). DCR_EIO when the thread that ends idle workers cannot
 * start.
 */
int sql_pool_start(uint64_t idle_ms, uint64_t duck_idle_ms, unsigned max_jobs, struct dcr_err *err);
/* Kill and reap every idle worker and keep none from now on; the caller runs no job at the time. */
void sql_pool_stop(void);
/*
 * End every idle worker that holds a DuckDB database of room_id's: the
 * room stopped, or a dataset was published to it (what they hold would
 * no longer serve, and is plaintext).
 */
void sql_pool_end_room(const char *room_id);
/* How many workers wait idle (for tests and metrics). */
unsigned sql_pool_idle(void);
/*
 * duck_check_room in a worker process as sql_run_isolated's, within 30 s
 * and 512 MiB (room.create's check; DuckDB constant-folds, so compiling
 * can compute): 0 at once for a room without duckdb computations,
 * DCR_EINVALID saying why the queries are refused, also when the check
 * runs out of time or memory, DCR_EIO when the worker cannot be started.
 */
int sql_check_isolated(const Dcr__V1__RoomDefinition *def, struct dcr_err *err);
/*
 * Confine the calling process as the SQL worker is before any query is
 * compiled or run in it (sandbox_confine_worker): calls it may not make
 * fail with EACCES. DCR_EIO where the kernel has no seccomp, DCR_EFAIL
 * when it cannot otherwise.
 */
int sql_worker_confine(struct dcr_err *err);
/* "dcrd sql-worker PARENT-PID": the worker's side; the socket to dcrd is descriptor 3. Exit status. */
int sql_worker_main(int argc, char **argv);

/* What the operator allows each job: dcrd serve --max-job-time and --max-job-memory. */
struct job_bounds {
	uint64_t time_ms;          /* every job, all its computations together; SQL's own limit (60 s) only below it */
	uint64_t memory;           /* each python computation, and what dcrd holds of a job's python inputs at once */
};
#define JOB_TIME_DEFAULT_MS (UINT64_C(3600) * 1000)
#define JOB_MEMORY_DEFAULT (UINT64_C(4) << 30)

/* ---- python (pywork.c) ---- */

/*
 * Whether this dcrd runs python computation name (pc): not where its
 * attestation kind refuses python (refused: the kind's python_refused,
 * kind.h; sgx: Gramine has no namespaces or process isolation, so the
 * sandbox's guarantees cannot hold), and only within lim. code (the
 * caller's: DCR_EINVALID at room.create, DCR_ECOMPUTE at run time) with a
 * message that names the computation, its limit and the service's.
 * py_check_room checks every python computation of def.
 */
int py_check(const char *name, const Dcr__V1__PythonComputation *pc, const struct job_bounds *lim,
	const char *refused, int code, struct dcr_err *err);
int py_check_room(const Dcr__V1__RoomDefinition *def, const struct job_bounds *lim, const char *refused, int code,
	struct dcr_err *err);

/* The time and memory limits of python computation pc: its room's, or the defaults (60 s, 1 GiB). */
void py_limits(const Dcr__V1__PythonComputation *pc, uint64_t *time_ms, uint64_t *memory);

/*
 * Run python computation pc in the sandbox (sandbox.h) with files (the
 * entry script under /code, mounts under /input) and the computation's
 * command, output directory and limits, the defaults filled in, its time
 * cut to max_time_ms where that is lower (0: not cut; what is left of a
 * job's time); dcr's helper module dcr_enclave is on its PYTHONPATH. As
 * sandbox_run.
 */
int py_run(const Dcr__V1__PythonComputation *pc, const struct sandbox_file *files, size_t n_files,
	uint64_t max_time_ms, struct sandbox_result *out, struct dcr_err *err);

#endif
