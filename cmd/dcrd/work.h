/*
 * The workers that run a room's computations inside dcrd: SQL in SQLite
 * (sqlwork.c) and python in a bubblewrap sandbox (pywork.c). Both work on
 * plaintext in memory only: nothing they read or write touches the host's
 * disk in the clear. The job runner (jobs.c) decides what runs and keeps
 * the results.
 */
#ifndef DCRD_WORK_H
#define DCRD_WORK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "room.pb-c.h"
#include "stream.h"

/*
 * Where a job's inputs come from: read streams the plaintext of the data
 * node named node (the dataset published to it) into sink, in pieces of
 * any size, and returns 0 once all of it has gone through; or a negative
 * DCR_E* code with err set (DCR_ENOTFOUND "nothing is published to node
 * 'X'"), or whatever sink returned.
 */
struct work_inputs {
	int (*read)(void *ctx, const char *node, dcr_stream_sink *sink, void *sink_ctx, struct dcr_err *err);
	void *ctx;
};

/* ---- SQL (sqlwork.c) ---- */

struct sql_limits {
	uint64_t time_ms;          /* wall clock for loading and querying; 0: 60 s */
	uint64_t max_result_bytes; /* CSV size; 0: 256 MiB */
	uint64_t max_memory;       /* what SQLite may allocate for the job (tables, query); 0: 1 GiB */
};

struct sql_result {
	uint8_t *csv;              /* free(): the result, CSV with a header row */
	size_t len;
	uint64_t rows;             /* data rows, without the header */
};

/*
 * Run SQL computation `name` of def: an in-memory database gets one table
 * per table node and one view per SQL computation it reads; the query is
 * compiled under the policy of lib/sql, and the tables its program opens
 * (directly or through views) are loaded through in and checked against
 * the node's schema (lib/table); then it runs within lim. Failures are
 * DCR_ECOMPUTE (the query failed or was refused, ran out of time, the
 * result is too large), DCR_EINVALID (published data does not fit its
 * schema; the message names node, record and column) or what in->read
 * returned (DCR_ENOTFOUND when nothing is published to a table it reads).
 */
int sql_run(const Dcr__V1__RoomDefinition *def, const char *name, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err);

/* ---- python (pywork.c) ---- */

/* One file in the sandbox: path (absolute, as in the room) and its bytes. */
struct py_file {
	const char *path;
	const uint8_t *data;
	size_t len;
};

struct py_result {
	uint8_t *zip;              /* free(): a ZIP of the output directory */
	size_t zip_len;
	char *logs;                /* free(): what the command printed (stdout and stderr), at most 1 MiB, NUL-ended */
	size_t logs_len;
	int exit_status;           /* of the command; 128 + N when killed by signal N */
};

/*
 * Run python computation pc in a bubblewrap sandbox: no network, a fresh
 * root of read-only system directories, files (the entry script under
 * /code, mounts under /input) read-only, a writable output directory and
 * private /tmp, the computation's time and memory limits. The output
 * directory is zipped. A command that exits non-zero, is killed or
 * exceeds a limit is DCR_ECOMPUTE (logs are still returned in out, for the
 * caller to show or not under the room's log policy).
 */
int py_run(const Dcr__V1__PythonComputation *pc, const struct py_file *files, size_t n_files,
	struct py_result *out, struct dcr_err *err);

/* Whether the sandbox can run here (bubblewrap and python3 present and usable); 0 or DCR_EFAIL with why. */
int py_available(struct dcr_err *err);

#endif
