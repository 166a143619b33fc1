/* Python computations: a room's python computation as a sandbox job (sandbox.h), with dcr's helper module. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "work.h"

#include "banned.h"

#define OUTPUT_DEFAULT "/output"
#define TIME_DEFAULT_MS 60000
#define MEMORY_DEFAULT (UINT64_C(1) << 30)
#define SCRIPT_PATH_MAX 4096

/* The helper module computations may import (PYTHONPATH=/opt/dcr); documented in dcr-room(5). */
static const char enclave_py[] =
	"'''Inputs and output of a python computation in a dcr sandbox.\n"
	"\n"
	"    from dcr_enclave import Enclave\n"
	"\n"
	"    with Enclave() as e:\n"
	"        import secret_module            # a code node the computation mounts\n"
	"        for path, data in e.inputs():   # every data input under /input, by path\n"
	"            ...\n"
	"        e.write(result)                 # bytes (or str) to the output's result.bin\n"
	"\n"
	"The inputs are read-only under /input. A code node the computation mounts\n"
	"is the module /code/NODE.py (/code is on sys.path), and at its mount path\n"
	"under /input a symbolic link to it: code, never among the inputs. The\n"
	"output directory is $DCR_OUTPUT (the room's output, /output by default):\n"
	"what it holds when the command ends is the computation's result.\n"
	"'''\n"
	"import os\n"
	"\n"
	"__all__ = ['Enclave']\n"
	"\n"
	"CODE_DIR = '/code'\n"
	"\n"
	"\n"
	"class Enclave:\n"
	"    '''The sandbox's inputs and output directory.'''\n"
	"\n"
	"    def __init__(self, input_dir='/input', output_dir=None):\n"
	"        self.input_dir = input_dir\n"
	"        self.output_dir = output_dir or os.environ.get('DCR_OUTPUT', '/output')\n"
	"\n"
	"    def __enter__(self):\n"
	"        return self\n"
	"\n"
	"    def __exit__(self, *exc):\n"
	"        return False\n"
	"\n"
	"    def paths(self):\n"
	"        '''The path of every data input under the input directory, sorted;\n"
	"        code (a file that resolves into /code) is left out.'''\n"
	"        found = []\n"
	"        for top, _, files in os.walk(self.input_dir):\n"
	"            for name in files:\n"
	"                path = os.path.join(top, name)\n"
	"                if os.path.commonpath([os.path.realpath(path), CODE_DIR]) != CODE_DIR:\n"
	"                    found.append(path)\n"
	"        return sorted(found)\n"
	"\n"
	"    def inputs(self):\n"
	"        '''(path, bytes) of every data input, sorted by path.'''\n"
	"        for path in self.paths():\n"
	"            yield path, self.read_file(path)\n"
	"\n"
	"    def read(self, path=None):\n"
	"        '''The bytes of one input (path as for read_file); without a path,\n"
	"        those of every data input, one after another, sorted by path.'''\n"
	"        if path is not None:\n"
	"            return self.read_file(path)\n"
	"        return (data for _, data in self.inputs())\n"
	"\n"
	"    def read_file(self, path):\n"
	"        '''The bytes of one input; a relative path is under the input directory.'''\n"
	"        with open(os.path.join(self.input_dir, path), 'rb') as f:\n"
	"            return f.read()\n"
	"\n"
	"    def write(self, data, name='result.bin'):\n"
	"        '''Write data (bytes, or str as UTF-8) to name, a relative path in the\n"
	"        output directory, making its directories; returns the file's path.'''\n"
	"        parts = name.split('/')\n"
	"        if name.startswith('/') or any(p in ('', '.', '..') for p in parts):\n"
	"            raise ValueError('not a relative path inside the output directory: %r' % name)\n"
	"        if isinstance(data, str):\n"
	"            data = data.encode('utf-8')\n"
	"        path = os.path.join(self.output_dir, name)\n"
	"        os.makedirs(os.path.dirname(path), exist_ok=True)\n"
	"        with open(path, 'wb') as f:\n"
	"            f.write(data)\n"
	"        return path\n";

