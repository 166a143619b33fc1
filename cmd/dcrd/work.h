/*
 * The workers that run a room's computations inside dcrd: SQL in SQLite
 * (sqlwork.c) and python in a bubblewrap sandbox (pywork.c, sandbox.c). Both work on
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
#include "sandbox.h"
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
};

struct sql_result {
	uint8_t *csv;              /* free(): the result, CSV with a header row */
	size_t len;
	uint64_t rows;             /* data rows, without the header */
};

/*
 * Run SQL computation `name` of def: an in-memory database gets one table
 * per table node the query reads (directly or through other SQL
 * computations), loaded through in and checked against the node's schema
 * (lib/table), and one view per SQL computation it reads; then the query
 * runs under a read-only authorizer within lim. Failures are DCR_ECOMPUTE
 * (the query failed, ran out of time, the result is too large),
 * DCR_EINVALID (published data does not fit its schema; the message names
 * node, record and column) or what in->read returned.
 */
int sql_run(const Dcr__V1__RoomDefinition *def, const char *name, const struct work_inputs *in,
	const struct sql_limits *lim, struct sql_result *out, struct dcr_err *err);

/* ---- python (pywork.c) ---- */

/*
 * Run python computation pc in the sandbox (sandbox.h) with files (the
 * entry script under /code, mounts under /input) and the computation's
 * command, output directory and limits, the defaults filled in; dcr's
 * helper module dcr_enclave is on its PYTHONPATH. As sandbox_run.
 */
int py_run(const Dcr__V1__PythonComputation *pc, const struct sandbox_file *files, size_t n_files,
	struct sandbox_result *out, struct dcr_err *err);

#endif
