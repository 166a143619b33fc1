/* Unit tests for cmd/dcrd/sandbox.c (through pywork.c): real scripts in the real bubblewrap sandbox, and every wall it must hold. */
#define _GNU_SOURCE /* syscall, the system call numbers, setresuid */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include <cmocka.h>

#include "sandbox-impl.h"
#include "work.h"

#include <linux/seccomp.h>

#define MiB (UINT64_C(1) << 20)

static bool sandbox_ok;
static char sandbox_why[DCR_ERR_MSG_MAX];
static uid_t sandbox_uid;  /* who the sandbox is on the host */
static bool sandbox_cgroup; /* jobs run in cgroups (as root on most hosts) */
static char sandbox_desc[3 * 4096];

/* ---- helpers ---- */

static char *read_source(const char *rel, size_t *len)
{
	const char *root = getenv("SOURCE_ROOT");
	char path[4096];
	struct stat st;
	char *data;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	data = malloc((size_t)st.st_size + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	data[st.st_size] = '\0';
	fclose(f);
	*len = (size_t)st.st_size;
	return data;
}

static struct sandbox_file text_file(const char *path, const char *text)
{
	return (struct sandbox_file){ .path = path, .fd = -1, .data = (const uint8_t *)text, .len = strlen(text) };
}

/*
 * Run script as /code/main.py with the extra files, in a sandbox with the
 * given limits (0: the defaults) and output directory (NULL: /output).
 */
static int run_script(const char *script, const struct sandbox_file *extra, size_t n_extra, uint64_t time_ms,
	uint64_t mem, const char *output, struct sandbox_result *res, struct dcr_err *err)
{
	char *cmd[] = { "python3", "/code/main.py" };
	struct sandbox_file files[16];
	Dcr__V1__PythonComputation pc = DCR__V1__PYTHON_COMPUTATION__INIT;

	assert_true(n_extra < 15);
	files[0] = text_file("/code/main.py", script);
	if (n_extra)
		memcpy(files + 1, extra, n_extra * sizeof(*extra));
	pc.script_name = "main.py";
	pc.command = cmd;
	pc.n_command = 2;
	pc.output = (char *)(output ? output : "/output");
	pc.time_limit_ms = time_ms ? time_ms : 30000;
	pc.memory_limit_bytes = mem ? mem : 512 * MiB;
	return py_run(&pc, files, n_extra + 1, 0, res, err);
}

static void result_free(struct sandbox_result *res)
{
	free(res->zip);
	free(res->logs);
	memset(res, 0, sizeof(*res));
}

static zip_t *zip_open_mem(const struct sandbox_result *res)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;

	assert_non_null(res->zip);
	zip_error_init(&ze);
	src = zip_source_buffer_create(res->zip, res->zip_len, 0, &ze);
	assert_non_null(src);
	za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (!za)
		fail_msg("not a ZIP: %s", zip_error_strerror(&ze));
	zip_error_fini(&ze);
	return za;
}

/* The contents of name in the result's ZIP, NUL-ended, or NULL when it is not there. */
static char *zip_get(const struct sandbox_result *res, const char *name, size_t *len)
{
	zip_t *za = zip_open_mem(res);
	zip_stat_t st;
	zip_file_t *zf;
	char *data = NULL;

	if (zip_stat(za, name, 0, &st) == 0) {
		data = malloc(st.size + 1);
		assert_non_null(data);
		zf = zip_fopen(za, name, 0);
		assert_non_null(zf);
		assert_int_equal(zip_fread(zf, data, st.size), (zip_int64_t)st.size);
		zip_fclose(zf);
		data[st.size] = '\0';
		if (len)
			*len = st.size;
	}
	zip_discard(za);
	return data;
}

/* The names in the result's ZIP, in order, joined by spaces. */
static void zip_names(const struct sandbox_result *res, char *out, size_t size)
{
	zip_t *za = zip_open_mem(res);
	zip_int64_t n = zip_get_num_entries(za, 0);
	size_t len = 0;

	out[0] = '\0';
	for (zip_int64_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%s", i ? " " : "", zip_get_name(za, (zip_uint64_t)i, 0));
	zip_discard(za);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;  /* the directory's own */
}

/* Whether any process on the host has marker in its command line. */
static bool process_with(const char *marker)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		char path[300], line[4096];
		size_t n;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if (!(f = fopen(path, "rb")))
			continue;
		n = fread(line, 1, sizeof(line) - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i++)
			if (!line[i])
				line[i] = ' ';
		line[n] = '\0';
		found = strstr(line, marker) != NULL;
	}
	closedir(d);
	return found;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Tests of the real sandbox skip where it cannot run, but fail where it
 * must (DCR_REQUIRE_SANDBOX=1, as .ci/run sets: CI hosts run it), so a
 * host that lost user namespaces does not pass them silently.
 */
static bool sandbox_required(void)
{
	const char *v = getenv("DCR_REQUIRE_SANDBOX");

	return v && strcmp(v, "1") == 0;
}

#define NEED_SANDBOX()                                                                          \
	do {                                                                                    \
		if (!sandbox_ok) {                                                              \
			if (sandbox_required())                                                 \
				fail_msg("the sandbox does not work here, and DCR_REQUIRE_SANDBOX=1 " \
					 "requires it: %s", sandbox_why);                       \
			print_message("skipped: %s\n", sandbox_why);                           \
			skip();                                                                 \
		}                                                                               \
	} while (0)

/* ---- the examples ---- */

static void test_uppercase(void **state)
{
	Dcr__V1__PythonComputation pc = DCR__V1__PYTHON_COMPUTATION__INIT;
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	size_t script_len, text_len, len;
	char *script = read_source("examples/uppercase/uppercase.py", &script_len);
	char *text = read_source("examples/uppercase/text.txt", &text_len);
	struct sandbox_file files[] = {
		{ "/code/uppercase.py", -1, (uint8_t *)script, script_len },
		{ "/input/text.txt", -1, (uint8_t *)text, text_len },
	};
	char *upper;

	NEED_SANDBOX();
	/* No command: the default, python3 /code/uppercase.py */
	pc.script_name = "uppercase.py";
	pc.time_limit_ms = 60000;
	pc.memory_limit_bytes = 256 * MiB;
	assert_int_equal(py_run(&pc, files, 2, 0, &res, &err), 0);
	assert_int_equal(res.exit_status, 0);
	upper = zip_get(&res, "upper.txt", &len);
	assert_non_null(upper);
	assert_int_equal(len, text_len);
	for (size_t i = 0; i < text_len; i++)
		text[i] = (char)(text[i] >= 'a' && text[i] <= 'z' ? text[i] - 32 : text[i]);
	assert_memory_equal(upper, text, len);
	assert_non_null(strstr(res.logs, "upper-cased"));
	assert_int_equal(strlen(res.logs), res.logs_len);
	free(upper);
	result_free(&res);
	free(script);
	free(text);
}

static void test_secret_code(void **state)
{
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	size_t main_len, secret_len, csv_len;
	char *main_py = read_source("examples/secret-code/main.py", &main_len);
	char *secret = read_source("examples/secret-code/provider/secret.py", &secret_len);
	char *csv = read_source("examples/secret-code/applicants.csv", &csv_len);
	struct sandbox_file files[] = {
		{ "/code/main.py", -1, (uint8_t *)main_py, main_len },
		{ "/input/data.csv", -1, (uint8_t *)csv, csv_len },
		{ "/input/secret.py", -1, (uint8_t *)secret, secret_len },
	};
	char *cmd[] = { "python3", "/code/main.py" };
	Dcr__V1__PythonComputation pc = DCR__V1__PYTHON_COMPUTATION__INIT;
	char *json;

	NEED_SANDBOX();
	pc.script_name = "main.py";
	pc.command = cmd;
	pc.n_command = 2;
	pc.output = "/output";
	pc.time_limit_ms = 5 * 60000;
	pc.memory_limit_bytes = 1024 * MiB;
	assert_int_equal(py_run(&pc, files, 3, 0, &res, &err), 0);
	json = zip_get(&res, "result.json", NULL);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"count\": 6"));
	assert_non_null(strstr(json, "\"model\": \"carol-risk-v3\""));
	assert_non_null(strstr(json, "\"a-006\""));
	free(json);
	result_free(&res);
	free(main_py);
	free(secret);
	free(csv);
}

/* ---- what the script sees ---- */

static void test_enclave_helper(void **state)
{
	static const char script[] =
		"from dcr_enclave import Enclave\n"
		"with Enclave() as e:\n"
		"    lines = ['%s %d' % (p, len(d)) for p, d in e.inputs()]\n"
		"    lines.append('sum %d' % sum(len(d) for d in e.read()))\n"
		"    lines.append(e.read_file('sub/b.bin').decode())\n"
		"    e.write('\\n'.join(lines) + '\\n')\n"
		"    e.write(b'x', name='more/x.txt')\n"
		"    try:\n"
		"        e.write(b'', name='../escape')\n"
		"    except ValueError:\n"
		"        print('refused')\n";
	struct sandbox_file extra[] = { text_file("/input/a.csv", "a,b\n1,2\n"), text_file("/input/sub/b.bin", "bee") };
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	char *out, names[256];

	NEED_SANDBOX();
	assert_int_equal(run_script(script, extra, 2, 0, 0, NULL, &res, &err), 0);
	out = zip_get(&res, "result.bin", NULL);
	assert_non_null(out);
	assert_string_equal(out, "/input/a.csv 8\n/input/sub/b.bin 3\nsum 11\nbee\n");
	zip_names(&res, names, sizeof(names));
	assert_string_equal(names, "more/ more/x.txt result.bin");
	assert_non_null(strstr(res.logs, "refused"));
	free(out);
	result_free(&res);
}

static void test_no_network(void **state)
{
	static const char script[] =
		"import socket\n"
		"print('interfaces', [n for _, n in socket.if_nameindex()])\n"
		"try:\n"
		"    socket.create_connection(('1.1.1.1', 53), timeout=5)\n"
		"    print('connected')\n"
		"except OSError as e:\n"
		"    print('connect failed:', e.strerror)\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 0, 0, NULL, &res, &err), 0);
	assert_null(strstr(res.logs, "connected"));
	assert_non_null(strstr(res.logs, "connect failed: Network is unreachable"));
	assert_non_null(strstr(res.logs, "interfaces ['lo']"));
	result_free(&res);
}

static void test_read_only(void **state)
{
	static const char script[] =
		"import os\n"
		"def attempt(what, f):\n"
		"    try:\n"
		"        f()\n"
		"        print(what, 'WRITABLE')\n"
		"    except OSError as e:\n"
		"        print(what, 'refused', e.errno)\n"
		"attempt('input', lambda: open('/input/t.txt', 'a').write('x'))\n"
		"attempt('input-new', lambda: open('/input/new', 'w'))\n"
		"attempt('code', lambda: open('/code/main.py', 'a').write('x'))\n"
		"attempt('root', lambda: open('/new', 'w'))\n"
		"attempt('usr', lambda: open('/usr/new', 'w'))\n"
		"attempt('usr-local', lambda: open('/usr/local/new', 'w'))\n"
		"attempt('opt', lambda: open('/opt/dcr/run.py', 'a'))\n"
		"attempt('etc', lambda: open('/etc/passwd', 'a'))\n"
		"attempt('dev', lambda: open('/dev/new', 'w'))\n"
		"open('/tmp/scratch', 'w').write('fine')\n"
		"open('/dev/shm/sem', 'w').write('fine')\n"
		"print('tmp', open('/tmp/scratch').read(), 'input', open('/input/t.txt').read())\n";
	struct sandbox_file extra[] = { text_file("/input/t.txt", "keep") };
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	assert_int_equal(run_script(script, extra, 1, 0, 0, NULL, &res, &err), 0);
	assert_null(strstr(res.logs, "WRITABLE"));
	assert_non_null(strstr(res.logs, "input refused 30"));  /* EROFS */
	assert_non_null(strstr(res.logs, "input-new refused 30"));
	assert_non_null(strstr(res.logs, "code refused 30"));
	assert_non_null(strstr(res.logs, "root refused"));
	assert_non_null(strstr(res.logs, "usr-local refused"));
	assert_non_null(strstr(res.logs, "dev refused"));
	assert_non_null(strstr(res.logs, "tmp fine input keep"));
	result_free(&res);
}

static void test_host_hidden(void **state)
{
	static const char script[] =
		"import os\n"
		"for p in ['/root', '/work', '/home', '/etc/shadow', '/var', '/srv', '/mnt', '/usr/local/lib',\n"
		"          '/etc/hostname', '/etc/ssh', '/run', '/sys/kernel']:\n"
		"    if os.path.exists(p):\n"
		"        print('VISIBLE', p)\n"
		"print('etc', sorted(os.listdir('/etc')))\n"
		"print('local', sorted(os.listdir('/usr/local')), os.listdir('/usr/local/bin'),\n"
		"      os.readlink('/usr/local/bin/python'))\n"
		"print('root', sorted(os.listdir('/')))\n"
		"print('ids', os.getuid(), os.getgid(), os.uname().nodename)\n"
		"print('env', sorted(os.environ))\n"
		"print('procs', sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[:2])\n"
		"bad = []\n"
		"for fd in os.listdir('/proc/self/fd'):\n"
		"    try:\n"
		"        link = os.readlink('/proc/self/fd/' + fd)\n"
		"    except OSError:\n"
		"        continue\n"
		"    if int(fd) > 2 and not link.startswith('/proc/'):\n"
		"        bad.append(link)\n"
		"print('extra fds', bad)\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 0, 0, NULL, &res, &err), 0);
	assert_null(strstr(res.logs, "VISIBLE"));
	assert_non_null(strstr(res.logs, "etc ['alternatives', 'group', 'passwd']"));
	assert_non_null(strstr(res.logs, "root ['bin', 'code', 'dev', 'etc', 'input', 'lib', 'lib64', 'opt', "
		"'output', 'proc', 'sbin', 'tmp', 'usr']"));
	assert_non_null(strstr(res.logs, "ids 65534 65534 dcr"));
	/* What the host installed in /usr/local stays out; python, python3's usual name, is dcr's. */
	assert_non_null(strstr(res.logs, "local ['bin'] ['python'] /usr/bin/python3"));
	assert_non_null(strstr(res.logs, "env ['DCR_OUTPUT', 'HOME', 'LANG', 'MATPLOTLIBRC', 'MPLBACKEND', 'PATH', "
		"'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONPATH', 'PYTHONSAFEPATH']"));
	assert_non_null(strstr(res.logs, "procs [1, 2]"));  /* bwrap's init, the supervisor: no host processes */
	assert_non_null(strstr(res.logs, "extra fds []"));
	result_free(&res);
}

