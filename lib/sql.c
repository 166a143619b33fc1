/* The SQL policy: the in-memory SQLite database in which rooms' queries are validated and run. */
#include "sql.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "room.h"

#include "banned.h"

/* Marks the expansions of a stand-in view (dcr_sql_stand_in); registered only where stand-ins are made. */
#define STAND_IN_FN "dcr_stand_in"

/* What one database may allocate: charged to it on the thread that uses it. */
struct budget {
	uint64_t cap;              /* 0: no cap */
	uint64_t used;
	uint64_t allocated;        /* every byte it ever charged: allocations, and what blocks grew by */
	uint64_t generation;       /* tags what this budget allocated */
	bool hit;                  /* an allocation was refused */
	struct budget *outer;      /* the thread's budget before this one */
};

struct dcr_sql {
	sqlite3 *db;
	struct budget budget;
	bool enforce;              /* the authorizer applies the policy; off while setting up */
	bool stand_ins;            /* STAND_IN_FN is registered */
	char denied[160];          /* why the authorizer last refused, if it did */
	const struct dcr_sql_reader *reader; /* while a query compiles: who hears of stand-in expansions */
	sqlite3_stmt *root;        /* which table a root page belongs to */
};

/* ---- memory: SQLite's allocations, charged to the database that makes them ---- */

/*
 * sqlite3_hard_heap_limit64 bounds the whole process, dcrd's own state.db
 * included; a budget bounds one database. Every allocation carries a
 * header with its size and the generation of the budget it was charged
 * to; a budget is the thread's while its database is open. A block stays
 * with the budget that charged it, whichever of the thread's budgets is
 * current when it grows or is freed; a block of none (allocated before any
 * budget, or of one that ended) is charged to the current one when it grows.
 */
struct header {
	uint64_t size;
	uint64_t generation;       /* 0: charged to no budget */
};

static sqlite3_mem_methods system_mem;
static atomic_bool wipe_freed;             /* dcr_sql_wipe_freed */
static _Thread_local struct budget *thread_budget;
static atomic_uint_fast64_t generations;

/* Whether n more bytes on top of base pass b's cap (and so fail); n must also fit with a header. */
static bool over(struct budget *b, uint64_t base, int n)
{
	if (n < 0 || n > INT_MAX - (int)sizeof(struct header))
		return true;
	if (!b || !b->cap || (uint64_t)n <= b->cap - (base < b->cap ? base : b->cap))
		return false;
	b->hit = true;
	return true;
}

static void *acct_malloc(int n)
{
	struct budget *b = thread_budget;
	struct header *h;

	if (over(b, b ? b->used : 0, n) || !(h = system_mem.xMalloc(n + (int)sizeof(*h))))
		return NULL;
	h->size = (uint64_t)n;
	h->generation = b ? b->generation : 0;
	if (b) {
		b->used += (uint64_t)n;
		b->allocated += (uint64_t)n;
	}
	return h + 1;
}

/* The budget of this thread's that charged block h, or NULL. */
static struct budget *owner(const struct header *h)
{
	for (struct budget *b = thread_budget; b && h->generation; b = b->outer)
		if (h->generation == b->generation)
			return b;
	return NULL;
}

static void acct_free(void *p)
{
	struct header *h = p ? (struct header *)p - 1 : NULL;
	struct budget *b;

	if (!h)
		return;
	if ((b = owner(h)))
		b->used -= h->size;
	if (atomic_load_explicit(&wipe_freed, memory_order_relaxed))
		dcr_wipe(h + 1, h->size);
	system_mem.xFree(h);
}

