#!/usr/bin/env bash
# Load test of a real `payportal api` process with wrk; BENCHMARKS.md has the figures.
#
# Builds the binary, starts a headless Temporal dev server (the API needs one to start),
# creates a throwaway database with `payportal migrate --demo`, runs `payportal api` with the
# rate limit lifted, then drives three read routes of acct_demo with wrk and prints, per route,
# requests/s, latency p50/p99 and the API process's peak RSS (VmHWM, reset before each route).
# Everything stays on loopback, every run is bounded by LOAD_DURATION, and everything the
# script started is stopped (and the database dropped) on exit.
#
# Settings (environment):
#   LOAD_DURATION        wrk duration per route          (20s)
#   LOAD_THREADS         wrk threads                     (2)
#   LOAD_CONNECTIONS     wrk connections                 (32)
#   LOAD_API_PORT        port of the API on 127.0.0.1    (18480)
#   LOAD_OPS_PORT        port of its ops listener (/readyz) (18490)
#   LOAD_TEMPORAL_PORT   port of the Temporal dev server (17999)
#   LOAD_DATABASE        throwaway database, payportal_bench*   (payportal_bench)
#   LOAD_PG_SERVER       Postgres server                 (postgres://postgres@127.0.0.1:5432)
#   LOAD_POOL_MAX_CONNS  pgx pool size; unset: pgx's default, max(4, cores), as in production
#   LOAD_LOG_LEVEL       API log level; info logs every request, as in production (info)
set -euo pipefail

cd "$(dirname "$0")/.."

duration="${LOAD_DURATION:-20s}"
threads="${LOAD_THREADS:-2}"
connections="${LOAD_CONNECTIONS:-32}"
api_port="${LOAD_API_PORT:-18480}"
ops_port="${LOAD_OPS_PORT:-18490}"
temporal_port="${LOAD_TEMPORAL_PORT:-17999}"
db_name="${LOAD_DATABASE:-payportal_bench}"
pg_server="${LOAD_PG_SERVER:-postgres://postgres@127.0.0.1:5432}"
temporal_cli="${PAYPORTAL_TEMPORAL_CLI:-.payportal/bin/temporal}"
base="http://127.0.0.1:$api_port"
auth="Authorization: Bearer demo_customer_key"
account="/v1/accounts/acct_demo"

die() {
	printf 'load: %s\n' "$*" >&2
	exit 1
}

# The database is dropped at the end: only a name made for this is accepted.
[[ "$db_name" =~ ^payportal_bench[a-z0-9_]*$ ]] || die "LOAD_DATABASE must match payportal_bench[a-z0-9_]*, got $db_name"
for tool in wrk curl psql go; do
	command -v "$tool" >/dev/null || die "$tool is missing (wrk: apt-get install -y wrk)"
done
[ -x "$temporal_cli" ] || die "no Temporal CLI at $temporal_cli: run 'make temporal-cli' first"
for port in "$api_port" "$ops_port" "$temporal_port"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port $port on 127.0.0.1 is in use; pick another (LOAD_API_PORT, LOAD_OPS_PORT, LOAD_TEMPORAL_PORT)"
	fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/payportal-load.XXXXXX")"
