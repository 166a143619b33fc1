# Shared by examples/demo.sh and examples/run.sh (sourced, not run): a
# scratch directory that holds everything the example makes (identities,
# dataset keys, tree heads, dcrd's data), removed at exit, and a local dcrd
# on a free loopback port with simulated attestation. Nothing is written to
# your own ~/.config/dcr, ~/.local/share/dcr or ~/.local/state/dcr.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dcr=${DCR:-$top/build/cmd/dcr/dcr}
dcrd=${DCRD:-$top/build/cmd/dcrd/dcrd}
work=$(mktemp -d "${TMPDIR:-/tmp}/dcr-example.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
# dcr keeps identities, dataset keys and tree heads under these: here, the scratch directory.
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data XDG_STATE_HOME=$work/state
unset DCR_ENDPOINT DCR_SPECS
cd "$work"
step() { printf '\n== %s\n' "$*"; }

# start_dcrd: pin this dcrd build and start it with a fresh data directory.
start_dcrd() {
	local port

	step "Pin this dcrd build (simulated attestation: for development only)"
	"$dcrd" spec | tee specs.yaml
	export DCR_SPECS=$work/specs.yaml
	step "Start dcrd on a free loopback port with a fresh data directory"
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$dcrd" serve --data-dir dcrd-data --listen "127.0.0.1:$port" 2>dcrd.log &
	pid=$!
	export DCR_ENDPOINT=http://127.0.0.1:$port
	for _ in $(seq 200); do curl -fs -o /dev/null "$DCR_ENDPOINT/healthz" && break; sleep 0.05; done
	"$dcr" attest
}

# stop_dcrd: stop it (offline checks after).
stop_dcrd() {
	kill "$pid" && wait "$pid" 2>/dev/null || true
	pid=
}

# login WHO EMAIL: an identity in ./WHO with a certificate from dcrd's platform CA (dcr-auth(1)).
login() {
	"$dcr" -q -i "$1" auth login --email "$2" \
		--token "$("$dcrd" token create --data-dir dcrd-data --email "$2" 2>/dev/null)"
	echo "$2: certificate in $1/cert.pem"
}
