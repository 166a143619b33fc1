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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* SQLite's, declared without its header: only the pointer is passed on. */
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_step(sqlite3_stmt *st);
const char *sqlite3_sql(sqlite3_stmt *st);

int sqlite3_step(sqlite3_stmt *st)
{
	int (*real)(sqlite3_stmt *) = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT, "sqlite3_step");
	const char *hold = getenv("DCR_TEST_HOLD_FILE"), *sql = sqlite3_sql(st);
	char held[4096];
	int fd;

	if (hold && sql && strncmp(sql, "SELECT entry", 12) == 0 && strstr(sql, " FROM audit ") &&
	    access(hold, F_OK) == 0 && snprintf(held, sizeof(held), "%s.held", hold) < (int)sizeof(held)) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		if ((fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
			close(fd);
		while (access(hold, F_OK) == 0)
			nanosleep(&pause, NULL);
		unlink(held);
	}
	return real ? real(st) : 1; /* SQLITE_ERROR */
}