temporal_pid=""
api_pid=""
db_created=""
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d "$pg_server/postgres?sslmode=disable" "$@"; }
stop() {
	local pid
	for pid in "$api_pid" "$temporal_pid"; do
		[ -n "$pid" ] || continue
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$db_created" ]; then
		psql_admin -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" || true
	fi
	rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "== build"
CGO_ENABLED=0 go build -o "$work/payportal" ./cmd/payportal

echo "== temporal dev server on 127.0.0.1:$temporal_port"
"$temporal_cli" server start-dev --headless --ip 127.0.0.1 --port "$temporal_port" --log-level warn \
	>"$work/temporal.log" 2>&1 &
temporal_pid=$!
for i in $(seq 60); do
	"$temporal_cli" operator cluster health --address "127.0.0.1:$temporal_port" >/dev/null 2>&1 && break
	kill -0 "$temporal_pid" 2>/dev/null || { cat "$work/temporal.log" >&2; die "the Temporal dev server exited"; }
	[ "$i" -lt 60 ] || die "the Temporal dev server did not answer"
	sleep 1
done

echo "== database $db_name (migrate --demo)"
psql_admin -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)"
db_created=1
db_url="$pg_server/$db_name?sslmode=disable"
# PAYPORTAL_ENV=development: the demo keys and sandbox processors are refused otherwise.
export PAYPORTAL_ENV=development
DATABASE_URL="$db_url" "$work/payportal" migrate --demo
# pool_max_conns is read by the API's pgx pool only (migrate connects without a pool).
db_url+="${LOAD_POOL_MAX_CONNS:+&pool_max_conns=$LOAD_POOL_MAX_CONNS}"

echo "== payportal api on $base"
DATABASE_URL="$db_url" TEMPORAL_ADDRESS="127.0.0.1:$temporal_port" PAYPORTAL_HTTP_ADDR="127.0.0.1:$api_port" \
	PAYPORTAL_OPS_ADDR="127.0.0.1:$ops_port" \
	PAYPORTAL_RATE_LIMIT_RPS=1000000 PAYPORTAL_RATE_LIMIT_BURST=1000000 \
	PAYPORTAL_LOG_LEVEL="${LOAD_LOG_LEVEL:-info}" "$work/payportal" api 2>"$work/api.log" &
api_pid=$!
for i in $(seq 60); do
	curl -fsS -o /dev/null "http://127.0.0.1:$ops_port/readyz" 2>/dev/null && break
	kill -0 "$api_pid" 2>/dev/null || { cat "$work/api.log" >&2; die "payportal api exited"; }
	[ "$i" -lt 60 ] || die "payportal api is not ready"
	sleep 1
done

# The latest recurring invoice (three items); its first PDF request renders and stores the
# file, so the measured ones serve the stored PDF.
invoice="$(curl -fsS -H "$auth" "$base$account/invoices?type=recurring&limit=1" | grep -o '"id":"inv_[a-z0-9_]*"' | head -1 | cut -d'"' -f4)"
[ -n "$invoice" ] || die "found no invoice of acct_demo"
curl -fsS -H "$auth" -o "$work/first.pdf" "$base$account/invoices/$invoice/pdf"
[ "$(head -c 4 "$work/first.pdf")" = "%PDF" ] || die "the PDF route did not answer a PDF"

echo "== wrk -t$threads -c$connections -d$duration --latency (machine: $(nproc) cores, $(go env GOOS)/$(go env GOARCH), $(go version | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2))"
summary="| route | requests/s | p50 | p99 | peak RSS (VmHWM) |
|---|---:|---:|---:|---:|"
for route in "billing-summary" "invoices" "invoices/{id}/pdf"; do
	path="$account/${route/\{id\}/$invoice}"
	# Writing 5 resets the peak RSS (Linux 4.0+), so each route reports its own.
	echo 5 >"/proc/$api_pid/clear_refs" 2>/dev/null || true
	out="$work/wrk.txt"
	wrk -t"$threads" -c"$connections" -d"$duration" --latency -H "$auth" "$base$path" | tee "$out"
	if grep -q 'Non-2xx or 3xx responses' "$out"; then
		die "GET $path answered errors under load; see $work/api.log"
	fi
	kill -0 "$api_pid" 2>/dev/null || die "payportal api died during GET $path"
	rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
	p50="$(awk '$1 == "50%" {print $2}' "$out")"
	p99="$(awk '$1 == "99%" {print $2}' "$out")"
	hwm="$(awk '/^VmHWM:/ {printf "%.0f MiB", $2 / 1024}' "/proc/$api_pid/status")"
	summary+="
| \`GET $account/$route\` | $rps | $p50 | $p99 | $hwm |"
done

echo
echo "$summary"
