/* The SQL policy: the in-memory SQLite database in which rooms' queries are validated (room.c) and run (dcrd). */
#ifndef DCR_SQL_H
#define DCR_SQL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "room.pb-c.h"

/*
 * An in-memory SQLite database under the policy of dcr-room(5): SQLite
 * limits and settings for untrusted queries, and an authorizer that lets
 * a query select, read columns of the room's tables, call the functions
 * dcr_sql_function_allowed names, and recurse; nothing else. The caller
 * builds the schema outside the policy (dcr_sql_create_table,
 * dcr_sql_create_view, dcr_sql_exec), then compiles a room's query with
 * dcr_sql_prepare. dcr_sql_free (NULL is fine) closes it with every
 * statement made on it.
 */
struct dcr_sql;

/*
 * SQLite's allocations go through an accounting layer from here on, so
 * that each database can be held to its own budget (max_memory of
 * dcr_sql_new). Call it before anything else uses SQLite in the process
 * (DCR_EFAIL otherwise); without it, budgets limit nothing.
 */
int dcr_sql_init(struct dcr_err *err);
/*
 * From now on, in this process, what SQLite frees (through dcr_sql_init's
 * layer) is wiped first, and what it grows is moved rather than grown in
 * place: a process that runs one job after another (dcrd's SQL worker)
 * keeps no plaintext of a job in memory it has freed.
 */
void dcr_sql_wipe_freed(void);

/*
 * A new database, which may allocate at most max_memory bytes (0: no
 * limit) while it exists, on the thread that made it: from dcr_sql_new
 * to dcr_sql_free, that thread's SQLite allocations are charged to it,
 * and one that would pass the limit fails as SQLITE_NOMEM. A thread uses
 * one database at a time (the latest made, freed first).
 */
int dcr_sql_new(struct dcr_sql **out, uint64_t max_memory, struct dcr_err *err);
void dcr_sql_free(struct dcr_sql *s);

/* Whether s ran out of its max_memory: SQLite's "out of memory" was the budget's. */
bool dcr_sql_memory_exceeded(const struct dcr_sql *s);
/* What s's budget counts now: the bytes SQLite holds for it. */
uint64_t dcr_sql_memory_used(const struct dcr_sql *s);
/*
 * Every byte s's budget ever charged: each allocation, and what blocks
 * grew by. SQLite's work to compile a query is mostly copying and
 * building trees, so this measures it, the same on every run and machine
 * with the same SQLite, where a clock would not.
 */
uint64_t dcr_sql_memory_allocated(const struct dcr_sql *s);

/* The connection, for what the policy leaves to the caller (a progress handler, inserting rows). */
sqlite3 *dcr_sql_db(struct dcr_sql *s);

/* Whether a query may call the SQLite function of this (lowercase) name. */
bool dcr_sql_function_allowed(const char *name);

/*
 * Compile, or run, exactly one statement that sets the database up (BEGIN,
 * an INSERT to load a table) outside the policy. DCR_EFAIL with SQLite's
 * message, or DCR_EINVALID when more than one statement is there.
 */
int dcr_sql_prepare_setup(struct dcr_sql *s, const char *sql, sqlite3_stmt **st, struct dcr_err *err);
int dcr_sql_exec(struct dcr_sql *s, const char *sql, struct dcr_err *err);

/* Table node d as a STRICT table of its columns' SQLite types (dcr_room_column_sql_type). */
int dcr_sql_create_table(struct dcr_sql *s, const Dcr__V1__DataNode *d, struct dcr_err *err);

/* SQL computation `name` as a TEMP view of its query; SQLite compiles the query only where the view is read. */
int dcr_sql_create_view(struct dcr_sql *s, const char *name, const char *query, struct dcr_err *err);

/*
 * For validation: a view `name` with the columns the view of query would
 * have, that reads nothing, so that reading it costs the same whatever
 * query reads. Every place a compiled query reads it is reported to the
 * reader's stand_in. The views query reads must exist (as stand-ins).
 */
int dcr_sql_stand_in(struct dcr_sql *s, const char *name, const char *query, struct dcr_err *err);

/* What dcr_sql_prepare tells about the query it compiles; every member may be NULL. */
struct dcr_sql_reader {
	/*
	 * Each table the program opens (a name may repeat), as named in its
	 * CREATE TABLE. A negative return stops dcr_sql_prepare with it.
	 */
	int (*table)(void *ctx, const char *table, struct dcr_err *err);
	/* Each expansion of a stand-in view: a query that reads one twice, or through a CTE used twice, expands it twice. */
	void (*stand_in)(void *ctx, const char *view);
	void *ctx;
};

/*
 * Compile query under the policy: it must be exactly one statement that
 * only reads (blanks may follow: dcr_sql_skip_blank), calls only allowed
 * functions, and reads nothing but tables of the schema (no virtual table,
 * no table-valued function, not SQLite's own tables). The tables it reads
 * are those its compiled program opens, found in the program itself
 * (EXPLAIN), not from the columns it names: a join USING or NATURAL reads
 * a table whose columns it never names.
 *
 * Returns 0 and, if st is not NULL, the statement (sqlite3_finalize it
 * before dcr_sql_free); or DCR_EINVALID with why, to follow "query of
 * 'x': " (SQLite's own message when it does not compile, such as "no such
 * table: x"), DCR_ENOMEM, or what reader->table returned. The message
 * never quotes a value the query computed: nothing has run.
 */
int dcr_sql_prepare(struct dcr_sql *s, const char *query, sqlite3_stmt **st, const struct dcr_sql_reader *reader,
	struct dcr_err *err);

/*
 * Past white space, semicolons and SQL comments: what may follow a room's
 * one query.
 */
const char *dcr_sql_skip_blank(const char *q);

#endif
