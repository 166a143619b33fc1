/* What both SQL engines share: a job's clock, and loading a table node through lib/table into an engine. */
#include "work.h"

#include <inttypes.h>
#include <time.h>

#include "table.h"

#include "banned.h"

#define CLOCK_ROWS 1024 /* records loaded between looks at the clock */

void work_clock_start(struct work_clock *c, uint64_t time_ms)
{
	c->time_ms = time_ms;
	c->late = false;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += (time_t)(time_ms / 1000);
	c->deadline.tv_nsec += (long)(time_ms % 1000) * 1000000L;
	if (c->deadline.tv_nsec >= 1000000000L) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000L;
	}
}

bool work_clock_late(struct work_clock *c)
{
	struct timespec now;

	if (c->late)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	c->late = now.tv_sec > c->deadline.tv_sec ||
		(now.tv_sec == c->deadline.tv_sec && now.tv_nsec >= c->deadline.tv_nsec);
	return c->late;
}

int sql_out_of_time(const char *name, uint64_t time_ms, struct dcr_err *err)
{
	return dcr_err_set(err, DCR_ECOMPUTE, "computation '%s' ran out of time (the limit is %" PRIu64 " ms)", name,
		time_ms);
}

/* One table being loaded: the loader, the engine's row function, and the first refusal of either. */
struct table_sink {
	struct dcr_table_loader *loader;
	struct work_clock *clock;
	const char *computation;
	dcr_table_row_fn *row;
	void *ctx;
	uint64_t rows;
	struct dcr_err err;        /* what the sink said, whatever err in->read passed it */
	bool failed;
};

static int sink_row(void *ctx, const struct dcr_table_value *v, size_t n, struct dcr_err *err)
{
	struct table_sink *s = ctx;
	int r = s->row(s->ctx, v, n, err);

	if (r == 0 && ++s->rows % CLOCK_ROWS == 0 && work_clock_late(s->clock))
		r = sql_out_of_time(s->computation, s->clock->time_ms, err);
	return r;
}

static int sink_write(void *ctx, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	struct table_sink *s = ctx;
	int r;

	if (work_clock_late(s->clock))
		r = sql_out_of_time(s->computation, s->clock->time_ms, &s->err);
	else
		r = dcr_table_loader_write(s->loader, buf, len, &s->err);
	if (r < 0) {
		s->failed = true;
		if (err)
			*err = s->err;
	}
	return r;
}

int work_load_table(const struct work_inputs *in, const Dcr__V1__DataNode *node, const char *computation,
	struct work_clock *clock, dcr_table_row_fn *row, void *ctx, struct dcr_err *err)
{
	struct table_sink s = { .clock = clock, .computation = computation, .row = row, .ctx = ctx };
	uint64_t records;
	int r;

	if (!(s.loader = dcr_table_loader_new(node->table, node->name, sink_row, &s, err)))
		return err ? err->code : DCR_ENOMEM;
	r = in->read(in->ctx, node->name, sink_write, &s, err);
	/* The sink's own refusal, not one the reader found after it (its data was not what was published). */
	if (r < 0 && s.failed && err && r == s.err.code)
		*err = s.err;
	if (r == 0)
		r = dcr_table_loader_finish(s.loader, &records, err);
	dcr_table_loader_free(s.loader);
	return r;
}
