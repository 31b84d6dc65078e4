#!/bin/sh
# Creates and upgrades Temporal's two Postgres databases (run once by the temporal-schema
# service, before the server starts). Safe to re-run: an existing database is kept and the
# schema tool only applies versions it has not applied yet.
set -eu
schema="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema}/postgresql/v12"
export SQL_PASSWORD="$POSTGRES_PWD"

sql() {
	temporal-sql-tool --plugin "$DB" --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
	db="${pair%%:*}"
	dir="${pair#*:}"
	# `create` fails on a database that exists, which on a re-run is the normal case.
	sql --db "$db" create 2>/dev/null || echo "database $db exists"
	sql --db "$db" setup-schema -v 0.0
	sql --db "$db" update-schema -d "$schema/$dir/versioned"
	echo "database $db is on the current schema"
done
