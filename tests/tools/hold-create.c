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
#include <stdlib.h>

#include "hold.h"

/* libyaml's, declared without its header: only the pointer is passed on. */
struct yaml_parser_s;
int yaml_parser_initialize(struct yaml_parser_s *parser);

int yaml_parser_initialize(struct yaml_parser_s *parser)
{
	int (*real)(struct yaml_parser_s *) = (int (*)(struct yaml_parser_s *))dlsym(RTLD_NEXT,
		"yaml_parser_initialize");

	hold_while(getenv("DCR_TEST_HOLD_FILE"));
	return real ? real(parser) : 0;
}
