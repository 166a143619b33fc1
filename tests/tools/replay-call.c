/* Test helper: send one signed, encrypted call several times, as an attacker replaying it would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "call.h"
#include "client.h"
#include "specs.h"
#include "transport.h"
#include "util.h"

/*
 * usage: replay-call ENDPOINT SPECS IDENTITY_DIR COUNT [SKEW_SECONDS|@MS [METHOD ROOM_ID [JOB_ID]]]
 * Seals one call (its clock shifted by SKEW_SECONDS, or stamped MS
 * milliseconds since the epoch): room.list, or METHOD
 * with a RoomRef for ROOM_ID, or a JobRef with JOB_ID too. Then sends the
 * very same bytes COUNT times, reading a line from standard input before
 * each send after the first, so a test can restart dcrd in between. Prints
 * the enclave's verdict for each: "ok" or "refused CODE: MESSAGE"; after an
 * "ok" to job.fetch of a result, "blob ID TOKEN": where its ciphertext is.
 */
int main(int argc, char **argv)
{
	struct dcr_specs *specs = NULL;
	struct dcr_identity *id = NULL;
	struct dcr_client client;
	struct dcr_ohttp_ctx ctx = { 0 };
	struct dcr_err err;
	uint8_t *req = NULL, *body = NULL;
	size_t req_len = 0, body_len = 0;
	const char *method = argc > 7 ? argv[6] : "room.list";
	long skew = argc > 5 && argv[5][0] != '@' ? strtol(argv[5], NULL, 10) : 0;
	int64_t stamp = argc > 5 && argv[5][0] == '@' ? strtoll(argv[5] + 1, NULL, 10) : 0;
	int count = argc > 4 ? atoi(argv[4]) : 0;
	char line[16];

	if (argc < 5 || argc == 7 || argc > 9 || count < 1) {
		fprintf(stderr, "usage: replay-call ENDPOINT SPECS IDENTITY_DIR COUNT [SKEW_SECONDS|@MS [METHOD ROOM_ID "
				"[JOB_ID]]]\n");
		return 2;
	}
	if (argc == 8) {
		Dcr__V1__RoomRef ref = DCR__V1__ROOM_REF__INIT;

		ref.room_id = argv[7];
		body_len = dcr__v1__room_ref__get_packed_size(&ref);
		if ((body = malloc(body_len + 1)))
			dcr__v1__room_ref__pack(&ref, body);
	} else if (argc == 9) {
		Dcr__V1__JobRef ref = DCR__V1__JOB_REF__INIT;

		ref.room_id = argv[7];
		ref.job_id = argv[8];
		body_len = dcr__v1__job_ref__get_packed_size(&ref);
		if ((body = malloc(body_len + 1)))
			dcr__v1__job_ref__pack(&ref, body);
	}
	if (argc > 7 && !body) {
		fprintf(stderr, "replay-call: out of memory\n");
		return 1;
	}
	if (dcr_specs_load(argv[2], &specs, &err) < 0 || dcr_identity_load(argv[3], &id, &err) < 0) {
		fprintf(stderr, "replay-call: %s\n", err.msg);
		return 1;
	}
	dcr_client_init(&client, argv[1], specs, id);
	if (dcr_client_attest(&client, &err) < 0 ||
	    dcr_call_seal(id, &client.enclave.keys, method, body, body_len,
		    stamp ? stamp : dcr_now_ms() + (int64_t)skew * 1000, &ctx, &req, &req_len, &err) < 0) {
		fprintf(stderr, "replay-call: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < count; i++) {
		uint8_t *resp = NULL, *answer = NULL;
		size_t resp_len = 0, answer_len = 0;
		char *message = NULL;
		int code = 0;

		if (i > 0 && !fgets(line, sizeof(line), stdin))
			break;
		if (dcr_http(argv[1], "POST", "/v1/call", "message/ohttp-req", req, req_len, 1 << 20, &resp, &resp_len,
			    &err) < 0 ||
		    dcr_call_open_result(&ctx, resp, resp_len, &code, &message, &answer, &answer_len, &err) < 0)
			printf("error %d: %s\n", dcr_err_exit_status(err.code), err.msg);
		else if (code == 0) {
			Dcr__V1__FetchResponse *fr = strcmp(method, "job.fetch") == 0 ?
				dcr__v1__fetch_response__unpack(NULL, answer_len, answer) : NULL;

			printf("ok\n");
			if (fr && fr->blob_id && *fr->blob_id)
				printf("blob %s %s\n", fr->blob_id, fr->download_token);
			dcr__v1__fetch_response__free_unpacked(fr, NULL);
		}
		else
			printf("refused %d: %s\n", dcr_err_exit_status(code), message);
		fflush(stdout);
		free(resp);
		free(answer);
		free(message);
	}
	free(req);
	free(body);
	dcr_ohttp_ctx_release(&ctx);
	dcr_client_release(&client);
	dcr_identity_free(id);
	dcr_specs_free(specs);
	return 0;
}
