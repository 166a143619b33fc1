/*
 * Test helper, loaded with LD_PRELOAD into dcrd: holds a room.create in
 * its validation, so that a test can show other calls are answered
 * meanwhile without counting on timing. While the file named by
 * $DCR_TEST_HOLD_FILE exists, each time dcrd starts parsing YAML (which it
 * does only to validate a room definition) it creates that path with
 * ".held" appended and waits until the first file is removed; then it
 * removes the ".held" file and parses.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* libyaml's, declared without its header: only the pointer is passed on. */
struct yaml_parser_s;
int yaml_parser_initialize(struct yaml_parser_s *parser);

int yaml_parser_initialize(struct yaml_parser_s *parser)
{
	int (*real)(struct yaml_parser_s *) = (int (*)(struct yaml_parser_s *))dlsym(RTLD_NEXT,
		"yaml_parser_initialize");
	const char *hold = getenv("DCR_TEST_HOLD_FILE");
	char held[4096];
	int fd;

	if (hold && access(hold, F_OK) == 0 && snprintf(held, sizeof(held), "%s.held", hold) < (int)sizeof(held)) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		if ((fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
			close(fd);
		while (access(hold, F_OK) == 0)
			nanosleep(&pause, NULL);
		unlink(held);
	}
	return real ? real(parser) : 0;
}
