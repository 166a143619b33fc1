# Shared by upload-bench.sh, startup-bench.sh, pipeline-bench.sh,
# duckdb-bench.sh and duckdb-large-bench.sh; source it. A private temporary directory, a machine
# summary, the benchmark's sales table, and a simulated dcrd with a room
# in which one uploader may upload to a file node (or the room the caller
# wrote to room/room.yaml).

# bench_begin NAME: a temporary directory to work in ($dir, the current
# one from now on), with its own HOME, keystore and configuration; it is
# removed at exit, and the dcrd bench_dcrd started is killed.
bench_begin() {
	bench_name=$1
	dir=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	dcrd_pid=
	trap bench_cleanup EXIT
	cd "$dir"
	export HOME=$dir/home XDG_CONFIG_HOME=$dir/config XDG_DATA_HOME=$dir/data XDG_STATE_HOME=$dir/state
	unset DCR_ENDPOINT DCR_SPECS
	mkdir -p "$HOME"
}

bench_cleanup() {
	if [ -n "$dcrd_pid" ]; then
		kill -KILL "$dcrd_pid" 2>/dev/null || true
		wait "$dcrd_pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}

# bench_sales_csv SIZE_MIB FILE [MARKER]: the benchmark's sales table (id
# int64, region string, amount float64, day date), deterministic (fixed
# seed), about SIZE_MIB MiB, written in large blocks. With MARKER, the
# large benchmark's table instead: id int64, region string, customer string
# (about one distinct value per two rows), amount float64, note string
# (MARKER, "-" and the row's number: a string every row holds).
bench_sales_csv() {
	python3 - "$@" <<'EOF'
import datetime, random, sys
target = int(sys.argv[1]) << 20
regions = ["north", "south", "east", "west", "centre", "alps", "coast", "islands",
           "lakes", "plains", "delta", "valley", "highlands", "metro", "border", "forest"]
if len(sys.argv) > 3:
    marker, rng = sys.argv[3], random.Random(18)
    customers = target // 130
    head = "id,region,customer,amount,note\n"
    row = lambda i: "%d,%s,cust%09d,%d.%02d,%s-%d\n" % (i, rng.choice(regions), rng.randrange(customers),
                                                        rng.randrange(1000000), rng.randrange(100), marker, i)
else:
    rng = random.Random(20240501)
    start = datetime.date(2020, 1, 1)
    days = [(start + datetime.timedelta(d)).isoformat() for d in range(1827)]
    head = "id,region,amount,day\n"
    row = lambda i: "%d,%s,%d.%02d,%s\n" % (i, rng.choice(regions), rng.randrange(1000000), rng.randrange(100),
                                            rng.choice(days))
with open(sys.argv[2], "w", newline="") as f:
    f.write(head)
    size, i = len(head), 0
    while size < target:
        rows = []
        for _ in range(20000):
            i += 1
            rows.append(row(i))
        block = "".join(rows)
        if size + len(block) > target:  # stop at the first row that reaches the size
            block = block[:block.index("\n", target - size - 1) + 1]
        f.write(block)
        size += len(block)
EOF
}

# bench_sales_room NAME PERMISSIONS: room/room.yaml, a room NAME in which
# owner@bench.example has PERMISSIONS (a YAML list) and whose table node
# sales has the columns of bench_sales_csv's table; the caller appends its
# compute section.
bench_sales_room() {
	mkdir -p room
	cat >room/room.yaml <<YAML
version: 1
name: $1
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  owner@bench.example: $2
data:
  sales:
    type: table
    columns:
      - {name: id, type: int64}
      - {name: region, type: string}
      - {name: amount, type: float64}
      - {name: day, type: date}
YAML
}

bench_machine() {
	echo "== machine"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "kernel: $(uname -r)"
	echo "file system of the data: $(df -T . | awk 'NR == 2 { print $2 }')"
	echo "openssl: $(openssl version)"
}

# bench_stamp: each line of stdin prefixed with the wall clock, in seconds.
bench_stamp() {
	local line
	while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}

# bench_owner: a CA (ca.pem, ca.key), an uploader it certifies (owner/,
# owner@bench.example), and room/ca.pem for the room to name it.
bench_owner() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
		-days 2 -subj "/CN=bench-ca" -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1
	mkdir -p owner room
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout owner/key.pem \
		-out owner/req.csr -subj "/CN=owner@bench.example" >/dev/null 2>&1
	printf 'subjectAltName=email:owner@bench.example\nbasicConstraints=critical,CA:FALSE\n' >owner/ext.cnf
	openssl x509 -req -in owner/req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-out owner/cert.pem -extfile owner/ext.cnf >/dev/null 2>&1
	cp ca.pem room/ca.pem
}

