/* The SQL policy: the in-memory SQLite database in which rooms' queries are validated (room.c) and run (dcrd). */
#ifndef DCR_SQL_H
#define DCR_SQL_H

#include <sqlite3.h>
#include <stdbool.h>

#include "err.h"

/*
 * An in-memory SQLite database under the policy of dcr-room(5): the
 * caller builds the schema with dcr_sql_exec (no policy), then compiles a
 * room's query with dcr_sql_prepare, under the read-only authorizer.
 * dcr_sql_free (NULL is fine) closes it and every statement made on it.
 */
struct dcr_sql;

int dcr_sql_new(struct dcr_sql **out, struct dcr_err *err);
void dcr_sql_free(struct dcr_sql *s);

/* The connection, for what the policy leaves to the caller (a progress handler, inserting rows). */
sqlite3 *dcr_sql_db(struct dcr_sql *s);

/*
 * Compile, or run, exactly one statement that sets the database up (CREATE
 * TABLE, CREATE VIEW, BEGIN, an INSERT to load a table) outside the
 * policy. DCR_EFAIL with SQLite's message, or DCR_EINVALID when more than
 * one statement is there.
 */
int dcr_sql_prepare_setup(struct dcr_sql *s, const char *sql, sqlite3_stmt **st, struct dcr_err *err);
int dcr_sql_exec(struct dcr_sql *s, const char *sql, struct dcr_err *err);

/*
 * Called once for each table the query opens (it may repeat a name): a
 * table of the schema, as named in its CREATE TABLE. A negative return
 * stops dcr_sql_prepare, which returns it.
 */
typedef int dcr_sql_table_fn(void *ctx, const char *table, struct dcr_err *err);

/*
 * Compile query under the policy: it must be exactly one statement that
 * only reads (blanks may follow: dcr_sql_skip_blank), calls no refused
 * function, and reads nothing but tables of the schema (no virtual table,
 * no table-valued function, not SQLite's own tables). The tables it reads
 * are those its compiled program opens, found in the program itself
 * (EXPLAIN), not from the columns it names: a join USING or NATURAL
 * reads a table whose columns it never names. Each goes to table(ctx).
 *
 * Returns 0 and, if st is not NULL, the statement (sqlite3_finalize it
 * before dcr_sql_free); or DCR_EINVALID with why (SQLite's own message
 * when it does not compile, such as "no such table: x"), DCR_ENOMEM, or
 * what table returned. The message never quotes a value the query
 * computed: nothing has run.
 */
int dcr_sql_prepare(struct dcr_sql *s, const char *query, sqlite3_stmt **st, dcr_sql_table_fn *table, void *ctx,
	struct dcr_err *err);

/*
 * Past white space, semicolons and SQL comments: what may follow a room's
 * one query.
 */
const char *dcr_sql_skip_blank(const char *q);

#endif