static void *acct_realloc(void *p, int n)
{
	struct header *h = (struct header *)p - 1;
	struct budget *o = owner(h), *b = o ? o : thread_budget;
	uint64_t base = b ? b->used - (o ? h->size : 0) : 0, grown = (uint64_t)n > h->size ? (uint64_t)n - h->size : 0;

	if (over(b, base, n))
		return NULL;
	if (atomic_load_explicit(&wipe_freed, memory_order_relaxed)) {
		/* What a moving realloc would leave behind, wiped. */
		struct header *moved = system_mem.xMalloc(n + (int)sizeof(*h));

		if (!moved)
			return NULL;
		memcpy(moved, h, sizeof(*h) + ((uint64_t)n < h->size ? (size_t)n : (size_t)h->size));
		dcr_wipe(h + 1, h->size);
		system_mem.xFree(h);
		h = moved;
	} else if (!(h = system_mem.xRealloc(h, n + (int)sizeof(*h)))) {
		return NULL;
	}
	if (b) {
		b->used = base + (uint64_t)n;
		b->allocated += o ? grown : (uint64_t)n;
	}
	h->size = (uint64_t)n;
	h->generation = b ? b->generation : 0;
	return h + 1;
}

static int acct_size(void *p)
{
	return p ? (int)((struct header *)p - 1)->size : 0;
}

static int acct_roundup(int n)
{
	return (n + 7) & ~7;
}

static int acct_init(void *app)
{
	return system_mem.xInit(system_mem.pAppData);
}

static void acct_shutdown(void *app)
{
	system_mem.xShutdown(system_mem.pAppData);
}

int dcr_sql_init(struct dcr_err *err)
{
	static const sqlite3_mem_methods methods = { acct_malloc, acct_free, acct_realloc, acct_size, acct_roundup,
		acct_init, acct_shutdown, NULL };
	static bool done;

	if (done)
		return 0;
	if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &system_mem) != SQLITE_OK ||
	    sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK)
		return dcr_err_set(err, DCR_EFAIL, "cannot account for SQLite's memory: SQLite is in use already");
	done = true;
	return 0;
}

void dcr_sql_wipe_freed(void)
{
	atomic_store(&wipe_freed, true);
}

static void budget_begin(struct budget *b, uint64_t cap)
{
	*b = (struct budget){ .cap = cap, .generation = atomic_fetch_add(&generations, 1) + 1,
		.outer = thread_budget };
	thread_budget = b;
}

static void budget_end(struct budget *b)
{
	if (thread_budget == b)
		thread_budget = b->outer;
}

bool dcr_sql_memory_exceeded(const struct dcr_sql *s)
{
	return s->budget.hit;
}

uint64_t dcr_sql_memory_used(const struct dcr_sql *s)
{
	return s->budget.used;
}

uint64_t dcr_sql_memory_allocated(const struct dcr_sql *s)
{
	return s->budget.allocated;
}

/* ---- the functions a query may call ---- */

/*
 * SQLite 3.40's core scalar, aggregate, window, date and time, math
 * (SQLITE_ENABLE_MATH_FUNCTIONS, as Debian builds it) and JSON functions.
 * Left out: what reveals the process or SQLite
 * (changes, total_changes, last_insert_rowid, sqlite_version,
 * sqlite_source_id, sqlite_compileoption_*, sqlite_log), what draws on
 * SQLite's random generator (random, randomblob), extensions and their
 * helpers (load_extension, fts3_tokenizer, fts5, match, snippet,
 * highlight, bm25, offsets, matchinfo, optimize, rtree*), subtype (a
 * testing aid), and whatever a later SQLite adds until it is read and
 * listed here. In alphabetical order, for reading.
 */
static const char *const allowed_functions[] = {
	"->", "->>", "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "avg", "ceil", "ceiling",
	"char", "coalesce", "cos", "cosh", "count", "cume_dist", "current_date", "current_time",
	"current_timestamp", "date", "datetime", "degrees", "dense_rank", "exp", "first_value", "floor", "format",
	"glob", "group_concat", "hex", "ifnull", "iif", "instr", "json", "json_array", "json_array_length",
	"json_extract", "json_group_array", "json_group_object", "json_insert", "json_object", "json_patch",
	"json_quote", "json_remove", "json_replace", "json_set", "json_type", "json_valid", "julianday", "lag",
	"last_value", "lead", "length", "like", "likelihood", "likely", "ln", "log", "log10", "log2", "lower",
	"ltrim", "max", "min", "mod", "nth_value", "ntile", "nullif", "percent_rank", "pi", "pow", "power",
	"printf", "quote", "radians", "rank", "replace", "round", "row_number", "rtrim", "sign", "sin", "sinh",
	"soundex", "sqrt", "strftime", "substr", "substring", "sum", "tan", "tanh", "time", "total", "trim",
	"trunc", "typeof", "unicode", "unixepoch", "unlikely", "upper", "zeroblob",
};

