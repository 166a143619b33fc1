/* Aggregate computations (dcr-room(5), PRIVACY RULES): the SQL dcrd writes for one, with its thresholds. */
#ifndef DCR_AGGREGATE_H
#define DCR_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "room.pb-c.h"

/*
 * The statements of an aggregate computation. query yields the result:
 * the group-by columns and the aggregates of every group that meets each
 * threshold, ordered by the group-by columns. suppressed yields one row,
 * one integer: how many groups query leaves out; NULL when no threshold
 * applies (thresholded false). Caller-owned: dcr_aggregate_sql_release.
 */
struct dcr_aggregate_sql {
	char *query;
	char *suppressed;
	bool thresholded;
};

/*
 * Write the statements of aggregate computation c of def. The threshold of
 * each table the computation reads is the larger of its table's rule and
 * the computation's own min_group_size; a group meets it when the rows of
 * that table that went into the group hold at least that many distinct
 * values of the rule's identity column, or are that many distinct rows.
 * DCR_EINVALID when c is not an aggregate computation of def whose tables
 * and columns exist, DCR_ENOMEM.
 */
int dcr_aggregate_sql(const Dcr__V1__RoomDefinition *def, const Dcr__V1__Computation *c,
	struct dcr_aggregate_sql *out, struct dcr_err *err);
void dcr_aggregate_sql_release(struct dcr_aggregate_sql *s);

/* The names of the two files of an aggregate computation's result, in the order they are stored. */
#define DCR_AGGREGATE_RESULT_CSV "result.csv"
#define DCR_AGGREGATE_SUPPRESSED_CSV "suppressed.csv"

/*
 * The result of a job of an aggregate computation (dcr-room(5), PRIVACY
 * RULES): a ZIP of two stored files, result.csv (the len bytes of csv) and
 * suppressed.csv ("groups_suppressed\n", the decimal count, "\n"), with
 * fixed times and no extra fields, so that the same CSV and count always
 * give the same bytes. *zip is the caller's (free()). DCR_EINVALID when
 * len passes 2^32 - 1025, too large for the 32-bit sizes and offsets
 * without ZIP64 (an SQL result is at most 256 MiB), DCR_ENOMEM.
 */
int dcr_aggregate_result(const uint8_t *csv, size_t len, uint64_t suppressed, uint8_t **zip, size_t *zip_len,
	struct dcr_err *err);

#endif