/* ---- never host root ---- */

/* The pid of the host process whose name (comm) is name, waiting up to a minute; 0 if none. */
static pid_t process_named(const char *name)
{
	for (int tries = 0; tries < 6000; tries++) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		pid_t found = 0;

		assert_non_null(d);
		while (!found && (e = readdir(d))) {
			char path[300], comm[64] = "";
			FILE *f;

			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
			if (strcmp(comm, name) == 0)
				found = (pid_t)strtol(e->d_name, NULL, 10);
		}
		closedir(d);
		if (found)
			return found;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	return 0;
}

/* The line of /proc/PID/FILE that starts with key (or the first line for ""), without its end. */
static void proc_line(pid_t pid, const char *file, const char *key, char *out, size_t size)
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	out[0] = '\0';
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, size, "%s", line);
			break;
		}
	fclose(f);
}

struct probe {
	const char *script;
	struct sandbox_result res;
	struct dcr_err err;
	int ret;
};

static void *probe_run(void *arg)
{
	struct probe *p = arg;

	p->ret = run_script(p->script, NULL, 0, 120000, 0, NULL, &p->res, &p->err);
	return NULL;
}

/*
 * The escape started with the sandbox's user being host root. The
 * proof is on the host's side: the credentials of the sandboxed process
 * as the host sees them. Inside, /proc/self/uid_map says "65534 0 1"
 * either way: bwrap nests a second user namespace (for --disable-userns),
 * and 0 there is the outer namespace's root, not the host's; so the
 * script reports it, and the host reads the same map from outside, where
 * it names the host uid.
 */
static void test_never_host_root(void **state)
{
	char script[512], name[16];
	struct probe p = { .script = script };
	char uid[512], gid[512], groups[512], cap[512], map[512], want[128];
	pthread_t t;
	pid_t pid;

	NEED_SANDBOX();
	/* A name of this run's own: other test runs may probe at the same time. */
	snprintf(name, sizeof(name), "dcr-u%d", (int)getpid());
	snprintf(script, sizeof(script),
		"import ctypes, signal\n"
		"signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
		"ctypes.CDLL(None).prctl(15, b'%s', 0, 0, 0)\n"  /* PR_SET_NAME: ready */
		"signal.sigwait({signal.SIGUSR1})\n"
		"print('inside', ' '.join(open('/proc/self/uid_map').read().split()))\n", name);
	assert_int_equal(pthread_create(&t, NULL, probe_run, &p), 0);
	pid = process_named(name);
	assert_true(pid > 0);
	proc_line(pid, "status", "Uid:", uid, sizeof(uid));
	proc_line(pid, "status", "Gid:", gid, sizeof(gid));
	proc_line(pid, "status", "Groups:", groups, sizeof(groups));
	proc_line(pid, "status", "CapEff:", cap, sizeof(cap));
	proc_line(pid, "uid_map", "", map, sizeof(map));
	kill(pid, SIGUSR1);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (p.ret != 0)
		fail_msg("%s; logs: %s", p.err.msg, p.res.logs ? p.res.logs : "");
	print_message("host %s; %s; uid_map from the host: %s\n", uid, gid, map);
	snprintf(want, sizeof(want), "Uid:\t%u\t%u\t%u\t%u", (unsigned)sandbox_uid, (unsigned)sandbox_uid,
		(unsigned)sandbox_uid, (unsigned)sandbox_uid);
	assert_string_equal(uid, want);
	assert_true(sandbox_uid != 0);
	assert_null(strstr(gid, "\t0\t"));
	assert_int_equal(strspn(groups + 7, " \t"), strlen(groups + 7));  /* no supplementary groups */
	assert_string_equal(cap, "CapEff:\t0000000000000000");
	/* From the host: sandbox uid 65534 is host uid sandbox_uid. */
	snprintf(want, sizeof(want), "%u", (unsigned)sandbox_uid);
	{
		char a[32], b[32], c[32];

		assert_int_equal(sscanf(map, "%31s %31s %31s", a, b, c), 3);
		assert_string_equal(a, "65534");
		assert_string_equal(b, want);
		assert_string_equal(c, "1");
	}
	/* From inside, the nested namespace's view: 0 is not the host's root. */
	assert_non_null(strstr(p.res.logs, "inside 65534 0 1"));
	result_free(&p.res);
}

static char *read_text(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	return buf;
}

/* Nothing in /proc that reaches beyond the sandbox opens for writing; a harmless write is refused (and undone if not). */
static void test_proc_read_only(void **state)
{
	static const char script[] =
		"import os, stat\n"
		"tried = 0\n"
		"for top, dirs, files in os.walk('/proc'):\n"
		"    if top == '/proc':\n"
		"        dirs[:] = [d for d in dirs if not d.isdigit() and d not in ('self', 'thread-self')]\n"
		"    for name in files:\n"
		"        path = os.path.join(top, name)\n"
		"        try:\n"
		"            st = os.lstat(path)\n"
		"        except OSError:\n"
		"            continue\n"
		"        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o222:\n"
		"            continue\n"
		"        tried += 1\n"
		"        try:\n"
		"            os.close(os.open(path, os.O_WRONLY))\n"  /* opened, never written */
		"            print('WRITABLE', path)\n"
		"        except OSError:\n"
		"            pass\n"
		"print('tried', tried)\n"
		"p = '/proc/sys/vm/overcommit_memory'\n"
		"v = open(p).read()\n"
		"try:\n"
		"    with open(p, 'w') as f:\n"
		"        f.write(v)\n"
		"    print('WROTE', p)\n"
		"except OSError as e:\n"
		"    print('overcommit refused', e.errno)\n"
		"try:\n"
		"    open('/proc/sys/kernel/hostname', 'w').write('x')\n"
		"    print('WROTE hostname')\n"
		"except OSError as e:\n"
		"    print('hostname refused', e.errno)\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	char before[256], *after;
	long tried;
	const char *s;
	int r;

	NEED_SANDBOX();
	snprintf(before, sizeof(before), "%s", read_text("/proc/sys/vm/overcommit_memory"));
	r = run_script(script, NULL, 0, 0, 0, NULL, &res, &err);
	after = read_text("/proc/sys/vm/overcommit_memory");
	if (strcmp(after, before) != 0) {
		/* Undo what must never have happened before failing. */
		FILE *f = fopen("/proc/sys/vm/overcommit_memory", "w");

		if (f) {
			fputs(before, f);
			fclose(f);
		}
		fail_msg("the sandbox changed vm.overcommit_memory from %s to %s", before, after);
	}
	if (r != 0)
		fail_msg("%s; logs: %s", err.msg, res.logs ? res.logs : "");
	assert_null(strstr(res.logs, "WRITABLE"));
	assert_null(strstr(res.logs, "WROTE"));
	assert_non_null(strstr(res.logs, "overcommit refused 30"));  /* EROFS */
	assert_non_null(strstr(res.logs, "hostname refused 30"));
	assert_non_null(s = strstr(res.logs, "tried "));
	tried = strtol(s + 6, NULL, 10);
	print_message("%ld writable-looking files in /proc refused\n", tried);
	assert_true(tried > 100);  /* /proc/sys alone has hundreds */
	result_free(&res);
}

/* ---- the seccomp filter ---- */

/*
 * What the filter must deny, each with arguments the kernel would refuse
 * (or grant) harmlessly with another answer than the filter's, so that a
 * refusal proves the filter: the same list is the specification in
 * dcr-room(5).
 */
#define FILTER_ERRNO 4000  /* no kernel path returns it */
static const struct {
	const char *name;
	long nr, a[6];
} must_deny[] = {
	{ "mount", __NR_mount, { 0 } },
	{ "umount2", __NR_umount2, { 0 } },
	{ "pivot_root", __NR_pivot_root, { 0 } },
	{ "chroot", __NR_chroot, { 0 } },
	{ "open_tree", __NR_open_tree, { -1, 0, 0 } },
	{ "move_mount", __NR_move_mount, { -1, 0, -1, 0, 0 } },
	{ "fsopen", __NR_fsopen, { 0 } },
	{ "fsconfig", __NR_fsconfig, { -1 } },
	{ "fsmount", __NR_fsmount, { -1 } },
	{ "fspick", __NR_fspick, { -1, 0 } },
	{ "mount_setattr", __NR_mount_setattr, { -1 } },
	{ "unshare", __NR_unshare, { 0 } },
	{ "setns", __NR_setns, { -1, 0 } },
	{ "ptrace", __NR_ptrace, { 16 /* PTRACE_ATTACH */, 999999999 } },
	{ "process_vm_readv", __NR_process_vm_readv, { 0 } },
	{ "process_vm_writev", __NR_process_vm_writev, { 0 } },
	{ "kcmp", __NR_kcmp, { 0 } },
	{ "pidfd_getfd", __NR_pidfd_getfd, { -1 } },
	{ "process_madvise", __NR_process_madvise, { -1 } },
	{ "keyctl", __NR_keyctl, { 0 /* KEYCTL_GET_KEYRING_ID */, -2, 0 } },
	{ "add_key", __NR_add_key, { 0 } },
	{ "request_key", __NR_request_key, { 0 } },
	{ "bpf", __NR_bpf, { -1 } },
	{ "perf_event_open", __NR_perf_event_open, { 0 } },
	{ "userfaultfd", __NR_userfaultfd, { -1 } },
	{ "io_uring_setup", __NR_io_uring_setup, { 0 } },
	{ "io_uring_enter", __NR_io_uring_enter, { -1 } },
	{ "io_uring_register", __NR_io_uring_register, { -1 } },
	{ "init_module", __NR_init_module, { 0 } },
	{ "finit_module", __NR_finit_module, { -1 } },
	{ "delete_module", __NR_delete_module, { 0 } },
	{ "kexec_load", __NR_kexec_load, { 0, 0, 0, -1 } },
	{ "kexec_file_load", __NR_kexec_file_load, { -1, -1, 0, 0, -1 } },
	{ "reboot", __NR_reboot, { 0 } },
	{ "swapon", __NR_swapon, { 0 } },
	{ "swapoff", __NR_swapoff, { 0 } },
	{ "acct", __NR_acct, { 1 } },
	{ "settimeofday", __NR_settimeofday, { 0 } },
	{ "clock_settime", __NR_clock_settime, { 0 } },
	{ "clock_adjtime", __NR_clock_adjtime, { 0 } },
	{ "adjtimex", __NR_adjtimex, { 0 } },
	{ "syslog", __NR_syslog, { 10 /* SYSLOG_ACTION_SIZE_BUFFER */ } },
	{ "quotactl", __NR_quotactl, { 0 } },
	{ "quotactl_fd", __NR_quotactl_fd, { -1 } },
	{ "open_by_handle_at", __NR_open_by_handle_at, { -1 } },
	{ "name_to_handle_at", __NR_name_to_handle_at, { -1 } },
	{ "sethostname", __NR_sethostname, { 0, -1 } },
	{ "setdomainname", __NR_setdomainname, { 0, -1 } },
	{ "fanotify_init", __NR_fanotify_init, { -1 } },
	{ "migrate_pages", __NR_migrate_pages, { -1 } },
	{ "move_pages", __NR_move_pages, { -1 } },
	{ "clone with a new namespace", __NR_clone, { CLONE_NEWUSER | CLONE_FS } },
	{ "personality PER_LINUX32", __NR_personality, { 0x0008 } },
	{ "ioctl TIOCSTI", __NR_ioctl, { -1, TIOCSTI } },
	{ "ioctl TIOCLINUX", __NR_ioctl, { -1, TIOCLINUX } },
#ifdef __x86_64__
	{ "iopl", __NR_iopl, { 4 } },
	{ "ioperm", __NR_ioperm, { 0, 0, 0 } },
	{ "modify_ldt", __NR_modify_ldt, { -1 } },
#endif
};

/* Sockets of the allowed families that the filter refuses (by type or protocol), and some it allows. */
static const struct {
	const char *name;
	int family, type, protocol;
} odd_sockets[] = {
	{ "socket SCTP", AF_INET, SOCK_STREAM, 132 /* IPPROTO_SCTP */ },
	{ "socket seqpacket SCTP", AF_INET6, SOCK_SEQPACKET, 132 },
	{ "socket DCCP", AF_INET6, 6 /* SOCK_DCCP */, 33 /* IPPROTO_DCCP */ },
	{ "socket L2TP", AF_INET, SOCK_DGRAM, 115 /* IPPROTO_L2TP */ },
	{ "socket UDP-Lite", AF_INET, SOCK_DGRAM, 136 /* IPPROTO_UDPLITE */ },
	{ "socket datagrams of TCP", AF_INET, SOCK_DGRAM, 6 /* IPPROTO_TCP */ },
	{ "socket raw ICMP", AF_INET, SOCK_RAW, 1 /* IPPROTO_ICMP */ },
	{ "socket ping", AF_INET, SOCK_DGRAM, 1 },
	{ "socket odd flag", AF_INET, SOCK_STREAM | 0x100000, 0 },
	{ "socket unix protocol 1", AF_UNIX, SOCK_STREAM, 1 },
	{ "socket netlink audit", AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */ },
	{ "socket netlink uevent", AF_NETLINK, SOCK_DGRAM, 15 /* NETLINK_KOBJECT_UEVENT */ },
	{ "socket netlink generic", AF_NETLINK, SOCK_RAW, 16 /* NETLINK_GENERIC */ },
}, fine_sockets[] = {
	{ "socket nonblocking TCP", AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0 },
	{ "socket IPv6 TCP", AF_INET6, SOCK_STREAM, 6 },
	{ "socket UDP", AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 17 },
	{ "socket unix datagrams", AF_UNIX, SOCK_DGRAM, 0 },
	{ "socket unix seqpacket", AF_UNIX, SOCK_SEQPACKET, 0 },
	{ "socket netlink route", AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0 },
};

