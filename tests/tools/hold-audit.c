/*
 * Test helper, loaded with LD_PRELOAD into dcrd: holds the reading of a
 * room's audit entries (what audit.get does in O(size of the log)), so
 * that a test can show which calls are answered meanwhile without counting
 * on timing. While the file named by $DCR_TEST_HOLD_FILE exists, each
 * sqlite3_step of a statement that selects audit entries ("SELECT entry
 * ... FROM audit") creates that path with ".held" appended and waits until
 * the first file is removed; then it removes the ".held" file and steps.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "hold.h"

/* SQLite's, declared without its header: only the pointer is passed on. */
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_step(sqlite3_stmt *st);
const char *sqlite3_sql(sqlite3_stmt *st);

int sqlite3_step(sqlite3_stmt *st)
{
	int (*real)(sqlite3_stmt *) = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT, "sqlite3_step");
	const char *sql = sqlite3_sql(st);

	if (sql && strncmp(sql, "SELECT entry", 12) == 0 && strstr(sql, " FROM audit "))
		hold_while(getenv("DCR_TEST_HOLD_FILE"));
	return real ? real(st) : 1; /* SQLITE_ERROR */
}
