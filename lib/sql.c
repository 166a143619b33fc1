/* The SQL policy: the in-memory SQLite database in which rooms' queries are validated and run. */
#include "sql.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

struct dcr_sql {
	sqlite3 *db;
	bool enforce;             /* the authorizer applies the policy; off while setting up */
	sqlite3_stmt *root;       /* which table a root page belongs to */
};

/* ---- the authorizer ---- */

static int authorize(void *ctx, int action, const char *a, const char *b, const char *db, const char *view)
{
	struct dcr_sql *s = ctx;

	if (!s->enforce)
		return SQLITE_OK;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	default:
		return SQLITE_DENY;
	}
}

/* ---- the database ---- */

int dcr_sql_new(struct dcr_sql **out, struct dcr_err *err)
{
	struct dcr_sql *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	rc = sqlite3_open_v2(":memory:", &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY,
		NULL);
	if (rc != SQLITE_OK) {
		dcr_sql_free(s);
		return dcr_err_set(err, rc == SQLITE_NOMEM ? DCR_ENOMEM : DCR_EFAIL, "cannot open an SQLite database: %s",
			sqlite3_errstr(rc));
	}
	/* Sorts, temporary tables and indexes would otherwise spill plaintext to files in /var/tmp. */
	if (sqlite3_exec(s->db, "PRAGMA temp_store = MEMORY", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK ||
	    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL) != SQLITE_OK ||
	    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL) != SQLITE_OK) {
		rc = sqlite3_errcode(s->db);
		dcr_err_set(err, rc == SQLITE_NOMEM ? DCR_ENOMEM : DCR_EFAIL, "cannot set SQLite up: %s",
			sqlite3_errmsg(s->db));
		dcr_sql_free(s);
		return err ? err->code : DCR_EFAIL;
	}
	sqlite3_limit(s->db, SQLITE_LIMIT_ATTACHED, 0);
	s->enforce = true;
	sqlite3_set_authorizer(s->db, authorize, s);
	*out = s;
	return 0;
}

void dcr_sql_free(struct dcr_sql *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->root);
	sqlite3_close_v2(s->db);
	free(s);
}

sqlite3 *dcr_sql_db(struct dcr_sql *s)
{
	return s->db;
}

