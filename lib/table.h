/* Table data: a streaming CSV loader that checks a dataset against its table node's schema (dcr-formats(5)). */
#ifndef DCR_TABLE_H
#define DCR_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "room.pb-c.h"

#define DCR_TABLE_FIELD_MAX (1u << 20) /* bytes in one field, quotes not counted */
#define DCR_TABLE_COLUMNS_MAX 1000

/* How a value reaches SQL: int64 and bool are INT (bool as 1 or 0), float64 REAL, string and date TEXT. */
enum dcr_table_kind {
	DCR_TABLE_NULL,
	DCR_TABLE_INT,
	DCR_TABLE_REAL,  /* always finite */
	DCR_TABLE_TEXT,  /* valid UTF-8 without NUL bytes; a date as its YYYY-MM-DD text */
};

struct dcr_table_value {
	enum dcr_table_kind kind;
	int64_t i;       /* INT */
	double d;        /* REAL */
	const char *s;   /* TEXT: len bytes, not NUL-terminated; valid only during the row callback */
	size_t len;      /* TEXT */
};

/*
 * Called once for each data record (never for the header) with n values,
 * one per declared column in order. It returns 0 to go on, or a negative
 * DCR_E* code with err filled, which stops the loader: the write or finish
 * call that was running returns that code and message.
 */
typedef int dcr_table_row_fn(void *ctx, const struct dcr_table_value *values, size_t n, struct dcr_err *err);

/*
 * The loader reads CSV as dcr-formats(5) describes under TABLE DATA: feed
 * it the plaintext in pieces of any size with _write (or use _sink, a
 * dcr_stream_sink, as a stream decoder's output), then call _finish, which
 * reports the number of data records. Memory is bounded by the longest
 * record, whatever the input size.
 *
 * Every problem with the data is DCR_EINVALID with a message that names the
 * node, the record (numbered from 1, counting the header) and, where there
 * is one, the column, but never quotes the data: messages reach the room's
 * audit log, which every participant reads. For example:
 * "table 'acme_pay', record 3, column 'salary': the value is not a float64
 * (expected a decimal number such as 12.5, -3 or 1e6)".
 * The first error is final: later calls return it again.
 *
 * _new borrows t and node, which must outlive the loader, and fails with
 * DCR_EINVALID when t is not a usable schema (no columns, more than
 * DCR_TABLE_COLUMNS_MAX, an unknown type, a bad delimiter). _free accepts
 * NULL and wipes the loader's copies of the data.
 */
struct dcr_table_loader;
struct dcr_table_loader *dcr_table_loader_new(const Dcr__V1__TableNode *t, const char *node,
	dcr_table_row_fn *row, void *ctx, struct dcr_err *err);
/*
 * The same loader over libcsv's tokenizer, which the loader's own replaced
 * (docs/decisions.md): the reference that tests and the differential fuzz
 * target hold the own one to, value for value and message for message.
 * Nothing else should use it: it is several times slower.
 */
struct dcr_table_loader *dcr_table_loader_new_reference(const Dcr__V1__TableNode *t, const char *node,
	dcr_table_row_fn *row, void *ctx, struct dcr_err *err);
int dcr_table_loader_write(struct dcr_table_loader *l, const void *buf, size_t len, struct dcr_err *err);
int dcr_table_loader_sink(void *loader, const uint8_t *buf, size_t len, struct dcr_err *err);
int dcr_table_loader_finish(struct dcr_table_loader *l, uint64_t *rows, struct dcr_err *err);
void dcr_table_loader_free(struct dcr_table_loader *l);

#endif