# bench_dcrd DCRD DCR [DCRD ARGS...]: a CA, an uploader (owner/, owner@bench.example),
# DCRD serving its data from $dir/dcrd on a free loopback port ($dcrd_pid,
# $DCR_ENDPOINT, $DCR_SPECS; its stderr in dcrd.log, each line time-stamped
# by bench_stamp), and a room created by DCR in which the uploader may
# upload to the file node blob, or the one in room/room.yaml if the caller
# wrote it (with authentication: {ca: ca.pem}); its ID in $room.
bench_dcrd() {
	local dcrd=$1 dcr=$2 port
	shift 2
	bench_owner
	[ -e room/room.yaml ] ||
		printf '%s\n' 'version: 1' "name: $bench_name" 'enclave: dcrd:sim' 'authentication: {ca: ca.pem}' \
			'participants:' '  owner@bench.example: [upload blob]' 'data:' '  blob: {type: file}' >room/room.yaml
	"$dcrd" spec >specs.yaml
	export DCR_SPECS=$dir/specs.yaml
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$dcrd" serve --data-dir "$dir/dcrd" --listen "127.0.0.1:$port" "$@" 2> >(bench_stamp >>dcrd.log) &
	dcrd_pid=$!
	export DCR_ENDPOINT=http://127.0.0.1:$port
	for _ in $(seq 200); do
		curl -fsS -o /dev/null "$DCR_ENDPOINT/healthz" 2>/dev/null && break
		kill -0 "$dcrd_pid" || { echo "$bench_name: dcrd died: $(tail -3 dcrd.log)" >&2; exit 1; }
		sleep 0.05
	done
	room=$("$dcr" -q -i owner create room/room.yaml)
}

# bench_dcrd_cpu: CPU seconds of bench_dcrd's dcrd so far, with its
# children, those it has waited for and those still running (a SQL worker
# kept idle), each with the children it waited for (a keeper): utime +
# stime + cutime + cstime.
bench_dcrd_cpu() {
	local p stats=("/proc/$dcrd_pid/stat")
	for p in $(pgrep -P "$dcrd_pid"); do
		stats+=("/proc/$p/stat")
	done
	cat "${stats[@]}" 2>/dev/null |
		awk -v t="$(getconf CLK_TCK)" '{ s += $14 + $15 + $16 + $17 } END { printf "%.2f", s / t }'
}

# bench_dcrd_settle: wait until no SQL worker of bench_dcrd's dcrd has a
# child (a duckdb job's worker forks a keeper that writes the table store
# after the answer, and waits for it), at most 10 minutes. A worker kept
# idle (--sql-worker-idle) may stay.
bench_dcrd_settle() {
	local i w busy
	for i in $(seq 6000); do
		busy=
		for w in $(pgrep -P "$dcrd_pid" -f sql-worker); do
			pgrep -P "$w" >/dev/null && busy=1
		done
		[ -z "$busy" ] && return 0
		sleep 0.1
	done
	echo "$bench_name: a SQL worker of dcrd still has a child after 10 minutes" >&2
	return 1
}

# bench_job_kept JOB: seconds between dcrd's "job JOB started" and "kept"
# lines (its SQL worker wrote the table store after the answer), or the
# same as bench_job_time when the job kept nothing after its answer.
bench_job_kept() {
	awk -v j="$1" '$3 == "job" && $4 == j && $5 == "started" { s = $1 }
		$3 == "job" && $4 == j && ($5 == "succeeded" || $5 == "kept") { e = $1 }
		END { if (s && e) printf "%.3f\n", e - s; else exit 1 }' dcrd.log
}

# bench_job_time JOB: seconds between dcrd's "job JOB started" and
# "succeeded" lines in dcrd.log; FAILED (and status 1, the log's end on
# stderr) when it did not succeed.
bench_job_time() {
	awk -v j="$1" '$3 == "job" && $4 == j && $5 == "started" { s = $1 }
		$3 == "job" && $4 == j && $5 == "succeeded" { e = $1 } END { if (s && e) printf "%.3f\n", e - s; else exit 1 }' \
		dcrd.log && return 0
	echo "$bench_name: job $1 did not succeed" >&2
	tail -5 dcrd.log >&2
	echo FAILED
	return 1
}
