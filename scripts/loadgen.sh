#!/usr/bin/env bash
# Load test of a whole PayPortal with `payportal loadgen`; BENCHMARKS.md has the figures.
#
# Builds the binary, starts a headless Temporal dev server with PayPortal's search attributes
# (its state in a file, as `payportal dev` keeps it, or in memory: LOADGEN_TEMPORAL_STATE),
# creates a throwaway database with `payportal migrate`, runs `payportal api` (rate limit
# lifted) and `payportal worker` as separate processes in development, then runs
# `payportal loadgen` against them once per argument (each argument is one run's flags; none:
# LOADGEN_ARGS), with -cpu naming the API, the worker and Temporal so that each phase reports
# the cores they used. Everything stays on loopback and everything the script started is
# stopped (and the database dropped) on exit. The exit status is 1 if any run failed.
#
#   scripts/loadgen.sh "-customers 5 -mix card" "-customers 20 -mix card"
#
# Settings (environment):
#   LOADGEN_ARGS           flags of the run when no argument is given ("-customers 5 -mix card -duration 20s")
#   LOADGEN_API_PORT       port of the API on 127.0.0.1                     (18481)
#   LOADGEN_OPS_PORT       ops listeners (/readyz): the API's, the worker's +1 (18491)
#   LOADGEN_TEMPORAL_PORT  port of the Temporal dev server (its UI port +1000) (17998)
#   LOADGEN_DATABASE       throwaway database, payportal_loadgen*           (payportal_loadgen)
#   LOADGEN_PG_SERVER      Postgres server                                  (postgres://postgres@127.0.0.1:5432)
#   LOADGEN_LOG_LEVEL      API and worker log level; info logs every request, as in production (info)
#   LOADGEN_TEMPORAL_STATE where the dev server keeps its state                            (file)
#                          file: a SQLite file, as `payportal dev` runs it: every commit waits for
#                            the disk, which bounds every workflow the server runs, ceilings too;
#                          memory: no disk, a ceiling two to three times higher, where PayPortal's
#                            own CPU per payment weighs more (BENCHMARKS.md has both)
#   LOADGEN_TEMPORAL_ARGS  more flags of `temporal server start-dev`, e.g. dynamic config to try  (none)
set -euo pipefail

cd "$(dirname "$0")/.."

api_port="${LOADGEN_API_PORT:-18481}"
ops_port="${LOADGEN_OPS_PORT:-18491}"
worker_ops_port=$((ops_port + 1))
temporal_port="${LOADGEN_TEMPORAL_PORT:-17998}"
db_name="${LOADGEN_DATABASE:-payportal_loadgen}"
pg_server="${LOADGEN_PG_SERVER:-postgres://postgres@127.0.0.1:5432}"
temporal_cli="${PAYPORTAL_TEMPORAL_CLI:-.payportal/bin/temporal}"
temporal_state="${LOADGEN_TEMPORAL_STATE:-file}"
log_level="${LOADGEN_LOG_LEVEL:-info}"
base="http://127.0.0.1:$api_port"
if [ "$#" -eq 0 ]; then
	set -- "${LOADGEN_ARGS:--customers 5 -mix card -duration 20s}"
fi

die() {
	printf 'loadgen: %s\n' "$*" >&2
	exit 1
}

# The database is dropped at the end: only a name made for this is accepted.
[[ "$db_name" =~ ^payportal_loadgen[a-z0-9_]*$ ]] || die "LOADGEN_DATABASE must match payportal_loadgen[a-z0-9_]*, got $db_name"
case "$temporal_state" in
file | memory) ;;
*) die "LOADGEN_TEMPORAL_STATE must be file or memory, got $temporal_state" ;;
esac
for tool in curl psql go; do
	command -v "$tool" >/dev/null || die "$tool is missing"
done
[ -x "$temporal_cli" ] || die "no Temporal CLI at $temporal_cli: run 'make temporal-cli' first"
for port in "$api_port" "$ops_port" "$worker_ops_port" "$temporal_port" $((temporal_port + 1000)); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port $port on 127.0.0.1 is in use; pick others (LOADGEN_API_PORT, LOADGEN_OPS_PORT, LOADGEN_TEMPORAL_PORT)"
	fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/payportal-loadgen.XXXXXX")"