bool dcr_sql_function_allowed(const char *name)
{
	for (size_t i = 0; name && i < sizeof(allowed_functions) / sizeof(*allowed_functions); i++)
		if (strcmp(name, allowed_functions[i]) == 0)
			return true;
	return false;
}

/* ---- the authorizer ---- */

static const char vtab_refused[] =
	"it reads a virtual table or table-valued function (such as json_each), which a query may not";

__attribute__((format(printf, 2, 3)))
static int deny(struct dcr_sql *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->denied[0]) {
		va_start(ap, fmt);
		vsnprintf(s->denied, sizeof(s->denied), fmt, ap);
		va_end(ap);
	}
	return SQLITE_DENY;
}

static int authorize(void *ctx, int action, const char *a, const char *b, const char *db, const char *view)
{
	struct dcr_sql *s = ctx;

	if (!s->enforce)
		return SQLITE_OK;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_READ:
		/* sqlite_schema, sqlite_temp_schema, sqlite_sequence, sqlite_stat1... */
		if (a && strncasecmp(a, "sqlite_", 7) == 0)
			return deny(s, "it reads SQLite's schema");
		return SQLITE_OK;
	case SQLITE_FUNCTION:
		/* A stand-in's own marker: allowed inside the view only, where it reports the expansion. */
		if (s->stand_ins && b && strcmp(b, STAND_IN_FN) == 0 && view) {
			if (s->reader && s->reader->stand_in)
				s->reader->stand_in(s->reader->ctx, view);
			return SQLITE_OK;
		}
		if (dcr_sql_function_allowed(b))
			return SQLITE_OK;
		return deny(s, "function %.64s() is not allowed (dcr-room(5) lists the functions a query may call)",
			b ? b : "?");
	case SQLITE_UPDATE:
		/* What SQLite authorizes when a table-valued function is first used on a connection. */
		if (a && strncasecmp(a, "sqlite_", 7) == 0)
			return deny(s, "%s", vtab_refused);
		/* fall through */
	default:
		return deny(s, "it may only read: one SELECT statement, no INSERT, CREATE, PRAGMA, ATTACH or the like");
	}
}

/* ---- the database ---- */

static int sqlite_error(struct dcr_sql *s, int code, struct dcr_err *err)
{
	if (sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	return dcr_err_set(err, code, "%s", sqlite3_errmsg(s->db));
}

/* SQLite's limits for rooms' queries; what is not set here keeps SQLite's default. */
static const struct {
	int id;
	int value;
} limits[] = {
	{ SQLITE_LIMIT_LENGTH, 32 << 20 },          /* a string or blob */
	{ SQLITE_LIMIT_SQL_LENGTH, 1 << 20 },       /* a statement: a 64 KiB query, a table of 1000 columns */
	{ SQLITE_LIMIT_COLUMN, 2000 },              /* SQLite's maximum as Debian builds it */
	{ SQLITE_LIMIT_EXPR_DEPTH, 1000 },
	{ SQLITE_LIMIT_COMPOUND_SELECT, 500 },
	{ SQLITE_LIMIT_FUNCTION_ARG, 127 },
	{ SQLITE_LIMIT_ATTACHED, 0 },
	{ SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000 },
	{ SQLITE_LIMIT_VARIABLE_NUMBER, 1000 },     /* dcrd's INSERT binds one per column */
	{ SQLITE_LIMIT_TRIGGER_DEPTH, 1 },          /* triggers are off */
	{ SQLITE_LIMIT_WORKER_THREADS, 0 },
};

static int configure(struct dcr_sql *s)
{
	static const int off[] = { SQLITE_DBCONFIG_TRUSTED_SCHEMA, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
		SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, SQLITE_DBCONFIG_ENABLE_TRIGGER };
	int rc;

	/* Sorts, temporary tables and indexes would otherwise spill plaintext to files in /var/tmp. */
	if ((rc = sqlite3_exec(s->db, "PRAGMA temp_store = MEMORY", NULL, NULL, NULL)) != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL)) != SQLITE_OK)
		return rc;
	for (size_t i = 0; i < sizeof(off) / sizeof(*off); i++) {
		int now = -1;

		if ((rc = sqlite3_db_config(s->db, off[i], 0, &now)) != SQLITE_OK)
			return rc;
		if (now != 0)
			return SQLITE_ERROR;
	}
	for (size_t i = 0; i < sizeof(limits) / sizeof(*limits); i++)
		sqlite3_limit(s->db, limits[i].id, limits[i].value);
	return SQLITE_OK;
}