/* In a child of this process (as the sandbox user when root, so nothing unfiltered can do harm): the filter, then fn. */
static int filtered(bool bounded, void (*fn)(int fd), int fd, int *wstatus)
{
	struct sock_filter prog[SANDBOX_SECCOMP_MAX];
	struct dcr_err err;
	int n = sandbox_seccomp_build(bounded, FILTER_ERRNO, prog, SANDBOX_SECCOMP_MAX, &err);
	pid_t pid;

	if (n < 0)
		fail_msg("%s", err.msg);
	assert_true(n > 50);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_fprog fp = { (unsigned short)n, prog };

		if ((geteuid() == 0 && setresuid(sandbox_uid, sandbox_uid, sandbox_uid) < 0) ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) < 0)
			_exit(99);
		fn(fd);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, wstatus, 0), pid);
	return 0;
}

static void report(int fd, const char *name, long r)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%s %ld %d\n", name, r, r < 0 ? errno : 0);

	(void)!write(fd, line, (size_t)n);
}

static void try_denied(int fd)
{
	for (size_t i = 0; i < sizeof(must_deny) / sizeof(must_deny[0]); i++) {
		errno = 0;
		report(fd, must_deny[i].name, syscall(must_deny[i].nr, must_deny[i].a[0], must_deny[i].a[1],
			must_deny[i].a[2], must_deny[i].a[3], must_deny[i].a[4], must_deny[i].a[5]));
	}
	report(fd, "clone3", syscall(__NR_clone3, 0, 0));
	report(fd, "socket AF_PACKET", syscall(__NR_socket, AF_PACKET, SOCK_RAW, 0));
	report(fd, "socket AF_VSOCK", syscall(__NR_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0));
	report(fd, "socketpair AF_ALG", syscall(__NR_socketpair, 38 /* AF_ALG */, SOCK_SEQPACKET, 0, 0));
	/* Allowed families, other types and protocols; the unfiltered kernel would load a module for some. */
	for (size_t i = 0; i < sizeof(odd_sockets) / sizeof(odd_sockets[0]); i++)
		report(fd, odd_sockets[i].name, syscall(__NR_socket, odd_sockets[i].family, odd_sockets[i].type,
			odd_sockets[i].protocol));
	report(fd, "socketpair AF_INET", syscall(__NR_socketpair, AF_INET, SOCK_STREAM, 0, 0));
	report(fd, "memfd_create", syscall(__NR_memfd_create, "x", 0));
	report(fd, "shmget", syscall(__NR_shmget, 0 /* IPC_PRIVATE */, 4096, 0600));
	report(fd, "mmap shared anonymous", (long)(intptr_t)mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		MAP_SHARED | MAP_ANONYMOUS, -1, 0) == -1 ? -1 : 0);
	/* Allowed: */
	report(fd, "getpid", syscall(__NR_getpid));
	report(fd, "personality query", syscall(__NR_personality, 0xffffffffL));
	report(fd, "socket AF_UNIX", syscall(__NR_socket, AF_UNIX, SOCK_STREAM, 0));
	for (size_t i = 0; i < sizeof(fine_sockets) / sizeof(fine_sockets[0]); i++)
		report(fd, fine_sockets[i].name, syscall(__NR_socket, fine_sockets[i].family, fine_sockets[i].type,
			fine_sockets[i].protocol));
	{
		int sv[2];

		report(fd, "socketpair AF_UNIX", syscall(__NR_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	}
	report(fd, "ioctl FIONREAD", syscall(__NR_ioctl, -1, FIONREAD, 0));
	report(fd, "mmap private anonymous", (long)(intptr_t)mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == -1 ? -1 : 0);
	report(fd, "mmap shared file", (long)(intptr_t)mmap(NULL, 4096, PROT_READ, MAP_SHARED,
		open("/dev/zero", O_RDONLY), 0) == -1 ? -1 : 0);
}

/* The lines "NAME RET ERRNO" fn wrote, run under the filter. */
static char *filtered_output(bool bounded, void (*fn)(int fd), int *wstatus)
{
	static char buf[16384];
	int p[2];
	size_t len = 0;
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	filtered(bounded, fn, p[1], wstatus);
	close(p[1]);
	while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(p[0]);
	buf[len] = '\0';
	return buf;
}

static void expect_line(const char *out, const char *name, bool denied, int deny_errno)
{
	size_t n = strlen(name);
	const char *s = NULL;
	long r = 0, e = 0;

	for (const char *line = out; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "")
		if (strncmp(line, name, n) == 0 && line[n] == ' ') {
			s = line + n + 1;
			break;
		}
	if (!s || sscanf(s, "%ld %ld", &r, &e) != 2)
		fail_msg("no result for %s in:\n%s", name, out);
	if (denied && (r != -1 || e != deny_errno))
		fail_msg("%s was not refused by the filter with errno %d: %ld, errno %ld", name, deny_errno, r, e);
	if (!denied && r == -1 && e == FILTER_ERRNO)
		fail_msg("%s was refused by the filter", name);
}

/* The program itself, outside bwrap, with an errno of its own: each call it must deny, it denies. */
static void test_seccomp_program(void **state)
{
	int wstatus;
	const char *out = filtered_output(false, try_denied, &wstatus);

	assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
	for (size_t i = 0; i < sizeof(must_deny) / sizeof(must_deny[0]); i++)
		expect_line(out, must_deny[i].name, true, FILTER_ERRNO);
	expect_line(out, "clone3", true, ENOSYS);
	expect_line(out, "socket AF_PACKET", true, EAFNOSUPPORT);
	expect_line(out, "socket AF_VSOCK", true, EAFNOSUPPORT);
	expect_line(out, "socketpair AF_ALG", true, EAFNOSUPPORT);
	expect_line(out, "socketpair AF_INET", true, EAFNOSUPPORT);
	for (size_t i = 0; i < sizeof(odd_sockets) / sizeof(odd_sockets[0]); i++)
		expect_line(out, odd_sockets[i].name, true, FILTER_ERRNO);
	for (size_t i = 0; i < sizeof(fine_sockets) / sizeof(fine_sockets[0]); i++)
		expect_line(out, fine_sockets[i].name, false, 0);
	expect_line(out, "socketpair AF_UNIX", false, 0);
	expect_line(out, "memfd_create", true, FILTER_ERRNO);
	expect_line(out, "shmget", true, FILTER_ERRNO);
	expect_line(out, "mmap shared anonymous", true, FILTER_ERRNO);
	expect_line(out, "getpid", false, 0);
	expect_line(out, "personality query", false, 0);
	expect_line(out, "socket AF_UNIX", false, 0);
	expect_line(out, "ioctl FIONREAD", false, 0);
	expect_line(out, "mmap private anonymous", false, 0);
	expect_line(out, "mmap shared file", false, 0);
	/* With a memory cgroup that counts them, shared memory is allowed. */
	out = filtered_output(true, try_denied, &wstatus);
	expect_line(out, "memfd_create", false, 0);
	expect_line(out, "shmget", false, 0);
	expect_line(out, "mmap shared anonymous", false, 0);
	expect_line(out, "mount", true, FILTER_ERRNO);
}

static void x32_getpid(int fd)
{
#ifdef __x86_64__
	syscall(__NR_getpid | 0x40000000);
#endif
	(void)!write(fd, "survived\n", 9);
}

static void i386_getpid(int fd)
{
#ifdef __x86_64__
	long r = 20; /* getpid in the i386 table */

	__asm__ volatile("int $0x80" : "+a"(r) : : "memory");
#endif
	(void)!write(fd, "survived\n", 9);
}

/* System calls of another ABI kill the process, whatever they would have been. */
static void test_seccomp_other_abi(void **state)
{
	int wstatus;
	const char *out;

#ifndef __x86_64__
	skip();
#endif
	out = filtered_output(false, x32_getpid, &wstatus);
	assert_true(WIFSIGNALED(wstatus));
	assert_int_equal(WTERMSIG(wstatus), SIGSYS);
	assert_null(strstr(out, "survived"));
	out = filtered_output(false, i386_getpid, &wstatus);
	assert_true(WIFSIGNALED(wstatus));
	assert_int_equal(WTERMSIG(wstatus), SIGSYS);
	assert_null(strstr(out, "survived"));
}

/* In the sandbox: the filter is on for the command and the supervisor, denied calls fail, real work runs. */
static void test_seccomp_in_sandbox(void **state)
{
	char script[4096];
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	/* Calls whose answer without the filter would not be EPERM (see must_deny). */
	snprintf(script, sizeof(script),
		"import ctypes, errno, mmap, os\n"
		"libc = ctypes.CDLL(None, use_errno=True)\n"
		"def status(pid):\n"
		"    return [l.split()[1] for l in open('/proc/%%s/status' %% pid) if l.startswith('Seccomp:')][0]\n"
		"print('seccomp', status('self'), 'supervisor', status(os.getppid()))\n"
		"calls = [('mount', %ld, 0), ('chroot', %ld, 0), ('setns', %ld, -1, 0), ('unshare', %ld, 0),\n"
		"         ('ptrace', %ld, 16, 999999999), ('keyctl', %ld, 0, -2, 0), ('userfaultfd', %ld, 1),\n"
		"         ('perf_event_open', %ld, 0), ('settimeofday', %ld, 0, 0), ('personality', %ld, 8),\n"
		"         ('clone', %ld, 0x10000200), ('ioctl', %ld, 0, 0x5412, 0), ('kcmp', %ld, 1, 1, 0, 0, 0),\n"
		"         ('clone3', %ld, 0, 0), ('socket', %ld, 17, 3, 0), ('sctp', %ld, 2, 1, 132),\n"
		"         ('netlink-audit', %ld, 16, 3, 9)]\n"
		"for name, nr, *args in calls:\n"
		"    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])\n"
		"    print('call', name, r, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()) if r < 0 else '-')\n"
		"try:\n"
		"    mmap.mmap(-1, 4096)\n"
		"    print('shared anonymous mapped')\n"
		"except OSError as e:\n"
		"    print('shared anonymous refused', errno.errorcode[e.errno])\n",
		(long)__NR_mount, (long)__NR_chroot, (long)__NR_setns, (long)__NR_unshare, (long)__NR_ptrace,
		(long)__NR_keyctl, (long)__NR_userfaultfd, (long)__NR_perf_event_open, (long)__NR_settimeofday,
		(long)__NR_personality, (long)__NR_clone, (long)__NR_ioctl, (long)__NR_kcmp, (long)__NR_clone3,
		(long)__NR_socket, (long)__NR_socket, (long)__NR_socket);
	if (run_script(script, NULL, 0, 0, 0, NULL, &res, &err) != 0)
		fail_msg("%s; logs: %s", err.msg, res.logs ? res.logs : "");
	assert_non_null(strstr(res.logs, "seccomp 2 supervisor 2"));
	for (const char *s = res.logs; (s = strstr(s, "call ")); s++) {
		char name[32], errname[32] = "";
		long r;

		assert_true(sscanf(s, "call %31s %ld %31s", name, &r, errname) >= 2);
		if (r != -1 || strcmp(errname, strcmp(name, "clone3") == 0 ? "ENOSYS" :
						 strcmp(name, "socket") == 0 ? "EAFNOSUPPORT" : "EPERM") != 0)
			fail_msg("%s was not refused by the filter: %ld %s", name, r, errname);
	}
	assert_non_null(strstr(res.logs, "call clone3 -1 ENOSYS"));
	assert_non_null(strstr(res.logs, "call sctp -1 EPERM"));
	/* Refused only where no memory cgroup counts it. */
	assert_non_null(strstr(res.logs, sandbox_cgroup ? "shared anonymous mapped" : "shared anonymous refused EPERM"));
	result_free(&res);
}

/* What data code does still works under the filter: threads, processes, the scientific stack. */
static void test_seccomp_workload(void **state)
{
	static const char script[] =
		"import multiprocessing, subprocess, threading\n"
		"import numpy as np, pandas as pd, scipy.linalg, sklearn.linear_model\n"
		"x = np.random.default_rng(1).normal(size=(200, 3))\n"
		"y = x @ np.array([1.0, 2.0, 3.0])\n"
		"m = sklearn.linear_model.LinearRegression().fit(x, y)\n"
		"print('coef', ' '.join('%.3f' % c for c in m.coef_))\n"
		"print('det', round(scipy.linalg.det(np.eye(3) * 2), 3))\n"
		"print('frame', pd.DataFrame(x).shape)\n"
		"t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
		"print('child', subprocess.run(['echo', 'hi'], capture_output=True).stdout.decode().strip())\n"
		"with multiprocessing.get_context('fork').Pool(2) as p:\n"
		"    print('pool', sum(p.map(abs, [-1, -2, -3])))\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	if (system("/usr/bin/python3 -c 'import numpy, pandas, scipy, sklearn' 2>/dev/null") != 0) {
		print_message("skipped: numpy, pandas, scipy or scikit-learn is not installed\n");
		skip();
	}
	if (run_script(script, NULL, 0, 120000, 1024 * MiB, NULL, &res, &err) != 0)
		fail_msg("%s; logs: %s", err.msg, res.logs ? res.logs : "");
	assert_non_null(strstr(res.logs, "coef 1.000 2.000 3.000"));
	assert_non_null(strstr(res.logs, "det 8.0"));
	assert_non_null(strstr(res.logs, "frame (200, 3)"));
	assert_non_null(strstr(res.logs, "child hi"));
	assert_non_null(strstr(res.logs, "pool 6"));
	result_free(&res);
}