static int sqlite_error(struct dcr_sql *s, int code, struct dcr_err *err)
{
	if (sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	return dcr_err_set(err, code, "%s", sqlite3_errmsg(s->db));
}

int dcr_sql_prepare_setup(struct dcr_sql *s, const char *sql, sqlite3_stmt **st, struct dcr_err *err)
{
	const char *tail = NULL;
	int rc;

	s->enforce = false;
	rc = sqlite3_prepare_v2(s->db, sql, -1, st, &tail);
	s->enforce = true;
	if (rc != SQLITE_OK)
		return sqlite_error(s, DCR_EFAIL, err);
	/* A view's query is pasted into its CREATE VIEW: nothing may ride along after it. */
	if (!*st || (tail && *dcr_sql_skip_blank(tail))) {
		sqlite3_finalize(*st);
		*st = NULL;
		return dcr_err_set(err, DCR_EINVALID, "not exactly one statement");
	}
	return 0;
}

int dcr_sql_exec(struct dcr_sql *s, const char *sql, struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	if ((r = dcr_sql_prepare_setup(s, sql, &st, err)) < 0)
		return r;
	s->enforce = false;
	rc = sqlite3_step(st);
	s->enforce = true;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqlite_error(s, DCR_EFAIL, err);
}

/* ---- what a query reads ---- */

/* The table whose b-tree (or one of whose indexes) has root page `page` in main; NULL when none does. */
static const char *table_at(struct dcr_sql *s, int64_t page, struct dcr_err *err, int *r)
{
	const char *name = NULL;
	int rc;

	*r = 0;
	s->enforce = false;
	if (!s->root && sqlite3_prepare_v2(s->db, "SELECT tbl_name FROM main.sqlite_schema "
		"WHERE rootpage = ?1 AND type IN ('table', 'index')", -1, &s->root, NULL) != SQLITE_OK) {
		*r = sqlite_error(s, DCR_EFAIL, err);
		s->enforce = true;
		return NULL;
	}
	sqlite3_reset(s->root);
	sqlite3_bind_int64(s->root, 1, page);
	rc = sqlite3_step(s->root);
	if (rc == SQLITE_ROW)
		name = (const char *)sqlite3_column_text(s->root, 0);
	else if (rc != SQLITE_DONE)
		*r = sqlite_error(s, DCR_EFAIL, err);
	s->enforce = true;
	return name;
}

/* Opcodes that open a cursor on something only the statement itself made: sorters, temporary tables. */
static bool private_open(const char *op)
{
	static const char *const ops[] = { "OpenEphemeral", "OpenAutoindex", "OpenDup", "OpenPseudo",
		"SorterOpen", NULL };

	for (size_t i = 0; ops[i]; i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

/* Opcodes of virtual tables (table-valued functions are ones) and of anything that changes a database. */
static bool refused_op(const char *op)
{
	static const char *const ops[] = { "VOpen", "VFilter", "VColumn", "VNext", "VUpdate", "VBegin", "VCreate",
		"VDestroy", "VRename", "VInitIn", "VCheck", "OpenWrite", "Program", "ParseSchema", "SqlExec",
		"CreateBtree", "Destroy", "Clear", "DropTable", "DropIndex", "DropTrigger", "Vacuum", "IntegrityCk",
		"JournalMode", "SetCookie", "LoadAnalysis", NULL };

	for (size_t i = 0; ops[i]; i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

#define OPFLAG_P2ISREG 0x02 /* sqliteInt.h: the root page is in the register P2 names */

/*
 * A statement can only read the b-trees its program opens: every OpenRead
 * (and ReopenIdx) names one by root page in database P3. Those map to
 * tables through sqlite_schema; anything else that opens a cursor on
 * something the statement did not make itself is refused, not guessed.
 * EXPLAIN compiles the same text against the same schema into the same
 * program, and lists it.
 */
static int scan_program(struct dcr_sql *s, const char *query, dcr_sql_table_fn *table, void *ctx,
	struct dcr_err *err)
{
	size_t n = strlen(query);
	char *sql = malloc(n + sizeof("EXPLAIN "));
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	if (!sql)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	memcpy(sql, "EXPLAIN ", 8);
	memcpy(sql + 8, query, n + 1);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	free(sql);
	if (rc != SQLITE_OK || !st) {
		sqlite3_finalize(st);
		return sqlite_error(s, DCR_EINVALID, err);
	}
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *op = (const char *)sqlite3_column_text(st, 1);
		int64_t page = sqlite3_column_int64(st, 3), db = sqlite3_column_int64(st, 4);
		int p5 = sqlite3_column_int(st, 6);

		if (!op) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		} else if (strcmp(op, "OpenRead") == 0 || strcmp(op, "ReopenIdx") == 0) {
			const char *name = db == 0 && !(p5 & OPFLAG_P2ISREG) ? table_at(s, page, err, &r) : NULL;

			if (r < 0)
				break;
			if (name)
				r = table ? table(ctx, name, err) : 0;
			else if (db == 0 && page == 1)
				r = dcr_err_set(err, DCR_EINVALID, "the query reads SQLite's schema");
			else
				r = dcr_err_set(err, DCR_EINVALID, "the query reads something other than the room's tables");
		} else if (strcmp(op, "VOpen") == 0) {
			r = dcr_err_set(err, DCR_EINVALID,
				"the query reads a virtual table (a table-valued function such as json_each)");
		} else if (refused_op(op) || (strncmp(op, "Open", 4) == 0 && !private_open(op))) {
			r = dcr_err_set(err, DCR_EINVALID, "the query does more than read (%s)", op);
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_error(s, DCR_EFAIL, err);
	sqlite3_finalize(st);
	return r;
}

int dcr_sql_prepare(struct dcr_sql *s, const char *query, sqlite3_stmt **out, dcr_sql_table_fn *table, void *ctx,
	struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int r;

	if (out)
		*out = NULL;
	if (sqlite3_prepare_v2(s->db, query, -1, &st, &tail) != SQLITE_OK)
		return sqlite_error(s, DCR_EINVALID, err);
	/* EXPLAIN is read-only too, and its listing would show addresses inside dcrd. */
	if (!st || (tail && *dcr_sql_skip_blank(tail)) || !sqlite3_stmt_readonly(st) || sqlite3_stmt_isexplain(st)) {
		sqlite3_finalize(st);
		return dcr_err_set(err, DCR_EINVALID, "the query must be exactly one SELECT statement");
	}
	if ((r = scan_program(s, query, table, ctx, err)) < 0) {
		sqlite3_finalize(st);
		return r;
	}
	if (out)
		*out = st;
	else
		sqlite3_finalize(st);
	return 0;
}

const char *dcr_sql_skip_blank(const char *q)
{
	for (;;) {
		if (isspace((unsigned char)*q) || *q == ';') {
			q++;
		} else if (q[0] == '-' && q[1] == '-') {
			while (*q && *q != '\n')
				q++;
		} else if (q[0] == '/' && q[1] == '*') {
			const char *end = strstr(q + 2, "*/");

			q = end ? end + 2 : q + strlen(q);
		} else {
			return q;
		}
	}
}
