/* Test helper: whether other calls are served while dcrd validates a room.create, or wait for it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "call.h"
#include "client.h"
#include "fileio.h"
#include "room.h"
#include "specs.h"
#include "util.h"
#include "ydoc.h"

/*
 * usage: create-race ENDPOINT SPECS CREATOR_DIR ROOM.yaml OTHER_DIR OTHER_ROOM [FILE]...
 *
 * Compiles ROOM.yaml as dcr create does, with the FILEs it names (paths
 * relative to the working directory, as the definition writes them), seals
 * its room.create call for CREATOR_DIR's identity, and sends it on a plain
 * socket from a second thread. Once the request is written, the main
 * thread makes room.status calls for OTHER_ROOM as OTHER_DIR, one after
 * another, until the create is answered, and counts those answered before
 * it. If dcrd held every call while validating, none would be. Prints:
 *   create: ok | create: refused CODE: MESSAGE
 *   statuses answered during the create: N
 *   create took MS ms; statuses took at most MS ms
 */

struct race {
	const char *host;
	int port;
	uint8_t *req;
	size_t req_len;
	uint8_t *resp;
	size_t resp_len;
	atomic_int sent, done;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* POST the sealed call with HTTP/1.1 and Connection: close; the answer's body in r->resp. */
static void *send_create(void *arg)
{
	struct race *r = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r->port) };
	char head[256];
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), n;

	inet_pton(AF_INET, r->host, &sa.sin_addr);
	n = snprintf(head, sizeof(head), "POST /v1/call HTTP/1.1\r\nHost: %s\r\nContent-Type: message/ohttp-req\r\n"
					 "Content-Length: %zu\r\nConnection: close\r\n\r\n", r->host, r->req_len);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, head, (size_t)n) != n ||
	    write(fd, r->req, r->req_len) != (ssize_t)r->req_len) {
		atomic_store(&r->sent, 1);
		atomic_store(&r->done, 1);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	atomic_store(&r->sent, 1);
	for (;;) {
		ssize_t got;

		if (len == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 65536)))
			break;
		if ((got = read(fd, buf + len, cap - len)) <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	atomic_store(&r->done, 1);
	if (buf) {
		uint8_t *body = NULL;

		for (size_t i = 0; i + 4 <= len && !body; i++)
			if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
				body = buf + i + 4;
		if (body && (r->resp = malloc(len - (size_t)(body - buf) + 1))) {
			r->resp_len = len - (size_t)(body - buf);
			memcpy(r->resp, body, r->resp_len);
		}
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	Dcr__V1__CreateRoomRequest cr = DCR__V1__CREATE_ROOM_REQUEST__INIT;
	Dcr__V1__RoomRef ref = DCR__V1__ROOM_REF__INIT;
	struct dcr_identity *creator = NULL, *other = NULL;
	struct dcr_specs *specs = NULL;
	struct dcr_client cc, oc;
	struct dcr_ohttp_ctx ctx = { 0 };
	struct dcr_room *room = NULL;
	struct race race = { .host = "127.0.0.1" };
	struct dcr_err err;
	Dcr__V1__NamedFile files[16], *file_ptrs[16];
	uint8_t *yaml = NULL, *body = NULL, *ref_body = NULL, *out = NULL;
	size_t yaml_len = 0, body_len, ref_len, out_len;
	int64_t start, slowest = 0;
	unsigned long served = 0;
	char *message = NULL;
	pthread_t thread;
	int code = 0;

	if (argc < 7 || argc > 7 + 16 || sscanf(argv[1], "http://127.0.0.1:%d", &race.port) != 1) {
		fprintf(stderr, "usage: create-race http://127.0.0.1:PORT SPECS CREATOR_DIR ROOM.yaml OTHER_DIR OTHER_ROOM "
				"[FILE]...\n");
		return 2;
	}
	for (int i = 7; i < argc; i++) {
		Dcr__V1__NamedFile *f = &files[i - 7];

		dcr__v1__named_file__init(f);
		f->path = argv[i];
		if (dcr_read_file(argv[i], 1 << 20, &f->content.data, &f->content.len, &err) < 0) {
			fprintf(stderr, "create-race: %s\n", err.msg);
			return 1;
		}
		file_ptrs[i - 7] = f;
	}
	if (dcr_specs_load(argv[2], &specs, &err) < 0 || dcr_identity_load(argv[3], &creator, &err) < 0 ||
	    dcr_identity_load(argv[5], &other, &err) < 0 ||
	    dcr_read_file(argv[4], DCR_YDOC_MAX_INPUT, &yaml, &yaml_len, &err) < 0 ||
	    dcr_room_parse(argv[4], yaml, yaml_len, NULL, specs, "", &room, &err) < 0) {
		fprintf(stderr, "create-race: %s\n", err.msg);
		return 1;
	}
	dcr_client_init(&cc, argv[1], specs, creator);
	dcr_client_init(&oc, argv[1], specs, other);
	cr.file_name = "room.yaml";
	cr.yaml = (char *)yaml;
	cr.enclave_spec = dcr_room_definition(room)->enclave->name;
	cr.enclave = dcr_room_definition(room)->enclave;
	cr.expected_room_id = (char *)dcr_room_id(room);
	cr.salt = "";
	cr.files = file_ptrs;
	cr.n_files = (size_t)argc - 7;
	body_len = dcr__v1__create_room_request__get_packed_size(&cr);
	ref.room_id = argv[6];
	ref_len = dcr__v1__room_ref__get_packed_size(&ref);
	if (!(body = malloc(body_len)) || !(ref_body = malloc(ref_len + 1))) {
		fprintf(stderr, "create-race: out of memory\n");
		return 1;
	}
	dcr__v1__create_room_request__pack(&cr, body);
	dcr__v1__room_ref__pack(&ref, ref_body);
	/* Attested and warmed up before the race: only the calls themselves are timed. */
	if (dcr_client_attest(&cc, &err) < 0 || dcr_client_attest(&oc, &err) < 0 ||
	    dcr_client_call_room(&oc, argv[6], "room.status", ref_body, ref_len, &out, &out_len, &err) < 0 ||
	    dcr_call_seal(creator, &cc.enclave.keys, "room.create", body, body_len, dcr_now_ms(), &ctx, &race.req,
		    &race.req_len, &err) < 0) {
		fprintf(stderr, "create-race: %s\n", err.msg);
		return 1;
	}
	free(out);
	out = NULL;
	start = mono_ms();
	if (pthread_create(&thread, NULL, send_create, &race) != 0) {
		fprintf(stderr, "create-race: cannot start a thread\n");
		return 1;
	}
	while (!atomic_load(&race.sent))
		sched_yield();
	while (!atomic_load(&race.done)) {
		int64_t t = mono_ms();

		if (dcr_client_call_room(&oc, argv[6], "room.status", ref_body, ref_len, &out, &out_len, &err) < 0) {
			fprintf(stderr, "create-race: room.status: %s\n", err.msg);
			break;
		}
		free(out);
		out = NULL;
		if (mono_ms() - t > slowest)
			slowest = mono_ms() - t;
		if (!atomic_load(&race.done))
			served++;
	}
	pthread_join(thread, NULL);
	if (!race.resp || dcr_call_open_result(&ctx, race.resp, race.resp_len, &code, &message, &out, &out_len, &err) < 0)
		printf("create: no answer\n");
	else if (code == 0)
		printf("create: ok\n");
	else
		printf("create: refused %d: %s\n", dcr_err_exit_status(code), message);
	printf("statuses answered during the create: %lu\n", served);
	printf("create took %lld ms; statuses took at most %lld ms\n", (long long)(mono_ms() - start),
		(long long)slowest);
	free(message);
	free(out);
	free(race.req);
	free(race.resp);
	free(body);
	free(ref_body);
	free(yaml);
	for (int i = 7; i < argc; i++)
		free(files[i - 7].content.data);
	dcr_ohttp_ctx_release(&ctx);
	dcr_room_free(room);
	dcr_client_release(&cc);
	dcr_client_release(&oc);
	dcr_identity_free(creator);
	dcr_identity_free(other);
	dcr_specs_free(specs);
	return 0;
}