/* ---- limits ---- */

static void test_time_limit(void **state)
{
	static const char script[] =
		"import subprocess, time\n"
		"subprocess.Popen(['sleep', '1000.4242'], start_new_session=True)\n"
		"print('sleeping', flush=True)\n"
		"time.sleep(120)\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	double start = now_s(), took;

	/* The limit leaves python (in bwrap, on a loaded machine) ample time to print before it is
	 * killed; the bound on took only tells a kill at the limit from the script's own end. */
	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 4000, 0, NULL, &res, &err), DCR_ECOMPUTE);
	took = now_s() - start;
	assert_true(took < 60.0);
	assert_string_equal(err.msg, "the computation exceeded its time limit of 4s");
	assert_null(res.zip);
	assert_non_null(res.logs);
	assert_non_null(strstr(res.logs, "sleeping"));
	assert_int_equal(res.exit_status, 128 + 9);
	assert_false(process_with("1000.4242"));
	result_free(&res);
}

/* sleep 30 under a time limit of own ms, cut to cut ms (0: not), must stop at the limit named want. */
static void expect_sleep_stopped(uint64_t own, uint64_t cut, const char *want)
{
	char *cmd[] = { "sleep", "30" };
	Dcr__V1__PythonComputation pc = DCR__V1__PYTHON_COMPUTATION__INIT;
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	char msg[128];

	pc.command = cmd;
	pc.n_command = 2;
	pc.time_limit_ms = own;
	assert_int_equal(py_run(&pc, NULL, 0, cut, &res, &err), DCR_ECOMPUTE);
	snprintf(msg, sizeof(msg), "the computation exceeded its time limit of %s", want);
	assert_string_equal(err.msg, msg);
	result_free(&res);
}

static void test_time_limit_seconds(void **state)
{
	NEED_SANDBOX();
	expect_sleep_stopped(1000, 0, "1s");
}

/* What is left of a job's time cuts a computation's own limit short, never lengthens it. */
static void test_time_cut(void **state)
{
	NEED_SANDBOX();
	expect_sleep_stopped(60000, 700, "700ms");
	expect_sleep_stopped(600, 60000, "600ms");
}

static void test_memory_limit(void **state)
{
	static const char script[] =
		"print('allocating', flush=True)\n"
		"b = bytearray(2 << 30)\n"
		"print('ALLOCATED')\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 0, 256 * MiB, NULL, &res, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "the command exited with status 1");
	assert_non_null(strstr(res.logs, "MemoryError"));
	assert_null(strstr(res.logs, "ALLOCATED"));
	result_free(&res);
}

static void test_output_size_limit(void **state)
{
	static const char script[] =
		"import os\n"
		"try:\n"
		"    with open('/output/big', 'wb') as f:\n"
		"        for _ in range(80):\n"
		"            f.write(bytes(1 << 20))\n"
		"    print('WROTE')\n"
		"except OSError as e:\n"
		"    print('refused', e.errno)\n"
		"os.remove('/output/big')\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	if (sandbox_cgroup) {
		/* The output's tmpfs pages count against the job's memory. */
		assert_int_equal(run_script(script, NULL, 0, 0, 64 * MiB, NULL, &res, &err), DCR_ECOMPUTE);
		assert_string_equal(err.msg, "the computation exceeded its memory limit of 64MiB");
		assert_null(strstr(res.logs, "WROTE"));
	} else {
		/* The tmpfs is as large as the memory limit. */
		assert_int_equal(run_script(script, NULL, 0, 0, 64 * MiB, NULL, &res, &err), 0);
		assert_non_null(strstr(res.logs, "refused 28"));  /* ENOSPC */
	}
	result_free(&res);
}

/*
 * Every resource limit of the sandbox is set, none inherited from dcrd:
 * here dcrd's own are raised first where this process may (root with
 * CAP_SYS_RESOURCE), and the sandbox must not see them; where they may
 * not, dcrd's usual ones (NOFILE, MEMLOCK, SIGPENDING, MSGQUEUE) already
 * differ from the sandbox's.
 */
static void test_rlimits(void **state)
{
	static const char script[] =
		"import resource as r\n"
		"for name in ['NOFILE', 'FSIZE', 'DATA', 'CORE', 'NPROC', 'RTPRIO', 'RTTIME', 'NICE', 'MSGQUEUE',\n"
		"             'MEMLOCK', 'SIGPENDING', 'STACK', 'AS', 'CPU']:\n"
		"    print(name, *r.getrlimit(getattr(r, 'RLIMIT_' + name)))\n"
		"print('coredump_filter', open('/proc/self/coredump_filter').read().strip())\n";
	static const int raised[] = { RLIMIT_NOFILE, RLIMIT_FSIZE, RLIMIT_RTPRIO, RLIMIT_NICE, RLIMIT_MSGQUEUE,
		RLIMIT_MEMLOCK, RLIMIT_SIGPENDING, RLIMIT_STACK };
	/* A core_pattern pipe ignores RLIMIT_CORE: with the filter, what it would get holds no memory. */
	static const char *const want[] = {
		"NOFILE 4096 4096\n", "FSIZE 67108864 67108864\n", "DATA 67108864 67108864\n", "CORE 0 0\n",
		"NPROC 4096 4096\n", "RTPRIO 0 0\n", "RTTIME 0 0\n", "NICE 0 0\n", "MSGQUEUE 0 0\n",
		"MEMLOCK 65536 65536\n", "SIGPENDING 4096 4096\n", "STACK 8388608 8388608\n",
		"coredump_filter 00000000\n",
	};
	struct rlimit saved[sizeof(raised) / sizeof(raised[0])];
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	int r;

	NEED_SANDBOX();
	for (size_t i = 0; i < sizeof(raised) / sizeof(raised[0]); i++) {
		struct rlimit high = { RLIM_INFINITY, RLIM_INFINITY };

		assert_int_equal(getrlimit(raised[i], &saved[i]), 0);
		if (raised[i] == RLIMIT_NOFILE)
			high.rlim_cur = high.rlim_max = 1u << 16;
		else if (raised[i] == RLIMIT_RTPRIO)
			high.rlim_cur = high.rlim_max = 50;
		else if (raised[i] == RLIMIT_NICE)
			high.rlim_cur = high.rlim_max = 30;
		(void)setrlimit(raised[i], &high);
	}
	r = run_script(script, NULL, 0, 0, 64 * MiB, NULL, &res, &err);
	for (size_t i = 0; i < sizeof(raised) / sizeof(raised[0]); i++)
		assert_int_equal(setrlimit(raised[i], &saved[i]), 0);
	if (r != 0)
		fail_msg("%s; logs: %s", err.msg, res.logs ? res.logs : "");
	print_message("%s", res.logs);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(res.logs, want[i]))
			fail_msg("not in the sandbox: %s", want[i]);
	result_free(&res);
}

/*
 * Only root can have cgroups on most hosts (not a plain user without a
 * delegated cgroup v2): as root, these run, and fail if dcrd found none.
 */
#define NEED_CGROUP()                                                                 \
	do {                                                                          \
		NEED_SANDBOX();                                                       \
		if (!sandbox_cgroup && geteuid() != 0) {                              \
			print_message("skipped: jobs run in no cgroup here (%s)\n", sandbox_desc); \
			skip();                                                       \
		}                                                                     \
	} while (0)

/* Run script under 256 MiB; it must fail for exceeding its memory, whichever process the kernel killed. */
static void expect_memory_limit(const char *script)
{
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	if (run_script(script, NULL, 0, 120000, 256 * MiB, NULL, &res, &err) != DCR_ECOMPUTE ||
	    strcmp(err.msg, "the computation exceeded its memory limit of 256MiB") != 0)
		fail_msg("not stopped at its memory limit: %s; logs: %s", err.msg, res.logs ? res.logs : "");
	assert_int_equal(res.exit_status, 128 + 9);
	assert_null(strstr(res.logs, "ALL WRITTEN"));
	assert_null(res.zip);
	result_free(&res);
}

/* Shared anonymous memory, which RLIMIT_DATA does not count. */
static void test_memory_shared_mmap(void **state)
{
	NEED_CGROUP();
	expect_memory_limit(
		"import mmap\n"
		"m = mmap.mmap(-1, 768 << 20)\n"
		"for i in range(0, len(m), 4096):\n"
		"    m[i] = 1\n"
		"print('ALL WRITTEN')\n");
}

/* A memfd, which no rlimit counts. */
static void test_memory_memfd(void **state)
{
	NEED_CGROUP();
	expect_memory_limit(
		"import os\n"
		"fd = os.memfd_create('x')\n"
		"chunk = bytes(1 << 20)\n"
		"for _ in range(768):\n"
		"    os.write(fd, chunk)\n"
		"print('ALL WRITTEN')\n");
}

/* Several processes, each within RLIMIT_DATA, beyond the limit together. */
static void test_memory_processes(void **state)
{
	NEED_CGROUP();
	expect_memory_limit(
		"import os, select, signal, sys\n"
		"r, w = os.pipe()\n"
		"for _ in range(6):\n"
		"    if os.fork() == 0:\n"
		"        b = bytearray(128 << 20)\n"
		"        for i in range(0, len(b), 4096):\n"
		"            b[i] = 1\n"
		"        os.write(w, b'.')\n"
		"        signal.pause()\n"
		"ready = 0\n"
		"while ready < 6:\n"
		"    if select.select([r], [], [], 0.1)[0]:\n"
		"        ready += len(os.read(r, 6))\n"
		"    if os.waitpid(-1, os.WNOHANG)[0]:\n"
		"        sys.exit('a child died')\n"
		"print('ALL WRITTEN')\n");
}

/*
 * The number of processes of uid on the host, zombies included: a job
 * leaves none, not even its pid 1 for the host's init to reap.
 */
static int processes_of(uid_t uid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[300];
		struct stat st;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s", e->d_name);
		if (stat(path, &st) == 0 && st.st_uid == uid)
			n++;
	}
	closedir(d);
	return n;
}

/* A fork bomb stops at the job's task limit (or its memory), and nothing of it outlives the job. */
static void test_fork_bomb(void **state)
{
	static const char script[] =
		"import os, signal\n"
		"n = 0\n"
		"try:\n"
		"    while n < 100000:\n"
		"        if os.fork() == 0:\n"
		"            signal.pause()\n"
		"            os._exit(0)\n"
		"        n += 1\n"
		"except OSError as e:\n"
		"    print('forks refused after', n, e.errno, flush=True)\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	const char *s;
	int r;

	NEED_CGROUP();
	r = run_script(script, NULL, 0, 120000, 256 * MiB, NULL, &res, &err);
	if (r == 0) {
		assert_non_null(s = strstr(res.logs, "forks refused after "));
		assert_true(strtol(s + 20, NULL, 10) < 4096);
	} else if (r != DCR_ECOMPUTE || strcmp(err.msg, "the computation exceeded its memory limit of 256MiB") != 0) {
		fail_msg("%s; logs: %s", err.msg, res.logs ? res.logs : "");
	}
	print_message("%s\n", r == 0 ? strstr(res.logs, "forks refused") : err.msg);
	assert_int_equal(processes_of(sandbox_uid), 0);
	result_free(&res);
}

/* The job's cgroups are gone after each job. */
static void test_cgroup_removed(void **state)
{
	char *cg, *mi, own[4096], point[4096], root[4096], dir[8192], path[8300];
	FILE *f;
	size_t n;
	DIR *d;
	struct dirent *e;
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_CGROUP();
	if (!strstr(sandbox_desc, "cgroup v1")) {
		print_message("skipped: checks cgroup v1's directories\n");
		skip();
	}
	assert_int_equal(run_script("print('x')\n", NULL, 0, 0, 0, NULL, &res, &err), 0);
	result_free(&res);
	cg = calloc(1, 1 << 20);
	mi = calloc(1, 1 << 20);
	assert_non_null(f = fopen("/proc/self/cgroup", "r"));
	n = fread(cg, 1, (1 << 20) - 1, f);
	fclose(f);
	cg[n] = '\0';
	assert_non_null(f = fopen("/proc/self/mountinfo", "r"));
	n = fread(mi, 1, (1 << 20) - 1, f);
	fclose(f);
	mi[n] = '\0';
	assert_int_equal(sandbox_cgroup_own(cg, "memory", own, sizeof(own)), 0);
	assert_int_equal(sandbox_cgroup_mount(mi, "memory", point, sizeof(point), root, sizeof(root)), 0);
	assert_int_equal(sandbox_cgroup_dir(point, root, own, dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/dcrd-%d", dir, (int)getpid());
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "job-", 4) == 0)
			fail_msg("%s/%s is left behind", path, e->d_name);
	closedir(d);
	free(cg);
	free(mi);
}

