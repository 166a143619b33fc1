/* Test helper: answering configfs-tsm report entries in a folder, as the kernel would (see fake-tsm.c). */
#ifndef DCR_TEST_TSM_SERVE_H
#define DCR_TEST_TSM_SERVE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The report for the 64 bytes of inblob: *out (outblob) and *aux (auxblob,
 * *aux_len 0 for none), valid until the next call; -1 after a log line
 * when there is none.
 */
typedef int tsm_answer_fn(void *ctx, const uint8_t inblob[static 64], const uint8_t **out, size_t *out_len,
	const uint8_t **aux, size_t *aux_len);

/*
 * Forever: poll report_dir every 10 ms for entries (made by a reader with
 * fake-tsm.c preloaded) whose outblob FIFO a reader waits on; for each,
 * read inblob, have answer make the report, write auxblob (a file, so it
 * is in place before outblob is answered), count the inblob write in
 * generation as the kernel does, and answer outblob. While the file race
 * exists (NULL: never), generation moves by two: what a second writer of
 * the same entry would make it. Logs "PROG: served report N (BYTES bytes)
 * on ENTRY" to stderr.
 */
_Noreturn void tsm_serve(const char *prog, const char *report_dir, const char *race, tsm_answer_fn *answer, void *ctx);

/*
 * Close fd, a FIFO we answered on, once its reader has taken every byte
 * (or gone), and give the reader time to see end-of-file before the FIFO
 * is opened again.
 */
void fifo_hand_over(int fd);

/* Sleep ms milliseconds. */
void nap_ms(long ms);

#endif
