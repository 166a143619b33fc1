/* libFuzzer target: room definitions and trusted specs files from arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pki.h"
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

/* Three CAs, so that definitions can assign participants to different ones. */
static struct {
	uint8_t *pem;
	size_t len;
} cas[3];

/* Any "*.pem" a definition names is one of the CAs (by its name's first byte); nothing else exists. */
static int read_file(void *ctx, const char *rel, size_t max, uint8_t **buf, size_t *len, struct dcr_err *err)
{
	size_t n = strlen(rel);

	if (n < 4 || strcmp(rel + n - 4, ".pem") != 0)
		return dcr_err_set(err, DCR_ENOTFOUND, "no such file");
	n = (unsigned char)rel[0] % 3;
	if (!(*buf = malloc(cas[n].len + 1)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	memcpy(*buf, cas[n].pem, cas[n].len + 1);
	*len = cas[n].len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dcr_specs *specs;
	struct dcr_specs *parsed = NULL;
	struct dcr_room *room = NULL;
	struct dcr_err err;

	struct dcr_room_files files = { .read = read_file };

	if (!specs) {
		/* As dcr and dcrd do: validating a room's SQL is held to its memory budget. */
		if (dcr_sql_init(&err) < 0 ||
		    dcr_specs_parse("specs.yaml", (const uint8_t *)specs_yaml, strlen(specs_yaml), &specs, &err) < 0)
			__builtin_trap();
		for (size_t i = 0; i < 3; i++) {
			uint8_t *key;
			size_t key_len;

			if (dcr_pki_ca_create(i == 0 ? "acme" : i == 1 ? "beta" : "gamma", 2, time(NULL), &key, &key_len,
				    &cas[i].pem, &cas[i].len, &err) < 0)
				__builtin_trap();
			free(key);
		}
	}
	if (dcr_room_parse_files("room.yaml", data, size, &files, specs, "", &room, &err) == 0) {
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