/* The parsers, on texts such as a cgroup v2 host or a container gives. */
static void test_cgroup_parsers(void **state)
{
	static const char v2[] = "0::/system.slice/dcrd.service\n";
	static const char v1[] = "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/\n";
	static const char mountinfo[] =
		"22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
		"30 25 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
		"31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw shared:5 - cgroup cgroup rw,cpu,cpuacct\n"
		"32 25 0:28 /process_api /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup rw,memory\n";
	static const char events[] = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
	static const char oom_control[] = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n";
	char out[256], point[256], root[256];

	assert_int_equal(sandbox_cgroup_own(v2, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "/system.slice/dcrd.service");
	assert_int_equal(sandbox_cgroup_own(v2, "memory", out, sizeof(out)), -1);
	assert_int_equal(sandbox_cgroup_own(v1, "memory", out, sizeof(out)), 0);
	assert_string_equal(out, "/process_api/abc");
	assert_int_equal(sandbox_cgroup_own(v1, "cpu", out, sizeof(out)), 0);
	assert_string_equal(out, "/x");
	assert_int_equal(sandbox_cgroup_own(v1, "pids", out, sizeof(out)), -1);
	assert_int_equal(sandbox_cgroup_own(v1, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(sandbox_cgroup_own("garbage\n0:\n::", NULL, out, sizeof(out)), -1);

	assert_int_equal(sandbox_cgroup_mount(mountinfo, NULL, point, sizeof(point), root, sizeof(root)), 0);
	assert_string_equal(point, "/sys/fs/cgroup");
	assert_string_equal(root, "/");
	assert_int_equal(sandbox_cgroup_mount(mountinfo, "cpu", point, sizeof(point), root, sizeof(root)), 0);
	assert_string_equal(point, "/sys/fs/cgroup/cpu,cpuacct");
	assert_int_equal(sandbox_cgroup_mount(mountinfo, "memory", point, sizeof(point), root, sizeof(root)), 0);
	assert_string_equal(point, "/sys/fs/cgroup/mem ory");  /* \040 */
	assert_string_equal(root, "/process_api");
	assert_int_equal(sandbox_cgroup_mount(mountinfo, "pids", point, sizeof(point), root, sizeof(root)), -1);

	assert_int_equal(sandbox_cgroup_dir("/sys/fs/cgroup", "/", "/system.slice/dcrd.service", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/system.slice/dcrd.service");
	assert_int_equal(sandbox_cgroup_dir("/sys/fs/cgroup", "/", "/", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup");
	/* A mount of part of the hierarchy (a container's cgroup namespace, say). */
	assert_int_equal(sandbox_cgroup_dir("/sys/fs/cgroup/memory", "/process_api", "/process_api/abc", out,
		sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/memory/abc");
	assert_int_equal(sandbox_cgroup_dir("/m", "/process_api", "/other/abc", out, sizeof(out)), -1);
	assert_int_equal(sandbox_cgroup_dir("/m", "/process_api", "/process_apix", out, sizeof(out)), -1);

	assert_int_equal(sandbox_cgroup_oom_kills(events), 2);
	assert_int_equal(sandbox_cgroup_oom_kills(oom_control), 0);
	assert_int_equal(sandbox_cgroup_oom_kills(""), 0);
}

/* Where cgroup v2 is mounted, for tests that make cgroups there as root; they skip elsewhere. */
static void need_cgroup2(char *point, size_t size)
{
	char *mi, root[4096];
	FILE *f;
	size_t n;
	int r;

	if (geteuid() != 0) {
		print_message("skipped: makes cgroup v2 directories, as root\n");
		skip();
	}
	mi = calloc(1, 1 << 20);
	assert_non_null(mi);
	assert_non_null(f = fopen("/proc/self/mountinfo", "r"));
	n = fread(mi, 1, (1 << 20) - 1, f);
	fclose(f);
	mi[n] = '\0';
	r = sandbox_cgroup_mount(mi, NULL, point, size, root, sizeof(root));
	free(mi);
	if (r < 0) {
		print_message("skipped: no cgroup v2 is mounted\n");
		skip();
	}
}

/* Whether the cgroup v2 directory dir is delegated, asked as uid (0: this process). */
static bool delegated_as(const char *dir, uid_t uid)
{
	int status;
	pid_t pid;

	if (!uid)
		return sandbox_cgroup_delegated(dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(setresgid(uid, uid, uid) == 0 && setresuid(uid, uid, uid) == 0 && sandbox_cgroup_delegated(dir) ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* What sandbox_cgroup_setup("auto") says in a process of cgroup v2 directory dir. */
static void auto_desc(const char *dir, char *desc, size_t size)
{
	char procs[4300];
	int p[2], status;
	ssize_t n;
	pid_t pid;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sandbox_cgroups cg;
		struct dcr_err err;
		char out[8192] = "cannot join the cgroup";
		FILE *f = fopen(procs, "w");

		if (f && fprintf(f, "%d\n", (int)getpid()) > 0 && fclose(f) == 0 &&
		    sandbox_cgroup_setup("auto", &cg, out, sizeof(out), &err) < 0)
			snprintf(out, sizeof(out), "%s", err.msg);
		sandbox_cgroup_release(&cg);
		(void)!write(p[1], out, strlen(out));
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], desc, size - 1);
	close(p[0]);
	desc[n > 0 ? n : 0] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/*
 * The review's finding: as root, --cgroup auto took over dcrd's cgroup v2
 * because root may write any cgroup, also a systemd service's without
 * Delegate=yes, whose controllers systemd later takes back mid-job. Only
 * a cgroup marked delegated will do for root; for another user, one it
 * owns and may write.
 */
static char delegation_dir[4200];

static void test_cgroup_delegation(void **state)
{
	char point[4096], *dir = delegation_dir, desc[8192];

	need_cgroup2(point, sizeof(point));
	snprintf(dir, sizeof(delegation_dir), "%s/dcr-test-%d", point, (int)getpid());
	assert_int_equal(mkdir(dir, 0755), 0);
	/* Writable, as every cgroup is to root, but not delegated. */
	assert_int_equal(access(dir, W_OK), 0);
	assert_false(delegated_as(dir, 0));
	assert_int_equal(setxattr(dir, "trusted.delegate", "1", 1, 0), 0);
	assert_true(delegated_as(dir, 0));
	assert_int_equal(setxattr(dir, "user.delegate", "1", 1, 0), 0);
	assert_int_equal(setxattr(dir, "trusted.delegate", "0", 1, 0), 0);
	assert_false(delegated_as(dir, 0));  /* the trusted attribute decides where it is present */
	assert_int_equal(removexattr(dir, "trusted.delegate"), 0);
	assert_true(delegated_as(dir, 0));
	assert_int_equal(removexattr(dir, "user.delegate"), 0);
	/* Another user: one it owns and may write. */
	assert_false(delegated_as(dir, sandbox_uid ? sandbox_uid : 65534));
	if (sandbox_uid) {
		assert_int_equal(chown(dir, sandbox_uid, sandbox_uid), 0);
		assert_true(delegated_as(dir, sandbox_uid));
		assert_false(delegated_as(dir, 0));
		assert_int_equal(chown(dir, 0, 0), 0);
	}
	/* And --cgroup auto in a process of that cgroup: refused unmarked, not for delegation once marked. */
	auto_desc(dir, desc, sizeof(desc));
	print_message("unmarked: %s\n", desc);
	assert_non_null(strstr(desc, "is not delegated to dcrd"));
	assert_int_equal(setxattr(dir, "trusted.delegate", "1", 1, 0), 0);
	auto_desc(dir, desc, sizeof(desc));
	print_message("marked: %s\n", desc);
	assert_null(strstr(desc, "not delegated"));
}

/* The cgroup test_cgroup_delegation made goes, whatever the test's outcome. */
static int delegation_teardown(void **state)
{
	char leaf[sizeof(delegation_dir) + 8];

	if (delegation_dir[0]) {
		snprintf(leaf, sizeof(leaf), "%s/dcrd", delegation_dir);
		(void)rmdir(leaf);
		if (rmdir(delegation_dir) < 0)
			return -1;
	}
	return 0;
}

/* --cgroup PATH must be a cgroup v2 directory with memory and pids: here, refusals with the reason. */
static void test_cgroup_path_refused(void **state)
{
	struct sandbox_cgroups cg;
	struct dcr_err err = { 0 };
	char desc[4096];

	assert_int_equal(sandbox_cgroup_setup("relative/path", &cg, desc, sizeof(desc), &err), DCR_EUSAGE);
	assert_int_equal(sandbox_cgroup_setup("/nonexistent/cgroup", &cg, desc, sizeof(desc), &err), DCR_EFAIL);
	assert_non_null(strstr(err.msg, "cannot read /nonexistent/cgroup/cgroup.controllers"));
	assert_int_equal(sandbox_cgroup_setup("off", &cg, desc, sizeof(desc), &err), 0);
	assert_int_equal(cg.version, 0);
	assert_non_null(strstr(desc, "no cgroup (--cgroup off)"));
}

static void exit_7(int sig)
{
	_exit(7);
}

/*
 * A job's cgroup is killed by pidfd, only what is in it: here cgroup.procs
 * (a plain file) names a live process that is not in the job, as a pid
 * reused since the listing would be, and it must survive. Whether it was
 * SIGKILLed shows in its status: SIGUSR1, sent after, ends it with 7.
 */
static void test_cgroup_kill_by_pidfd(void **state)
{
	struct sandbox_cgroup_job *job = calloc(1, sizeof(*job));
	char base[] = "/tmp/dcr-cg-XXXXXX", procs[4200];
	int status, ready[2];
	pid_t child;
	FILE *f;
	char byte;

	assert_non_null(job);
	assert_non_null(mkdtemp(base));
	assert_int_equal(pipe(ready), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		signal(SIGUSR1, exit_7);
		(void)!write(ready[1], "x", 1);
		for (;;)
			pause();
	}
	assert_int_equal(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	close(ready[1]);
	job->version = 1;
	snprintf(job->dir[0], sizeof(job->dir[0]), "%s/dcrd-1/job-1", base);
	snprintf(procs, sizeof(procs), "%s/dcrd-1", base);
	assert_int_equal(mkdir(procs, 0700), 0);
	assert_int_equal(mkdir(job->dir[0], 0700), 0);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", job->dir[0]);
	assert_non_null(f = fopen(procs, "w"));
	fprintf(f, "%d\n", (int)child);
	fclose(f);
	sandbox_cgroup_job_kill(job);
	assert_int_equal(kill(child, SIGUSR1), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 7)
		fail_msg("a process outside the job was killed with it (status %#x)", status);
	unlink(procs);
	rmdir(job->dir[0]);
	snprintf(procs, sizeof(procs), "%s/dcrd-1", base);
	rmdir(procs);
	rmdir(base);
	free(job);
}

/*
 * A job cgroup of the name a new job takes, left by a dead dcrd that had
 * this pid (its counter starts again at 1), is removed rather than
 * failing every job with EEXIST; v2's are swept at start too.
 */
static void test_cgroup_stale(void **state)
{
	struct sandbox_cgroups cg;
	struct sandbox_cgroup_job *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct dcr_err err = { 0 };
	char desc[8192], next[3][4200], *num;

	NEED_CGROUP();
	assert_non_null(a);
	assert_non_null(b);
	/* The same directories as the sandbox's own (no job runs now). */
	assert_int_equal(sandbox_cgroup_setup(NULL, &cg, desc, sizeof(desc), &err), 0);
	assert_int_equal(sandbox_cgroup_job_create(&cg, 64 * MiB, 16, a, &err), 0);
	/* The next job's name: this one's with its number one more, in every hierarchy. */
	for (size_t i = 0; i < 3; i++) {
		next[i][0] = '\0';
		if (!a->dir[i][0])
			continue;
		snprintf(next[i], sizeof(next[i]), "%s", a->dir[i]);
		assert_non_null(num = strrchr(next[i], '-'));
		snprintf(num + 1, sizeof(next[i]) - (size_t)(num + 1 - next[i]), "%lu", strtoul(num + 1, NULL, 10) + 1);
		assert_int_equal(mkdir(next[i], 0755), 0);
	}
	sandbox_cgroup_job_destroy(a);
	if (sandbox_cgroup_job_create(&cg, 64 * MiB, 16, b, &err) != 0)
		fail_msg("a stale cgroup of the same name failed the job: %s", err.msg);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(b->dir[i], next[i]);
	sandbox_cgroup_job_destroy(b);
	for (size_t i = 0; i < 3; i++)
		if (next[i][0])
			assert_int_equal(access(next[i], F_OK), -1);
	free(a);
	free(b);
}

/* A job's memory never goes to swap: v2 memory.swap.max 0, v1 memory.swappiness 0. */
static void test_cgroup_no_swap(void **state)
{
	struct sandbox_cgroups cg;
	struct sandbox_cgroup_job *job = calloc(1, sizeof(*job));
	struct dcr_err err = { 0 };
	char desc[8192], path[4300], value[32] = "";
	FILE *f;

	NEED_CGROUP();
	assert_non_null(job);
	assert_int_equal(sandbox_cgroup_setup(NULL, &cg, desc, sizeof(desc), &err), 0);
	assert_int_equal(sandbox_cgroup_job_create(&cg, 64 * MiB, 16, job, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", job->dir[0], cg.version == 2 ? "memory.swap.max" : "memory.swappiness");
	f = fopen(path, "r");
	if (f) {
		if (!fgets(value, sizeof(value), f))
			value[0] = '\0';
		fclose(f);
	}
	sandbox_cgroup_job_destroy(job);
	free(job);
	if (!f && cg.version == 2) {
		print_message("skipped: no swap accounting in this kernel\n");
		skip();
	}
	assert_string_equal(value, "0\n");
}

static char sweep_base[4200];

/* The v2 sweep, on this host's cgroup2 mount (with or without controllers). */
static void test_cgroup_sweep_v2(void **state)
{
	char point[4096], *base = sweep_base, dir[4600], names[5][64];
	pid_t dead, me = getpid();

	need_cgroup2(point, sizeof(point));
	/* A pid that is dead now. */
	dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	snprintf(base, sizeof(sweep_base), "%s/dcr-sweep-%d", point, (int)me);
	assert_int_equal(mkdir(base, 0755), 0);
	/* A dead dcrd's (twice) and this pid's go; pid 1's (alive) and what is not a job stay. */
	snprintf(names[0], sizeof(names[0]), "job-%d-1", (int)dead);
	snprintf(names[1], sizeof(names[1]), "job-%d-2", (int)me);
	snprintf(names[2], sizeof(names[2]), "job-1-3");
	snprintf(names[3], sizeof(names[3]), "job-%d-4", (int)dead);
	snprintf(names[4], sizeof(names[4]), "other");
	for (size_t i = 0; i < 5; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", base, names[i]);
		assert_int_equal(mkdir(dir, 0755), 0);
	}
	sandbox_cgroup_sweep_jobs(2, 0, base);
	for (size_t i = 0; i < 5; i++) {
		bool gone;

		snprintf(dir, sizeof(dir), "%s/%s", base, names[i]);
		gone = access(dir, F_OK) < 0;
		if (gone != (i != 2 && i != 4))
			fail_msg("%s: %s", names[i], gone ? "removed" : "left");
	}
}

/* What test_cgroup_sweep_v2 made goes, whatever its outcome. */
static int sweep_teardown(void **state)
{
	DIR *d;
	struct dirent *e;
	char dir[sizeof(sweep_base) + 300];

	if (!sweep_base[0] || !(d = opendir(sweep_base)))
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && e->d_type == DT_DIR) {
			snprintf(dir, sizeof(dir), "%s/%s", sweep_base, e->d_name);
			(void)rmdir(dir);
		}
	closedir(d);
	return rmdir(sweep_base);
}

/* ---- how it ends ---- */

static void test_exit_status(void **state)
{
	static const char script[] =
		"import sys\n"
		"print('some output')\n"
		"print('an error', file=sys.stderr)\n"
		"open('/output/partial', 'w').write('x')\n"
		"sys.exit(3)\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 0, 0, NULL, &res, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "the command exited with status 3");
	assert_int_equal(res.exit_status, 3);
	assert_null(res.zip);
	assert_non_null(strstr(res.logs, "some output"));
	assert_non_null(strstr(res.logs, "an error"));
	result_free(&res);
}

static void test_signal(void **state)
{
	static const char script[] = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 0, 0, NULL, &res, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "the command was killed by signal 9 (SIGKILL)");
	assert_int_equal(res.exit_status, 137);
	result_free(&res);
}

static void test_no_such_command(void **state)
{
	char *cmd[] = { "no-such-program", "x" };
	Dcr__V1__PythonComputation pc = DCR__V1__PYTHON_COMPUTATION__INIT;
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	pc.command = cmd;
	pc.n_command = 2;
	assert_int_equal(py_run(&pc, NULL, 0, 0, &res, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "the command exited with status 127");
	assert_non_null(strstr(res.logs, "dcr: cannot run 'no-such-program'"));
	result_free(&res);
}

static void test_logs_truncated(void **state)
{
	static const char script[] =
		"import sys\n"
		"for i in range(3 * 1024):\n"
		"    sys.stdout.write('%01023d\\n' % i)\n"
		"sys.stdout.flush()\n"
		"open('/output/done', 'w').write('yes')\n";
	static const char note[] = "\n[output truncated]\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	char *done;

	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 0, 0, NULL, &res, &err), 0);
	assert_int_equal(res.logs_len, 1u << 20);
	assert_int_equal(res.logs[res.logs_len], '\0');
	assert_string_equal(res.logs + res.logs_len - strlen(note), note);
	assert_int_equal(strncmp(res.logs, "0000", 4), 0);
	done = zip_get(&res, "done", NULL);
	assert_string_equal(done, "yes");
	free(done);
	result_free(&res);
}

/*
 * Logs of every size around the limit: up to 1 MiB kept whole, beyond it
 * cut with the note. Logs of 1048557 to 1048576 bytes (within the note's
 * length plus one of the limit) used to fail the job with "out of memory".
 */
static void test_logs_sizes(void **state)
{
	static const size_t sizes[] = { 1048556, 1048557, 1048570, 1048575, 1048576, 1048577 };
	static const char note[] = "\n[output truncated]\n";

	NEED_SANDBOX();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char script[256];
		struct sandbox_result res;
		struct dcr_err err = { 0 };

		snprintf(script, sizeof(script), "import sys\nsys.stdout.write('x' * %zu)\nsys.stdout.flush()\n"
			"open('/output/done', 'w').write('yes')\n", sizes[i]);
		if (run_script(script, NULL, 0, 0, 0, NULL, &res, &err) != 0)
			fail_msg("%zu bytes of logs: %s", sizes[i], err.msg);
		assert_non_null(res.zip);
		assert_int_equal(res.logs_len, sizes[i] <= (1u << 20) ? sizes[i] : 1u << 20);
		assert_int_equal(res.logs[res.logs_len], '\0');
		if (sizes[i] > (1u << 20))
			assert_string_equal(res.logs + res.logs_len - strlen(note), note);
		else
			assert_int_equal(strspn(res.logs, "x"), sizes[i]);
		result_free(&res);
	}
}

/* ---- the output's ZIP ---- */

static void test_subdirectories(void **state)
{
	static const char script[] =
		"import os\n"
		"out = os.environ['DCR_OUTPUT']\n"
		"os.makedirs(out + '/b/c')\n"
		"os.makedirs(out + '/empty')\n"
		"open(out + '/b/c/deep.txt', 'w').write('deep')\n"
		"open(out + '/a.txt', 'w').write('a')\n"
		"open(out + '/b/z.txt', 'w').write('z')\n"
		"os.chmod(out + '/a.txt', 0o600)\n"
		"try:\n"
		"    open('/output/outside', 'w')\n"
		"except OSError as e:\n"
		"    print('outside refused', e.errno)\n";
	struct sandbox_result res, again;
	struct dcr_err err = { 0 };
	char names[256], *deep;
	zip_t *za;
	zip_stat_t st;

	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 0, 0, "/output/model", &res, &err), 0);
	zip_names(&res, names, sizeof(names));
	assert_string_equal(names, "a.txt b/ b/c/ b/c/deep.txt b/z.txt empty/");
	deep = zip_get(&res, "b/c/deep.txt", NULL);
	assert_string_equal(deep, "deep");
	free(deep);
	assert_non_null(strstr(res.logs, "outside refused 30"));
	za = zip_open_mem(&res);
	assert_int_equal(zip_stat(za, "a.txt", 0, &st), 0);
	assert_true(st.valid & ZIP_STAT_MTIME);
	assert_true(st.mtime < 400000000);  /* 1980, in local time */
	zip_discard(za);
	/* The same files give the same bytes. */
	assert_int_equal(run_script(script, NULL, 0, 0, 0, "/output/model", &again, &err), 0);
	assert_int_equal(again.zip_len, res.zip_len);
	assert_memory_equal(again.zip, res.zip, res.zip_len);
	result_free(&again);
	result_free(&res);
}

static void test_empty_output(void **state)
{
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	zip_t *za;

	NEED_SANDBOX();
	assert_int_equal(run_script("pass\n", NULL, 0, 0, 0, NULL, &res, &err), 0);
	za = zip_open_mem(&res);
	assert_int_equal(zip_get_num_entries(za, 0), 0);
	zip_discard(za);
	assert_int_equal(res.logs_len, 0);
	assert_string_equal(res.logs, "");
	result_free(&res);
}

static void test_symlink_not_followed(void **state)
{
	static const char script[] =
		"import os\n"
		"os.symlink('/etc/passwd', '/output/passwd')\n"
		"os.symlink('/input', '/output/inputs')\n"
		"os.mkfifo('/output/fifo')\n"
		"open('/output/real.txt', 'w').write('real')\n";
	struct sandbox_file extra[] = { text_file("/input/secret.txt", "secret") };
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	char names[256];

	NEED_SANDBOX();
	assert_int_equal(run_script(script, extra, 1, 0, 0, NULL, &res, &err), 0);
	zip_names(&res, names, sizeof(names));
	assert_string_equal(names, "real.txt");
	assert_non_null(strstr(res.logs, "left out symbolic link 'passwd'"));
	assert_non_null(strstr(res.logs, "left out symbolic link 'inputs'"));
	assert_non_null(strstr(res.logs, "left out special file 'fifo'"));
	result_free(&res);
}

/* Names that break the one rule for result names are left out, and said so; the rest is kept. */
static void test_bad_names(void **state)
{
	static const char script[] =
		"import os\n"
		"for name in ['a\\nb', 'x\\x1b[31m', 'c1\\x85', 'ok.txt', '\\u00fcn\\u00efcode.txt']:\n"
		"    open('/output/' + name, 'w').write('x')\n"
		"os.close(os.open(b'/output/bad\\xff', os.O_CREAT | os.O_WRONLY))\n"
		"os.mkdir('/output/bell\\x07')\n"
		"open('/output/bell\\x07/inside', 'w').write('x')\n"
		"deep = '/output'\n"
		"for i in range(5):\n"
		"    deep += '/' + 'p' * 250\n"
		"    os.mkdir(deep)\n"
		"open(deep + '/f', 'w').write('x')\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	char names[4096], want[4096], part[251];
	size_t len;

	NEED_SANDBOX();
	if (run_script(script, NULL, 0, 0, 0, NULL, &res, &err) != 0)
		fail_msg("%s; logs: %s", err.msg, res.logs ? res.logs : "");
	/* Four levels of 250-byte directories fit in 1024 bytes; the fifth and its file do not. */
	memset(part, 'p', 250);
	part[250] = '\0';
	len = (size_t)snprintf(want, sizeof(want), "ok.txt");
	for (int level = 1; level <= 4; level++) {
		want[len++] = ' ';
		for (int i = 0; i < level; i++)
			len += (size_t)snprintf(want + len, sizeof(want) - len, "%s/", part);
	}
	snprintf(want + len, sizeof(want) - len, " \xc3\xbc" "n\xc3\xaf" "code.txt");
	zip_names(&res, names, sizeof(names));
	assert_string_equal(names, want);
	assert_non_null(strstr(res.logs, "left out 'a\\nb' from the output: its name has a control character"));
	assert_non_null(strstr(res.logs, "left out 'x\\x1b[31m' from the output: its name has a control character"));
	assert_non_null(strstr(res.logs, "left out 'c1\\x85' from the output: its name has a control character"));
	assert_non_null(strstr(res.logs, "left out 'bell\\x07' from the output: its name has a control character"));
	assert_non_null(strstr(res.logs, "left out 'bad\\udcff' from the output: its name is not UTF-8"));
	assert_non_null(strstr(res.logs, "its name is longer than 1024 bytes"));
	assert_null(strstr(res.logs, "inside"));  /* not looked into */
	result_free(&res);
}

/* ---- dcrd's check of the ZIP that comes back ---- */

struct zentry {
	const char *name;
	zip_uint8_t opsys;
	zip_uint32_t mode;       /* the Unix mode; a directory also gets MS-DOS's 0x10 */
	const char *data;
};

/* A ZIP of the entries, in order, as libzip writes it; *len its size. */
static uint8_t *make_zip(const struct zentry *e, size_t n, size_t *len)
{
	zip_error_t ze;
	zip_source_t *src, *data;
	zip_t *za;
	zip_stat_t st;
	uint8_t *out;

	zip_error_init(&ze);
	src = zip_source_buffer_create(NULL, 0, 0, &ze);
	assert_non_null(src);
	zip_source_keep(src);
	za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
	assert_non_null(za);
	for (size_t i = 0; i < n; i++) {
		zip_int64_t idx;
		bool dir = (e[i].mode & 0170000) == 040000;

		data = zip_source_buffer(za, e[i].data ? e[i].data : "", e[i].data ? strlen(e[i].data) : 0, 0);
		assert_non_null(data);
		idx = zip_file_add(za, e[i].name, data, ZIP_FL_ENC_RAW);
		if (idx < 0)
			fail_msg("zip_file_add %s: %s", e[i].name, zip_strerror(za));
		assert_int_equal(zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, e[i].opsys,
			(e[i].mode << 16) | (dir ? 0x10 : 0)), 0);
	}
	assert_int_equal(zip_close(za), 0);
	assert_int_equal(zip_source_stat(src, &st), 0);
	out = malloc(st.size);
	assert_non_null(out);
	assert_int_equal(zip_source_open(src), 0);
	assert_int_equal(zip_source_read(src, out, st.size), (zip_int64_t)st.size);
	zip_source_close(src);
	zip_source_free(src);
	*len = st.size;
	return out;
}

/*
 * sandbox_zip_check's answer for a ZIP of the entries; libzip will not
 * write a name twice, so "dupB" becomes "dupA" in the bytes afterwards.
 */
static int zip_verdict(const struct zentry *e, size_t n, uint64_t max, struct dcr_err *err)
{
	size_t len;
	uint8_t *zip = make_zip(e, n, &len);
	int r;

	for (size_t i = 0; i + 4 <= len; i++)
		if (memcmp(zip + i, "dupB", 4) == 0)
			zip[i + 3] = 'A';
	r = sandbox_zip_check(zip, len, max, err);

	free(zip);
	return r;
}

#define U ZIP_OPSYS_UNIX
#define DIR_ 040755
#define FILE_ 0100644

/* What no supervisor writes, refused by index; what it writes, accepted. */
static void test_zip_check(void **state)
{
	static const struct zentry good[] = {
		{ "a.txt", U, FILE_, "a" }, { "b/", U, DIR_, NULL }, { "b/c/", U, DIR_, NULL }, { "b/c/d", U, FILE_, "d" },
		{ "\xc3\xbc", U, FILE_, "u" },
	};
	static const struct {
		struct zentry e[3];
		size_t n;
		const char *why;
	} bad[] = {
		{ { { "passwd", U, 0120777, "/etc/passwd" } }, 1, "entry 0 is refused: not a regular file" },
		{ { { "a", U, FILE_, "" }, { "run-me", U, 0104777, "x" } }, 2, "entry 1 is refused: not a regular file" },
		{ { { "a", U, 0100600, "x" } }, 1, "mode 100600" },
		{ { { "a", U, 0100755, "x" } }, 1, "entry 0 is refused" },
		{ { { "fifo", U, 010644, "" } }, 1, "entry 0 is refused" },
		{ { { "d", U, DIR_, NULL } }, 1, "entry 0 is refused" },  /* a directory without its '/' */
		{ { { "d/", U, FILE_, NULL } }, 1, "entry 0 is refused" },
		{ { { "a", ZIP_OPSYS_DOS, FILE_, "x" } }, 1, "system 0" },
		{ { { "dupA", U, FILE_, "1" }, { "dupB", U, FILE_, "2" } }, 2, "damaged ZIP" },  /* libzip refuses it first */
		{ { { "b", U, FILE_, "" }, { "a", U, FILE_, "" } }, 2, "entry 1 is refused: out of order" },
		{ { { "a\nb", U, FILE_, "" } }, 1, "entry 0 is refused: its name has a control character" },
		{ { { "x\x1b[31m", U, FILE_, "" } }, 1, "entry 0 is refused: its name has a control character" },
		{ { { "c1\xc2\x85", U, FILE_, "" } }, 1, "control character" },
		{ { { "bad\xff", U, FILE_, "" } }, 1, "entry 0 is refused: its name is not UTF-8" },
		{ { { "\xc0\xae", U, FILE_, "" } }, 1, "not UTF-8" },  /* an overlong '.' */
		{ { { "../x", U, FILE_, "" } }, 1, "'.' or '..' part" },
		{ { { "/etc/x", U, FILE_, "" } }, 1, "absolute" },
		{ { { "a//", U, DIR_, NULL } }, 1, "empty part" },
		{ { { "x/", U, DIR_, NULL }, { "x/y/f", U, FILE_, "" } }, 2, "entry 1 is refused: its directory is not in the ZIP" },
		{ { { "a", U, FILE_, "" }, { "a/", U, DIR_, NULL } }, 2, "entry 1 is refused: a file has the same name" },
		{ { { "a", U, FILE_, "" }, { "a/b", U, FILE_, "" } }, 2, "entry 1 is refused: its directory is not in the ZIP" },
	};
	struct dcr_err err = { 0 };

	assert_int_equal(zip_verdict(good, sizeof(good) / sizeof(good[0]), 1 << 20, &err), 0);
	/* An empty output directory: python's zipfile writes the end record alone. */
	assert_int_equal(sandbox_zip_check((const uint8_t *)"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22,
		1 << 20, &err), 0);
	assert_int_equal(zip_verdict(good, sizeof(good) / sizeof(good[0]), 2, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "the output directory holds more than 2 bytes");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (zip_verdict(bad[i].e, bad[i].n, 1 << 20, &err) != DCR_ECOMPUTE)
			fail_msg("case %zu (%s) was accepted", i, bad[i].why);
		if (!strstr(err.msg, bad[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, err.msg, bad[i].why);
		/* Names are data: never quoted (short ones would match any message). */
		if (strlen(bad[i].e[bad[i].n - 1].name) >= 4)
			assert_null(strstr(err.msg, bad[i].e[bad[i].n - 1].name));
	}
	/* Not a ZIP at all. */
	assert_int_equal(sandbox_zip_check((const uint8_t *)"exit 0\n", 7, 1 << 20, &err), DCR_ECOMPUTE);
	assert_non_null(strstr(err.msg, "damaged ZIP"));
}

/* result: file: the one file's bytes, whatever directories lie around it; none or two refused. */
static void test_zip_single(void **state)
{
	static const struct zentry one[] = { { "a/", U, DIR_, NULL }, { "a/b/", U, DIR_, NULL },
		{ "a/b/result.bin", U, FILE_, "the bytes\r\n" }, { "c/", U, DIR_, NULL } };
	static const struct zentry empty[] = { { "empty.bin", U, FILE_, "" } };
	static const struct zentry two[] = { { "secret-name-1", U, FILE_, "1" }, { "secret-name-2", U, FILE_, "2" } };
	static const struct zentry none[] = { { "d/", U, DIR_, NULL } };
	struct dcr_err err = { 0 };
	uint8_t *zip, *out;
	size_t len, out_len;

	zip = make_zip(one, 4, &len);
	assert_int_equal(sandbox_zip_check(zip, len, 1 << 20, &err), 0);
	assert_int_equal(sandbox_zip_single(zip, len, &out, &out_len, &err), 0);
	assert_int_equal(out_len, 11);
	assert_memory_equal(out, "the bytes\r\n", 11);
	free(out);
	free(zip);
	zip = make_zip(empty, 1, &len);
	assert_int_equal(sandbox_zip_single(zip, len, &out, &out_len, &err), 0);
	assert_int_equal(out_len, 0);
	assert_non_null(out);
	free(out);
	free(zip);
	zip = make_zip(two, 2, &len);
	assert_int_equal(sandbox_zip_single(zip, len, &out, &out_len, &err), DCR_ECOMPUTE);
	assert_null(out);
	assert_non_null(strstr(err.msg, "holds 2 files"));
	assert_null(strstr(err.msg, "secret-name"));
	free(zip);
	zip = make_zip(none, 1, &len);
	assert_int_equal(sandbox_zip_single(zip, len, &out, &out_len, &err), DCR_ECOMPUTE);
	assert_non_null(strstr(err.msg, "holds 0 files"));
	free(zip);
	/* An empty output directory: the end record alone. */
	assert_int_equal(sandbox_zip_single((const uint8_t *)"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22,
		&out, &out_len, &err), DCR_ECOMPUTE);
}

#undef U
#undef DIR_
#undef FILE_

/* ---- inputs ---- */

/* One memfd shown at twelve paths is one file in the sandbox: links to the first, held once. */
static void test_shared_input(void **state)
{
	static const char script[] =
		"import os\n"
		"paths = ['/input/d%02d' % i for i in range(12)]\n"
		"print('sizes', sorted(set(os.path.getsize(p) for p in paths)))\n"
		"print('links', [p for p in paths if os.path.islink(p)] == paths[1:], os.readlink(paths[5]))\n"
		"print('same', len(set(open(p, 'rb').read(4096) for p in paths)))\n"
		"print('walk', sorted(f for _, _, fs in os.walk('/input') for f in fs) == [p[7:] for p in paths])\n";
	struct sandbox_file files[13];
	char paths[12][32];
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	size_t size = 32 * MiB;
	uint8_t *data = malloc(size);
	int fd = sandbox_memfd("test-input"), before;

	NEED_SANDBOX();
	assert_true(fd >= 0);
	assert_non_null(data);
	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 7);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(sandbox_memfd_seal(fd), 0);
	assert_true(write(fd, "x", 1) < 0);  /* sealed */
	free(data);
	files[0] = text_file("/code/main.py", script);
	for (int i = 0; i < 12; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/input/d%02d", i);
		files[i + 1] = (struct sandbox_file){ paths[i], fd, NULL, 0 };
	}
	before = count_fds();
	/* Twelve copies would be 384 MiB; in a cgroup of 128 MiB, only one fits. */
	if (run_script(script, files + 1, 12, 0, 128 * MiB, NULL, &res, &err) != 0)
		fail_msg("%s; logs: %s", err.msg, res.logs ? res.logs : "");
	assert_non_null(strstr(res.logs, "sizes [33554432]"));
	assert_non_null(strstr(res.logs, "links True /input/d00"));
	assert_non_null(strstr(res.logs, "same 1"));
	assert_non_null(strstr(res.logs, "walk True"));
	result_free(&res);
	/* The caller's descriptor stays the caller's, at its offset, and can be used again. */
	assert_int_equal(count_fds(), before);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	assert_int_equal(run_script(script, files + 1, 12, 0, 128 * MiB, NULL, &res, &err), 0);
	result_free(&res);
	close(fd);
}

/* ---- what this dcrd allows ---- */

static void test_py_check(void **state)
{
	Dcr__V1__PythonComputation pc = DCR__V1__PYTHON_COMPUTATION__INIT;
	struct job_bounds lim = { 2000, 64 * MiB };
	struct dcr_err err = { 0 };

	/* Unset limits are the room's defaults, 60s and 1GiB. */
	assert_int_equal(py_check("c", &pc, &lim, NULL, DCR_EINVALID, &err), DCR_EINVALID);
	assert_string_equal(err.msg, "computation 'c' asks for a time limit of 60s; this dcrd allows at most 2s "
		"(dcrd serve --max-job-time)");
	pc.time_limit_ms = 2000;
	assert_int_equal(py_check("c", &pc, &lim, NULL, DCR_ECOMPUTE, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "computation 'c' asks for a memory limit of 1GiB; this dcrd allows at most 64MiB "
		"(dcrd serve --max-job-memory)");
	pc.memory_limit_bytes = 64 * MiB;
	assert_int_equal(py_check("c", &pc, &lim, NULL, DCR_EINVALID, &err), 0);
	assert_int_equal(py_check("c", &pc, &lim, "it runs in an SGX enclave (Gramine)", DCR_EINVALID, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "computation 'c' is python, which this dcrd refuses: it runs in an SGX enclave"));
}

/* ---- libraries ---- */

static void test_numpy(void **state)
{
	static const char script[] =
		"import numpy as np\n"
		"import pandas as pd\n"
		"a = np.arange(10.0)\n"
		"df = pd.DataFrame({'x': a})\n"
		"open('/output/sum.txt', 'w').write('%g %g' % (a.sum(), df.x.mean()))\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	char *sum;

	NEED_SANDBOX();
	if (system("/usr/bin/python3 -c 'import numpy, pandas' 2>/dev/null") != 0) {
		print_message("skipped: numpy or pandas is not installed\n");
		skip();
	}
	/* The room example's modest limit is enough for numpy and pandas. */
	if (run_script(script, NULL, 0, 0, 256 * MiB, NULL, &res, &err) != 0)
		fail_msg("%s; logs: %s", err.msg, res.logs ? res.logs : "");
	sum = zip_get(&res, "sum.txt", NULL);
	assert_string_equal(sum, "45 4.5");
	free(sum);
	result_free(&res);
}

/* ---- the host's side ---- */

static void test_no_fd_leak(void **state)
{
	struct sandbox_file extra[] = { text_file("/input/x", "x") };
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	int before;

	NEED_SANDBOX();
	before = count_fds();
	assert_int_equal(run_script("print('hi')\n", extra, 1, 0, 0, NULL, &res, &err), 0);
	result_free(&res);
	assert_int_equal(run_script("import sys\nsys.exit(2)\n", extra, 1, 0, 0, NULL, &res, &err), DCR_ECOMPUTE);
	result_free(&res);
	assert_int_equal(run_script("import time\ntime.sleep(5)\n", extra, 1, 200, 0, NULL, &res, &err), DCR_ECOMPUTE);
	result_free(&res);
	assert_int_equal(count_fds(), before);
	/* and no zombie left to reap */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/*
 * No child of dcrd's is left once a sandbox has ended, zombie or alive:
 * this process reaps orphans (as dcrd does, see sandbox_configure, and as
 * dcrd as PID 1 of a container must), so a sandbox's pid 1 orphaned by
 * bwrap's death would come here. waitpid blocks until such an orphan
 * has died, so no timing decides.
 */
static void expect_no_child(const char *after)
{
	int status;
	pid_t left;

	while ((left = waitpid(-1, &status, 0)) < 0 && errno == EINTR)
		;
	if (left >= 0)
		fail_msg("after %s, process %d was left to this process to reap", after, (int)left);
	assert_int_equal(errno, ECHILD);
}

/* The host pid of bwrap, this process's child, running the sandbox whose command named itself name. */
static pid_t bwrap_of(const char *name)
{
	pid_t command = process_named(name), p;

	assert_true(command > 0);
	/* command -> supervisor (pid 1) -> bwrap */
	for (p = command; p > 0; ) {
		char path[64], line[512], *paren;
		long ppid = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
		assert_non_null(f = fopen(path, "r"));
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		assert_non_null(paren = strrchr(line, ')'));
		assert_int_equal(sscanf(paren + 1, " %*c %ld", &ppid), 1);
		if (ppid == getpid())
			return p;
		p = (pid_t)ppid;
	}
	fail_msg("no bwrap of this process above %s", name);
	return 0;
}

/*
 * The review's finding: killing bwrap first (at the time limit) left the
 * sandbox's pid 1 a zombie for the host's init, or for dcrd as PID 1 of a
 * container, one per killed job. Now the time limit kills pid 1 and bwrap
 * reaps it; a bwrap that dies first anyway (the OOM killer's choice,
 * played here by a SIGKILL from outside) leaves pid 1 to dcrd, which
 * reaps it; and a pid 1 orphaned before dcrd knew it is reaped after the
 * next sandbox.
 */
static void test_no_zombies(void **state)
{
	char script[512], name[16];
	struct probe p = { .script = script };
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	int ready[2], status;
	pthread_t t;
	pid_t a;
	char byte;

	NEED_SANDBOX();
	/* dcrd's sandbox_configure made it so; the test makes sure of it. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	expect_no_child("the earlier tests");

	assert_int_equal(run_script("import time\ntime.sleep(30)\n", NULL, 0, 500, 0, NULL, &res, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "the computation exceeded its time limit of 500ms");
	result_free(&res);
	expect_no_child("a sandbox killed at its time limit");

	snprintf(name, sizeof(name), "dcr-z%d", (int)getpid());
	snprintf(script, sizeof(script),
		"import ctypes, time\n"
		"ctypes.CDLL(None).prctl(15, b'%s', 0, 0, 0)\n"
		"time.sleep(60)\n", name);
	assert_int_equal(pthread_create(&t, NULL, probe_run, &p), 0);
	assert_int_equal(kill(bwrap_of(name), SIGKILL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(p.ret, DCR_ECOMPUTE);  /* bwrap died: no status line */
	result_free(&p.res);
	expect_no_child("a sandbox whose bwrap was killed");

	/*
	 * Pid 1 of a PID namespace, orphaned to this process, dead: as bwrap
	 * dying during setup would leave it. It learns that its parent is gone
	 * when the pipe its parent held closes.
	 */
	assert_int_equal(pipe(ready), 0);
	a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		int gone[2];
		pid_t b;

		if (pipe(gone) < 0 || unshare(CLONE_NEWPID | (geteuid() ? CLONE_NEWUSER : 0)) < 0 || (b = fork()) < 0)
			_exit(1);
		if (b == 0) {
			close(gone[1]);
			(void)!read(gone[0], &byte, 1);
			(void)!write(ready[1], "x", 1);
			_exit(0);
		}
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(waitpid(a, &status, 0), a);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	{
		siginfo_t info = { 0 };

		/* Until it is a zombie, without reaping it. */
		assert_int_equal(waitid(P_ALL, 0, &info, WEXITED | WNOWAIT), 0);
	}
	assert_int_equal(run_script("pass\n", NULL, 0, 0, 0, NULL, &res, &err), 0);
	result_free(&res);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_bad_paths(void **state)
{
	static const char *const bad[] = {
		"/etc/x", "input/x", "/input", "/code", "/input/../etc/x", "/input//x", "/input/./x",
		"/input/x/", "/inputs/x", "/code/a/../../etc", "/input/\nx", "/opt/dcr/run.py",
	};
	static const char *const bad_output[] = { "/tmp", "/output/../tmp", "/output/", "/outputs", "output" };
	static const char *const clash[][2] = { { "/input/a", "/input/a" }, { "/input/a", "/input/a/b" },
		{ "/input/a/b/c", "/input/a/b" } };
	Dcr__V1__PythonComputation pc = DCR__V1__PYTHON_COMPUTATION__INIT;
	char *cmd[] = { "true" };
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	pc.command = cmd;
	pc.n_command = 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sandbox_file f = text_file(bad[i], "x");

		assert_int_equal(py_run(&pc, &f, 1, 0, &res, &err), DCR_EINVALID);
		assert_null(res.zip);
		assert_null(res.logs);
	}
	for (size_t i = 0; i < sizeof(bad_output) / sizeof(bad_output[0]); i++) {
		pc.output = (char *)bad_output[i];
		assert_int_equal(py_run(&pc, NULL, 0, 0, &res, &err), DCR_EINVALID);
		assert_non_null(strstr(err.msg, bad_output[i]));
	}
	pc.output = NULL;
	for (size_t i = 0; i < sizeof(clash) / sizeof(clash[0]); i++) {
		struct sandbox_file f[] = { text_file(clash[i][0], "x"), text_file(clash[i][1], "y") };

		assert_int_equal(py_run(&pc, f, 2, 0, &res, &err), DCR_EINVALID);
		assert_non_null(strstr(err.msg, "one is the other or lies inside it"));
	}
}

/* What bwrap refuses (here a name longer than NAME_MAX) is a failure to set up, in bwrap's words. */
static void test_setup_failure(void **state)
{
	char path[400] = "/input/";
	char *cmd[] = { "true" };
	Dcr__V1__PythonComputation pc = DCR__V1__PYTHON_COMPUTATION__INIT;
	struct sandbox_file f;
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	memset(path + 7, 'a', 300);
	f = text_file(path, "x");
	pc.command = cmd;
	pc.n_command = 1;
	assert_int_equal(py_run(&pc, &f, 1, 0, &res, &err), DCR_EFAIL);
	assert_int_equal(strncmp(err.msg, "cannot set up the python sandbox: bwrap: ", 41), 0);
	assert_non_null(strstr(err.msg, "File name too long"));
	assert_null(res.zip);
	result_free(&res);
}

/*
 * The security review's attack on the supervisor, from the command (same
 * user, same PID namespace): write its memory and its ZIP pipe to forge a
 * "succeeded" job whose ZIP holds a symbolic link and a setuid file, then
 * exit 1. Every way in is closed, and the job reports the real exit.
 */
static void test_supervisor_out_of_reach(void **state)
{
	char script[4096];
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	snprintf(script, sizeof(script),
		"import ctypes, errno, io, os, signal, stat, zipfile\n"
		"def attempt(what, f):\n"
		"    try:\n"
		"        f()\n"
		"        print(what, 'DONE', flush=True)\n"
		"    except OSError as e:\n"
		"        print(what, 'refused', errno.errorcode[e.errno], flush=True)\n"
		"sup = os.getppid()\n"
		"forged = io.BytesIO()\n"
		"with zipfile.ZipFile(forged, 'w') as z:\n"
		"    link = zipfile.ZipInfo('passwd')\n"
		"    link.external_attr = 0o120777 << 16\n"
		"    z.writestr(link, '/etc/passwd')\n"
		"    suid = zipfile.ZipInfo('run-me')\n"
		"    suid.external_attr = 0o104777 << 16\n"
		"    z.writestr(suid, '#!/bin/sh\\n')\n"
		"payload = b'exit 0\\n' + forged.getvalue()\n"
		"def write_fd():\n"
		"    with open('/proc/%%d/fd/3' %% sup, 'wb') as f:\n"
		"        f.write(payload)\n"
		"def write_mem():\n"
		"    with open('/proc/%%d/mem' %% sup, 'r+b', buffering=0) as f:\n"
		"        f.seek(0x400000)\n"
		"        f.write(b'x')\n"
		"def ptrace():\n"
		"    libc = ctypes.CDLL(None, use_errno=True)\n"
		"    if libc.syscall(%ld, 16, sup, 0, 0) != 0:\n"  /* PTRACE_ATTACH */
		"        raise OSError(ctypes.get_errno(), 'ptrace')\n"
		"attempt('fd', write_fd)\n"
		"attempt('mem', write_mem)\n"
		"attempt('ptrace', ptrace)\n"
		"attempt('fdinfo', lambda: os.listdir('/proc/%%d/fd' %% sup))\n"
		"os.kill(sup, signal.SIGKILL)\n"
		"os.symlink('/etc/passwd', '/output/passwd')\n"
		"open('/output/run-me', 'w').write('#!/bin/sh\\n')\n"
		"os.chmod('/output/run-me', 0o4777)\n"
		"print('supervisor alive', os.path.exists('/proc/%%d' %% sup), flush=True)\n"
		"raise SystemExit(1)\n", (long)__NR_ptrace);
	assert_int_equal(run_script(script, NULL, 0, 0, 0, NULL, &res, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "the command exited with status 1");
	assert_int_equal(res.exit_status, 1);
	assert_null(res.zip);
	assert_null(strstr(res.logs, "DONE"));
	assert_non_null(strstr(res.logs, "fd refused EACCES"));
	assert_non_null(strstr(res.logs, "mem refused EACCES"));
	assert_non_null(strstr(res.logs, "ptrace refused EPERM"));
	assert_non_null(strstr(res.logs, "fdinfo refused EACCES"));
	assert_non_null(strstr(res.logs, "supervisor alive True"));
	result_free(&res);
}

/* The same files after a command that succeeds: no link, and the file at 0644. */
static void test_output_modes(void **state)
{
	static const char script[] =
		"import os\n"
		"os.symlink('/etc/passwd', '/output/passwd')\n"
		"open('/output/run-me', 'w').write('#!/bin/sh\\n')\n"
		"os.chmod('/output/run-me', 0o4777)\n"
		"os.mkdir('/output/d', 0o700)\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };
	zip_uint32_t attr;
	zip_uint8_t opsys;
	char names[256];
	zip_t *za;

	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 0, 0, NULL, &res, &err), 0);
	zip_names(&res, names, sizeof(names));
	assert_string_equal(names, "d/ run-me");
	za = zip_open_mem(&res);
	assert_int_equal(zip_file_get_external_attributes(za, 0, 0, &opsys, &attr), 0);
	assert_int_equal(attr >> 16, 040755);
	assert_int_equal(zip_file_get_external_attributes(za, 1, 0, &opsys, &attr), 0);
	assert_int_equal(opsys, ZIP_OPSYS_UNIX);
	assert_int_equal(attr >> 16, 0100644);
	zip_discard(za);
	result_free(&res);
}

static void test_too_many_files(void **state)
{
	static const char script[] =
		"for i in range(10001):\n"
		"    open('/output/%05d' % i, 'w').close()\n";
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	NEED_SANDBOX();
	assert_int_equal(run_script(script, NULL, 0, 0, 0, NULL, &res, &err), DCR_ECOMPUTE);
	assert_string_equal(err.msg, "the output directory holds 10001 files and directories; at most 10000 are allowed");
	assert_null(res.zip);
	result_free(&res);
	/* 10000 is fine */
	assert_int_equal(run_script("for i in range(10000):\n    open('/output/%05d' % i, 'w').close()\n", NULL, 0,
		0, 0, NULL, &res, &err), 0);
	result_free(&res);
}

struct parallel {
	char script[128];
	int ret;
	char *out;
};

static void *parallel_run(void *arg)
{
	struct parallel *p = arg;
	struct sandbox_result res;
	struct dcr_err err = { 0 };

	p->ret = run_script(p->script, NULL, 0, 0, 0, NULL, &res, &err);
	p->out = p->ret == 0 ? zip_get(&res, "n", NULL) : NULL;
	result_free(&res);
	return NULL;
}

/* Sandboxes started from several threads at once keep to their own descriptors and results. */
static void test_concurrent(void **state)
{
	struct parallel p[6];
	pthread_t t[6];
	int before;

	NEED_SANDBOX();
	before = count_fds();
	for (int i = 0; i < 6; i++) {
		snprintf(p[i].script, sizeof(p[i].script), "import time\ntime.sleep(0.%d)\nopen('/output/n', 'w').write('%d')\n",
			i, i);
		assert_int_equal(pthread_create(&t[i], NULL, parallel_run, &p[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		char want[4];

		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(p[i].ret, 0);
		snprintf(want, sizeof(want), "%d", i);
		assert_string_equal(p[i].out, want);
		free(p[i].out);
	}
	assert_int_equal(count_fds(), before);
}

static int group_setup(void **state)
{
	struct dcr_err err = { 0 };
	struct sandbox_options opt = { NULL, NULL, NULL };
	char user[32], desc[3 * 4096];

	/* As root: a uid no one has, as an operator's --sandbox-user would be. */
	sandbox_uid = getuid();
	if (geteuid() == 0) {
		/* One of its own per run: other runs of this test may fork bombs at the same time. */
		for (sandbox_uid = 61234 + (uid_t)(getpid() % 20000); getpwuid(sandbox_uid); sandbox_uid++)
			;
		snprintf(user, sizeof(user), "%u", (unsigned)sandbox_uid);
		opt.user = user;
	}
	if (sandbox_configure(&opt, desc, sizeof(desc), &err) < 0) {
		fprintf(stderr, "sandbox_configure: %s\n", err.msg);
		return -1;
	}
	print_message("%s\n", desc);
	snprintf(sandbox_desc, sizeof(sandbox_desc), "%s", desc);
	sandbox_cgroup = strstr(desc, "job limits: cgroup v") != NULL;
	sandbox_ok = sandbox_available(&err) == 0;
	if (!sandbox_ok)
		snprintf(sandbox_why, sizeof(sandbox_why), "%s", err.msg);
	return 0;
}

static int group_teardown(void **state)
{
	sandbox_shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uppercase),
		cmocka_unit_test(test_secret_code),
		cmocka_unit_test(test_enclave_helper),
		cmocka_unit_test(test_no_network),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_host_hidden),
		cmocka_unit_test(test_never_host_root),
		cmocka_unit_test(test_proc_read_only),
		cmocka_unit_test(test_seccomp_program),
		cmocka_unit_test(test_seccomp_other_abi),
		cmocka_unit_test(test_seccomp_in_sandbox),
		cmocka_unit_test(test_seccomp_workload),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_time_limit_seconds),
		cmocka_unit_test(test_time_cut),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_output_size_limit),
		cmocka_unit_test(test_rlimits),
		cmocka_unit_test(test_memory_shared_mmap),
		cmocka_unit_test(test_memory_memfd),
		cmocka_unit_test(test_memory_processes),
		cmocka_unit_test(test_fork_bomb),
		cmocka_unit_test(test_cgroup_removed),
		cmocka_unit_test(test_cgroup_parsers),
		cmocka_unit_test(test_cgroup_path_refused),
		cmocka_unit_test_teardown(test_cgroup_delegation, delegation_teardown),
		cmocka_unit_test(test_cgroup_kill_by_pidfd),
		cmocka_unit_test(test_cgroup_stale),
		cmocka_unit_test(test_cgroup_no_swap),
		cmocka_unit_test_teardown(test_cgroup_sweep_v2, sweep_teardown),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_no_such_command),
		cmocka_unit_test(test_logs_truncated),
		cmocka_unit_test(test_logs_sizes),
		cmocka_unit_test(test_subdirectories),
		cmocka_unit_test(test_empty_output),
		cmocka_unit_test(test_symlink_not_followed),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_zip_check),
		cmocka_unit_test(test_zip_single),
		cmocka_unit_test(test_shared_input),
		cmocka_unit_test(test_py_check),
		cmocka_unit_test(test_numpy),
		cmocka_unit_test(test_no_fd_leak),
		cmocka_unit_test(test_no_zombies),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_setup_failure),
		cmocka_unit_test(test_supervisor_out_of_reach),
		cmocka_unit_test(test_output_modes),
		cmocka_unit_test(test_too_many_files),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
