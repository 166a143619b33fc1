/* The command table: one place that drives dispatch, help, and completion. */
#include <string.h>

#include "dcr.h"

#include "banned.h"

const struct option_spec global_options[] = {
	{ "endpoint", 'e', ARG_VALUE, "URL", "dcrd endpoint (default $DCR_ENDPOINT or http://127.0.0.1:7443)" },
	{ "identity", 'i', ARG_DIR, "DIR", "identity directory (default $XDG_CONFIG_HOME/dcr)" },
	{ "specs", 0, ARG_FILE, "FILE", "trusted enclave specifications (default $DCR_SPECS)" },
	{ "json", 0, ARG_NONE, NULL, "print one JSON document instead of text" },
	{ "quiet", 'q', ARG_NONE, NULL, "print only errors" },
	{ "verbose", 'v', ARG_NONE, NULL, "print more detail on stderr" },
	{ "help", 'h', ARG_NONE, NULL, "show help and exit" },
	{ "version", 0, ARG_NONE, NULL, "show the version and exit" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const struct option_spec no_options[] = { { NULL, 0, ARG_NONE, NULL, NULL } };

static const char *const auth_subcommands[] = { "keygen", "ca", "import", "login", "whoami", NULL };
static const struct option_spec auth_options[] = {
	{ "email", 0, ARG_VALUE, "E", "e-mail address of the identity" },
	{ "token", 0, ARG_VALUE, "T", "one-time API token from the platform ('-': read it from standard input)" },
	{ "name", 0, ARG_VALUE, "N", "name of the organisation CA" },
	{ "dir", 0, ARG_DIR, "D", "directory of the organisation CA" },
	{ "days", 0, ARG_VALUE, "N", "validity of an issued certificate in days" },
	{ "output", 'o', ARG_FILE, "FILE", "where to write the issued certificate" },
	{ "force", 0, ARG_NONE, NULL, "replace an existing key or certificate" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const struct option_spec attest_options[] = {
	{ "evidence", 0, ARG_FILE, "FILE", "verify this SGX quote or SEV-SNP report offline instead of asking dcrd" },
	{ "collateral", 0, ARG_FILE, "FILE", "the quote's collateral (JSON) for offline verification" },
	{ "cert-chain", 0, ARG_FILE, "FILE", "the SEV-SNP report's VCEK and ASK (PEM) for offline verification" },
	{ "root-ca", 0, ARG_FILE, "FILE", "the pinned root: Intel SGX Root CA or AMD ARK (DER or PEM)" },
	{ "at", 0, ARG_VALUE, "TIME", "verification time, UTC, like 2025-07-01T00:00:00Z (default now)" },
	{ "spec", 0, ARG_VALUE, "NAME", "accept only this trusted spec (default: any that matches)" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const struct option_spec create_options[] = {
	{ "dry-run", 0, ARG_NONE, NULL, "validate and print the room ID without creating the room" },
	{ "salt", 0, ARG_VALUE, "TEXT", "distinguish this room from others made from the same file" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const struct option_spec upload_options[] = {
	{ "name", 0, ARG_VALUE, "NAME", "the name listings show (default: the file's name)" },
	{ "resume", 0, ARG_VALUE, "DATASET", "finish an interrupted upload instead of starting one" },
	{ "limit-rate", 0, ARG_VALUE, "RATE", "send at most RATE bytes a second (like 500K, 10M, 1G)" },
	{ "delete", 0, ARG_VALUE, "DATASET", "delete an upload of yours from dcrd, and its key" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const struct option_spec publish_options[] = {
	{ "name", 0, ARG_VALUE, "NAME", "for a FILE: the name listings show (default: the file's name)" },
	{ "limit-rate", 0, ARG_VALUE, "RATE", "for a FILE: send at most RATE bytes a second (like 500K, 10M, 1G)" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const struct option_spec uploads_options[] = {
	{ "forget", 0, ARG_VALUE, "DATASET", "remove a dataset's key from the keystore, after confirmation" },
	{ "yes", 'y', ARG_NONE, NULL, "with --forget: do not ask" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const struct option_spec run_options[] = {
	{ "wait", 0, ARG_NONE, NULL, "wait for the job to finish" },
	{ "output", 'o', ARG_FILE, "FILE", "wait, then write the result to FILE ('-': standard output)" },
	{ "raw-logs", 0, ARG_NONE, NULL, "with -o: show the job's logs byte for byte, control characters included" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const struct option_spec fetch_options[] = {
	{ "output", 'o', ARG_FILE, "FILE", "write the result to FILE ('-' or default: standard output)" },
	{ "extract", 0, ARG_DIR, "DIR", "unpack a ZIP result into DIR" },
	{ "file", 0, ARG_VALUE, "NAME", "write only the file NAME of a ZIP result" },
	{ "raw-logs", 0, ARG_NONE, NULL, "show the job's logs byte for byte, control characters included" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const char *const audit_subcommands[] = { "verify", NULL };
static const struct option_spec audit_options[] = {
	{ "export", 0, ARG_FILE, "FILE", "write the log with proofs and evidence to FILE" },
	{ NULL, 0, ARG_NONE, NULL, NULL },
};

static const char *const completion_subcommands[] = { "bash", "zsh", "fish", NULL };

const struct command commands[] = {
	{ "auth", cmd_auth,
	  "keygen --email E [--force] | ca init --name N [--dir D] | ca issue CSR [--dir D] [-o CERT] [--days N] | import CERT | login --email E --token T [--force] | whoami",
	  "manage your identity: keys, certificates, organisation CA, platform login", auth_subcommands, auth_options, 0 },
	{ "attest", cmd_attest, "[--spec NAME] | --evidence FILE {--collateral FILE | --cert-chain FILE} --root-ca FILE [--at TIME] [--spec NAME]",
	  "fetch and verify the enclave's attestation evidence", NULL, attest_options, CMD_NEEDS_ENCLAVE },
	{ "create", cmd_create, "ROOM.yaml [--dry-run] [--salt TEXT]",
	  "validate a room definition and create the room", NULL, create_options,
	  CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "rooms", cmd_rooms, "[ROOM]",
	  "list the rooms you take part in, or show one", NULL, no_options,
	  CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "show", cmd_show, "ROOM [NODE]",
	  "print a room's definition as created and its scripts, checked against the room ID", NULL, no_options,
	  CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "status", cmd_status, "ROOM",
	  "show a room's status", NULL, no_options, CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "stop", cmd_stop, "ROOM",
	  "stop a room for good", NULL, no_options, CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "upload", cmd_upload,
	  "FILE|- [--name NAME] [--limit-rate RATE] | --resume DATASET [--limit-rate RATE] | --delete DATASET",
	  "encrypt a file (or standard input) locally and upload the ciphertext", NULL, upload_options,
	  CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "publish", cmd_publish, "ROOM NODE DATASET | ROOM NODE FILE|- [--name NAME] [--limit-rate RATE]",
	  "release an uploaded dataset's key to a room's data node, or upload a file and do so", NULL,
	  publish_options, CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "uploads", cmd_uploads, "[--json] | --forget DATASET [--yes]",
	  "list your uploads from the local keystore, or forget one's key", NULL, uploads_options, 0 },
	{ "datasets", cmd_datasets, "ROOM",
	  "list the datasets published to a room", NULL, no_options,
	  CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "run", cmd_run, "ROOM COMPUTATION [--wait] [-o FILE [--raw-logs]]",
	  "run a computation", NULL, run_options, CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "fetch", cmd_fetch, "JOB [-o FILE] [--file NAME] [--extract DIR] [--raw-logs]",
	  "fetch and decrypt a job's result", NULL, fetch_options,
	  CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "jobs", cmd_jobs, "ROOM",
	  "list a room's jobs", NULL, no_options, CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "audit", cmd_audit, "ROOM [--export FILE] | verify FILE",
	  "verify and show a room's audit log, or verify an export offline", audit_subcommands,
	  audit_options, CMD_NEEDS_IDENTITY | CMD_NEEDS_ENCLAVE },
	{ "version", cmd_version, "",
	  "show the version", NULL, no_options, 0 },
	{ "help", cmd_help, "[COMMAND]",
	  "show help for dcr or for a command", NULL, no_options, CMD_COMPLETES_COMMANDS },
	{ "completion", cmd_completion, "bash|zsh|fish",
	  "print a shell completion script", completion_subcommands, no_options, 0 },
	{ NULL, NULL, NULL, NULL, NULL, NULL, 0 },
};

const struct command *command_find(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}
