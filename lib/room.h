/* Room definitions: YAML (dcr-room(5)) to the canonical protobuf form and the room ID. */
#ifndef DCR_ROOM_H
#define DCR_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "room.pb-c.h"
#include "specs.h"

#define DCR_ROOM_ID_HEX 65

/*
 * A validated, compiled room definition. Everything it points to is owned by
 * it; dcr_room_free (which accepts NULL) releases it all.
 */
struct dcr_room;

/*
 * Parse and validate the YAML in buf. file names it in messages; files the
 * definition refers to (scripts, CA certificates) are read relative to
 * base_dir. specs resolves the enclave name (NULL: none are trusted). salt is
 * the creator's salt ("" for none). Every problem is DCR_EINVALID with a
 * "FILE:LINE:COLUMN: " prefix, except an unreadable referenced file, which is
 * also reported with its position.
 */
int dcr_room_parse(const char *file, const uint8_t *buf, size_t len, const char *base_dir,
	const struct dcr_specs *specs, const char *salt, struct dcr_room **out, struct dcr_err *err);

/* Read path and parse it, with base_dir the directory of path. */
int dcr_room_load(const char *path, const struct dcr_specs *specs, const char *salt,
	struct dcr_room **out, struct dcr_err *err);

/*
 * Where the files a definition names (scripts, CA files) come from: read
 * is called with the path as written in the definition and must return at
 * most max bytes in a new buffer (free()), or fail with err set. dcr reads
 * them from disk; dcrd from the files the creator sent with the definition.
 */
struct dcr_room_files {
	int (*read)(void *ctx, const char *rel, size_t max, uint8_t **buf, size_t *len, struct dcr_err *err);
	void *ctx;
	/*
	 * Optional: whether a python computation's program (its command's
	 * first argument, a name looked up in the sandbox's PATH or an absolute
	 * path in its image) exists in the sandbox: 0, or a negative DCR_E*
	 * code with err saying why, which the parse reports at the argument's
	 * position. NULL (dcr, which cannot see dcrd's sandbox): only what no
	 * sandbox has is refused.
	 */
	int (*program)(const char *program, struct dcr_err *err);
};

/* The disk reader: rel relative to the directory base_dir (a const char *), or absolute. */
int dcr_room_read_relative(void *base_dir, const char *rel, size_t max, uint8_t **buf, size_t *len,
	struct dcr_err *err);

/*
 * Files held in memory (what a creator sent, what dcrd kept): a reader for
 * struct dcr_room_files whose ctx is a struct dcr_room_memfiles. A path
 * listed twice reads as its first; the file read is marked used.
 */
struct dcr_room_memfile {
	const char *path;
	const uint8_t *data;
	size_t len;
	bool used;
};
struct dcr_room_memfiles {
	struct dcr_room_memfile *files;
	size_t n;
	const char *missing; /* the error's end: "'PATH' MISSING", e.g. "was not sent with the definition" */
};
int dcr_room_read_memory(void *memfiles, const char *rel, size_t max, uint8_t **buf, size_t *len,
	struct dcr_err *err);

/*
 * Whether the YAML yaml (named file_name) and the files kept, compiled with
 * the enclave spec and the salt def embeds, give room id, and the room reads
 * every file kept: the check that a room's source is what it was created
 * from, and no more. DCR_EINTEGRITY, saying why, when it does not compile,
 * gives another room, or a file kept is not read (a path no file reference
 * names, or one listed twice). Sets each kept file's used.
 */
int dcr_room_check_source(const Dcr__V1__RoomDefinition *def, const char *file_name, const char *yaml,
	struct dcr_room_memfiles *kept, const char *id, struct dcr_err *err);

int dcr_room_parse_files(const char *file, const uint8_t *buf, size_t len, const struct dcr_room_files *files,
	const struct dcr_specs *specs, const char *salt, struct dcr_room **out, struct dcr_err *err);
int dcr_room_load_files(const char *path, const struct dcr_room_files *files, const struct dcr_specs *specs,
	const char *salt, struct dcr_room **out, struct dcr_err *err);

/*
 * The inverse of how a definition embeds its enclave spec: a spec from its
 * canonical form (as a creator sends it to dcrd), checked as strictly as the
 * specs file. out borrows nothing from e. DCR_EINVALID if malformed.
 */
int dcr_room_spec_from_proto(const Dcr__V1__EnclaveSpec *e, struct dcr_spec *out, struct dcr_err *err);

const Dcr__V1__RoomDefinition *dcr_room_definition(const struct dcr_room *room);

/* The canonical encoding (owned by room) and its hex SHA-256, the room ID. */
const uint8_t *dcr_room_encoding(const struct dcr_room *room, size_t *len);
const char *dcr_room_id(const struct dcr_room *room);

void dcr_room_free(struct dcr_room *room);

/* "upload", "run", ... as written in a definition. */
const char *dcr_room_action_name(Dcr__V1__Action action);
const char *dcr_room_column_type_name(Dcr__V1__ColumnType type);

/* "sql", "python" or "aggregate", as the YAML's type. */
const char *dcr_room_computation_kind(const Dcr__V1__Computation *c);

/* The header field a table column reads: its csv_header if it has one, else its name. */
const char *dcr_room_column_header(const Dcr__V1__Column *col);

/* The SQLite type of a table column, as queries are validated and run: TEXT, INTEGER or REAL. */
const char *dcr_room_column_sql_type(Dcr__V1__ColumnType type);

/*
 * Whether s is a value an aggregate computation's filter may compare a
 * column of this type with (dcr-room(5), PRIVACY RULES): for int64 and
 * float64 one number as written there, for bool "true" or "false", for
 * date YYYY-MM-DD; any text for string.
 */
bool dcr_room_filter_value_ok(Dcr__V1__ColumnType type, const char *s);

#endif
