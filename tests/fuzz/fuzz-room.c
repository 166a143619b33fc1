/* libFuzzer target: room definitions and trusted specs files from arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "room.h"
#include "specs.h"
#include "sql.h"

static const char specs_yaml[] =
	"version: 1\n"
	"specs:\n"
	"  dcrd:sim:\n"
	"    format: sim\n"
	"    measurement: 0000000000000000000000000000000000000000000000000000000000000001\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dcr_specs *specs;
	struct dcr_specs *parsed = NULL;
	struct dcr_room *room = NULL;
	struct dcr_err err;

	/* As dcr and dcrd do: validating a room's SQL is held to its memory budget. */
	if (!specs && (dcr_sql_init(&err) < 0 ||
		       dcr_specs_parse("specs.yaml", (const uint8_t *)specs_yaml, strlen(specs_yaml), &specs, &err) < 0))
		__builtin_trap();
	/* Referenced files resolve under a directory that does not exist. */
	if (dcr_room_parse("room.yaml", data, size, "/nonexistent/dcr-fuzz", specs, "", &room, &err) == 0) {
		size_t len;

		if (strlen(dcr_room_id(room)) != 64 || !dcr_room_encoding(room, &len) || len == 0)
			__builtin_trap();
		dcr_room_free(room);
	} else if (strncmp(err.msg, "room.yaml", 9) != 0 && err.code == DCR_EINVALID) {
		/* Every validation error names the file. */
		__builtin_trap();
	}
	if (dcr_specs_parse("specs.yaml", data, size, &parsed, &err) == 0)
		dcr_specs_free(parsed);
	return 0;
}