state_dir=""
temporal_pid=""
api_pid=""
worker_pid=""
db_created=""
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d "$pg_server/postgres?sslmode=disable" "$@"; }
stop() {
	local pid
	for pid in "$api_pid" "$worker_pid" "$temporal_pid"; do
		[ -n "$pid" ] || continue
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$db_created" ]; then
		psql_admin -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" || true
	fi
	rm -rf "$work"
	if [ -n "$state_dir" ]; then
		rm -rf "$state_dir"
	fi
}
trap stop EXIT
trap 'exit 130' INT TERM

# await_ready waits for an ops listener's /readyz while the process lives.
await_ready() {
	local name="$1" pid="$2" port="$3" log="$4" i
	for i in $(seq 60); do
		curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "payportal $name exited"; }
		sleep 1
	done
	die "payportal $name is not ready"
}

echo "== build"
CGO_ENABLED=0 go build -o "$work/payportal" ./cmd/payportal

state_args=()
if [ "$temporal_state" = file ]; then
	# Beside `payportal dev`'s state, on the same disk: a temporary directory may be in memory.
	mkdir -p .payportal
	state_dir="$(mktemp -d .payportal/loadgen-temporal.XXXXXX)"
	state_args=(--db-filename "$state_dir/temporal.db")
	echo "== temporal dev server on 127.0.0.1:$temporal_port, its state in a file as \`payportal dev\` keeps it"
else
	echo "== temporal dev server on 127.0.0.1:$temporal_port, its state in memory (no disk: a higher ceiling than \`payportal dev\`'s)"
fi
# One partition per task queue and the search attribute cache on, as `payportal dev` runs it
# (internal/devserver: TuningArgs).
# shellcheck disable=SC2086 # LOADGEN_TEMPORAL_ARGS is split into flags on purpose
"$temporal_cli" server start-dev --headless --ip 127.0.0.1 --port "$temporal_port" --ui-port $((temporal_port + 1000)) \
	--log-level warn "${state_args[@]}" --search-attribute AccountId=Keyword --search-attribute PaymentStatus=Keyword \
	--search-attribute PaymentMethodKind=Keyword --search-attribute AmountMinor=Int \
	--dynamic-config-value matching.numTaskqueueReadPartitions=1 --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
	--dynamic-config-value system.forceSearchAttributesCacheRefreshOnRead=false \
	${LOADGEN_TEMPORAL_ARGS:-} \
	>"$work/temporal.log" 2>&1 &
temporal_pid=$!
for i in $(seq 60); do
	"$temporal_cli" operator cluster health --address "127.0.0.1:$temporal_port" >/dev/null 2>&1 && break
	kill -0 "$temporal_pid" 2>/dev/null || { cat "$work/temporal.log" >&2; die "the Temporal dev server exited"; }
	[ "$i" -lt 60 ] || die "the Temporal dev server did not answer"
	sleep 1
done

echo "== database $db_name (migrate)"
psql_admin -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)"
db_created=1
# Development: the sandbox processors, the built-in payload key and loadgen's accounts and
# keys are refused otherwise.
export PAYPORTAL_ENV=development
export DATABASE_URL="$pg_server/$db_name?sslmode=disable"
export TEMPORAL_ADDRESS="127.0.0.1:$temporal_port"
export PAYPORTAL_HTTP_ADDR="127.0.0.1:$api_port"
"$work/payportal" migrate

echo "== payportal api on $base, payportal worker"
PAYPORTAL_OPS_ADDR="127.0.0.1:$ops_port" PAYPORTAL_RATE_LIMIT_RPS=1000000 PAYPORTAL_RATE_LIMIT_BURST=1000000 \
	PAYPORTAL_LOG_LEVEL="$log_level" "$work/payportal" api 2>"$work/api.log" &
api_pid=$!
PAYPORTAL_OPS_ADDR="127.0.0.1:$worker_ops_port" PAYPORTAL_LOG_LEVEL="$log_level" "$work/payportal" worker 2>"$work/worker.log" &
worker_pid=$!
await_ready api "$api_pid" "$ops_port" "$work/api.log"
await_ready worker "$worker_pid" "$worker_ops_port" "$work/worker.log"

status=0
for run in "$@"; do
	echo
	echo "== payportal loadgen $run"
	# shellcheck disable=SC2086 # each argument is one run's flags, split on purpose
	"$work/payportal" loadgen -base "$base" -database "$DATABASE_URL" -temporal "$TEMPORAL_ADDRESS" \
		-cpu "api=$api_pid,worker=$worker_pid,temporal=$temporal_pid" $run || status=1
	kill -0 "$api_pid" 2>/dev/null || die "payportal api died; see the log above"
	kill -0 "$worker_pid" 2>/dev/null || die "payportal worker died"
done
exit "$status"