void py_limits(const Dcr__V1__PythonComputation *pc, uint64_t *time_ms, uint64_t *memory)
{
	*time_ms = pc->time_limit_ms ? pc->time_limit_ms : TIME_DEFAULT_MS;
	*memory = pc->memory_limit_bytes ? pc->memory_limit_bytes : MEMORY_DEFAULT;
}

int py_run(const Dcr__V1__PythonComputation *pc, const struct sandbox_file *files, size_t n_files,
	uint64_t max_time_ms, struct sandbox_result *out, struct dcr_err *err)
{
	char script[SCRIPT_PATH_MAX + 1];
	char *default_cmd[] = { "python3", script };
	struct sandbox_job job = {
		.argv = pc->command,
		.argc = pc->n_command,
		.output = pc->output && *pc->output ? pc->output : OUTPUT_DEFAULT,
		.n_files = n_files + 1,
	};
	struct sandbox_file *all;
	int r;

	memset(out, 0, sizeof(*out));
	py_limits(pc, &job.time_ms, &job.memory);
	if (max_time_ms && max_time_ms < job.time_ms)
		job.time_ms = max_time_ms;
	if (!job.argc) {
		/* The room compiles the default in; this is for a definition that left it out. */
		if (pc->code_node && *pc->code_node)
			snprintf(script, sizeof(script), "/code/%s.py", pc->code_node);
		else if (pc->script_name && *pc->script_name)
			snprintf(script, sizeof(script), "/code/%s", pc->script_name);
		else
			return dcr_err_set(err, DCR_EINVALID, "the python computation has neither a command nor a script");
		job.argv = default_cmd;
		job.argc = 2;
	}
	if (n_files > SIZE_MAX / sizeof(*all) - 1 || !(all = calloc(n_files + 1, sizeof(*all))))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory starting the python sandbox");
	all[0] = (struct sandbox_file){ "/opt/dcr/dcr_enclave.py", -1, (const uint8_t *)enclave_py,
		sizeof(enclave_py) - 1 };
	if (n_files)
		memcpy(all + 1, files, n_files * sizeof(*files));
	job.files = all;
	r = sandbox_run(&job, out, err);
	free(all);
	return r;
}

int py_check(const char *name, const Dcr__V1__PythonComputation *pc, const struct job_bounds *lim,
	const char *refused, int code, struct dcr_err *err)
{
	uint64_t time_ms, memory;
	char want[32], max[32];

	py_limits(pc, &time_ms, &memory);
	if (refused)
		return dcr_err_set(err, code, "computation '%s' is python, which this dcrd refuses: %s", name, refused);
	if (!sandbox_report()->available)
		return dcr_err_set(err, code, "computation '%s' is python, and this dcrd cannot run python: %s", name,
			sandbox_report()->reason);
	if (lim && time_ms > lim->time_ms) {
		dcr_duration_format(time_ms, want);
		dcr_duration_format(lim->time_ms, max);
		return dcr_err_set(err, code, "computation '%s' asks for a time limit of %s; this dcrd allows at most %s "
			"(dcrd serve --max-job-time)", name, want, max);
	}
	if (lim && memory > lim->memory) {
		dcr_size_format(memory, want);
		dcr_size_format(lim->memory, max);
		return dcr_err_set(err, code, "computation '%s' asks for a memory limit of %s; this dcrd allows at most "
			"%s (dcrd serve --max-job-memory)", name, want, max);
	}
	return 0;
}

int py_check_room(const Dcr__V1__RoomDefinition *def, const struct job_bounds *lim, const char *refused, int code,
	struct dcr_err *err)
{
	int r;

	for (size_t i = 0; i < def->n_compute; i++)
		if (def->compute[i]->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON &&
		    (r = py_check(def->compute[i]->name, def->compute[i]->python, lim, refused, code, err)) < 0)
			return r;
	return 0;
}