int dcr_sql_new(struct dcr_sql **out, uint64_t max_memory, struct dcr_err *err)
{
	struct dcr_sql *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	budget_begin(&s->budget, max_memory);
	rc = sqlite3_open_v2(":memory:", &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY,
		NULL);
	if (rc == SQLITE_OK && (rc = configure(s)) != SQLITE_OK)
		rc = sqlite3_errcode(s->db) != SQLITE_OK ? sqlite3_errcode(s->db) : rc;
	if (rc != SQLITE_OK) {
		dcr_err_set(err, rc == SQLITE_NOMEM ? DCR_ENOMEM : DCR_EFAIL, "cannot set up an SQLite database: %s",
			sqlite3_errstr(rc));
		dcr_sql_free(s);
		return rc == SQLITE_NOMEM ? DCR_ENOMEM : DCR_EFAIL;
	}
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
	budget_end(&s->budget);
	free(s);
}

sqlite3 *dcr_sql_db(struct dcr_sql *s)
{
	return s->db;
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

/* Run SQL made by sqlite3_mprintf (NULL: out of memory), and free it. */
static int exec_made(struct dcr_sql *s, char *sql, struct dcr_err *err)
{
	int r = sql ? dcr_sql_exec(s, sql, err) : dcr_err_set(err, DCR_ENOMEM, "out of memory");

	sqlite3_free(sql);
	return r;
}

int dcr_sql_create_table(struct dcr_sql *s, const Dcr__V1__DataNode *d, struct dcr_err *err)
{
	sqlite3_str *sql = sqlite3_str_new(s->db);

	sqlite3_str_appendf(sql, "CREATE TABLE \"%w\" (", d->name);
	for (size_t c = 0; c < d->table->n_columns; c++)
		sqlite3_str_appendf(sql, "%s\"%w\" %s", c ? ", " : "", d->table->columns[c]->name,
			dcr_room_column_sql_type(d->table->columns[c]->type));
	sqlite3_str_appendall(sql, ") STRICT");
	return exec_made(s, sqlite3_str_finish(sql), err);
}

int dcr_sql_create_view(struct dcr_sql *s, const char *name, const char *query, struct dcr_err *err)
{
	/* TEMP: a view in main would be held to the rules for untrusted schemas. */
	return exec_made(s, sqlite3_mprintf("CREATE TEMP VIEW \"%w\" AS %s", name, query), err);
}

static void stand_in_marker(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_result_null(ctx);
}

int dcr_sql_stand_in(struct dcr_sql *s, const char *name, const char *query, struct dcr_err *err)
{
	sqlite3_stmt *cols = NULL;
	sqlite3_str *sql;
	int r, rc, n = 0;

	if (!s->stand_ins) {
		if (sqlite3_create_function(s->db, STAND_IN_FN, 0, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
			    NULL, stand_in_marker, NULL, NULL) != SQLITE_OK)
			return sqlite_error(s, DCR_EFAIL, err);
		s->stand_ins = true;
	}
	/* The columns SQLite gives the real view, names made unique as it makes them. */
	if ((r = dcr_sql_create_view(s, name, query, err)) < 0)
		return r;
	if ((r = dcr_sql_prepare_setup(s, "SELECT name FROM pragma_table_info(?1, 'temp') ORDER BY cid", &cols,
		     err)) < 0)
		return r;
	sql = sqlite3_str_new(s->db);
	sqlite3_str_appendf(sql, "CREATE TEMP VIEW \"%w\" AS SELECT", name);
	sqlite3_bind_text(cols, 1, name, -1, SQLITE_STATIC);
	s->enforce = false;
	/* The marker once, in the first column: one call per expansion. */
	for (; (rc = sqlite3_step(cols)) == SQLITE_ROW; n++)
		sqlite3_str_appendf(sql, "%s %s AS \"%w\"", n ? "," : "", n ? "NULL" : STAND_IN_FN "()",
			(const char *)sqlite3_column_text(cols, 0));
	s->enforce = true;
	if (rc != SQLITE_DONE || n == 0) {
		r = rc != SQLITE_DONE ? sqlite_error(s, DCR_EFAIL, err) :
			dcr_err_set(err, DCR_EFAIL, "view '%s' has no columns", name);
		sqlite3_finalize(cols);
		sqlite3_free(sqlite3_str_finish(sql));
		return r;
	}
	sqlite3_finalize(cols);
	if ((r = exec_made(s, sqlite3_mprintf("DROP VIEW temp.\"%w\"", name), err)) < 0) {
		sqlite3_free(sqlite3_str_finish(sql));
		return r;
	}
	return exec_made(s, sqlite3_str_finish(sql), err);
}

/* ---- what a query reads ---- */

/* The table whose b-tree (or one of whose indexes) has root page `page` in main; NULL when none does. */
static const char *table_at(struct dcr_sql *s, int64_t page, struct dcr_err *err, int *r)
{
	const char *name = NULL;
	int rc;

	*r = 0;
	if (!s->root && (*r = dcr_sql_prepare_setup(s, "SELECT tbl_name FROM main.sqlite_schema "
		"WHERE rootpage = ?1 AND type IN ('table', 'index')", &s->root, err)) < 0)
		return NULL;
	s->enforce = false;
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

enum op_kind { OP_OTHER, OP_READ, OP_PRIVATE, OP_VTAB, OP_REFUSED };

/*
 * The opcodes that matter, sorted for bsearch: those that open a cursor
 * on a table (READ), on something only the statement itself made
 * (PRIVATE: sorters, temporary tables), on a virtual table (VTAB), and
 * those that change a database or its schema (REFUSED).
 */
static const struct opcode {
	const char *name;
	enum op_kind kind;
} opcodes[] = {
	{ "Clear", OP_REFUSED }, { "CreateBtree", OP_REFUSED }, { "Destroy", OP_REFUSED },
	{ "DropIndex", OP_REFUSED }, { "DropTable", OP_REFUSED }, { "DropTrigger", OP_REFUSED },
	{ "IntegrityCk", OP_REFUSED }, { "JournalMode", OP_REFUSED }, { "LoadAnalysis", OP_REFUSED },
	{ "OpenAutoindex", OP_PRIVATE }, { "OpenDup", OP_PRIVATE }, { "OpenEphemeral", OP_PRIVATE },
	{ "OpenPseudo", OP_PRIVATE }, { "OpenRead", OP_READ }, { "OpenWrite", OP_REFUSED },
	{ "ParseSchema", OP_REFUSED }, { "Program", OP_REFUSED }, { "ReopenIdx", OP_READ },
	{ "SetCookie", OP_REFUSED }, { "SorterOpen", OP_PRIVATE }, { "SqlExec", OP_REFUSED },
	{ "VBegin", OP_VTAB }, { "VCheck", OP_VTAB }, { "VColumn", OP_VTAB }, { "VCreate", OP_VTAB },
	{ "VDestroy", OP_VTAB }, { "VFilter", OP_VTAB }, { "VInitIn", OP_VTAB }, { "VNext", OP_VTAB },
	{ "VOpen", OP_VTAB }, { "VRename", OP_VTAB }, { "VUpdate", OP_VTAB }, { "Vacuum", OP_REFUSED },
};

static int cmp_opcode(const void *key, const void *item)
{
	return strcmp(key, ((const struct opcode *)item)->name);
}

static enum op_kind op_kind(const char *op)
{
	const struct opcode *o = bsearch(op, opcodes, sizeof(opcodes) / sizeof(*opcodes), sizeof(*opcodes),
		cmp_opcode);

	if (o)
		return o->kind;
	/* An opcode a later SQLite adds to open something: refused until it is read and listed. */
	return strncmp(op, "Open", 4) == 0 ? OP_REFUSED : OP_OTHER;
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
static int scan_program(struct dcr_sql *s, const char *query, const struct dcr_sql_reader *reader,
	struct dcr_err *err)
{
	char *sql = sqlite3_mprintf("EXPLAIN %s", query);
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	if (!sql)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK || !st) {
		sqlite3_finalize(st);
		return sqlite_error(s, DCR_EINVALID, err);
	}
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *op = (const char *)sqlite3_column_text(st, 1);
		int64_t page = sqlite3_column_int64(st, 3), db = sqlite3_column_int64(st, 4);
		int p5 = sqlite3_column_int(st, 6);

		enum op_kind kind = op ? op_kind(op) : OP_OTHER;

		if (!op) {
			r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		} else if (kind == OP_READ) {
			const char *name = db == 0 && !(p5 & OPFLAG_P2ISREG) ? table_at(s, page, err, &r) : NULL;

			if (r < 0)
				break;
			if (name)
				r = reader && reader->table ? reader->table(reader->ctx, name, err) : 0;
			else if (db == 0 && page == 1)
				r = dcr_err_set(err, DCR_EINVALID, "it reads SQLite's schema");
			else
				r = dcr_err_set(err, DCR_EINVALID, "it reads something other than the room's tables");
		} else if (kind == OP_VTAB) {
			r = dcr_err_set(err, DCR_EINVALID, "%s", vtab_refused);
		} else if (kind == OP_REFUSED) {
			r = dcr_err_set(err, DCR_EINVALID, "it does more than read (%s)", op);
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sqlite_error(s, DCR_EFAIL, err);
	sqlite3_finalize(st);
	return r;
}

int dcr_sql_prepare(struct dcr_sql *s, const char *query, sqlite3_stmt **out, const struct dcr_sql_reader *reader,
	struct dcr_err *err)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc, r;

	if (out)
		*out = NULL;
	s->denied[0] = '\0';
	s->reader = reader;
	rc = sqlite3_prepare_v2(s->db, query, -1, &st, &tail);
	s->reader = NULL;
	if (rc != SQLITE_OK) {
		/* Whatever SQLite says ("not authorized", "access to x.y is prohibited"), say what was refused. */
		if (s->denied[0] && sqlite3_errcode(s->db) != SQLITE_NOMEM)
			return dcr_err_set(err, DCR_EINVALID, "%s", s->denied);
		return sqlite_error(s, DCR_EINVALID, err);
	}
	/* EXPLAIN is read-only too, and its listing would show addresses inside dcrd. */
	if (!st || (tail && *dcr_sql_skip_blank(tail)) || !sqlite3_stmt_readonly(st) || sqlite3_stmt_isexplain(st)) {
		sqlite3_finalize(st);
		return dcr_err_set(err, DCR_EINVALID, "it must be exactly one SELECT statement");
	}
	if ((r = scan_program(s, query, reader, err)) < 0) {
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
