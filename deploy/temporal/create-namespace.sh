#!/bin/sh
# Creates the namespace and registers PayPortal's search attributes on the compose Temporal
# server (run once by the temporal-namespace service). Safe to re-run: what exists is left alone.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"

# The frontend's port opens a little before it serves namespace calls: retry the first one.
tries=0
until temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; do
	if temporal operator namespace create --namespace "$ns" --retention 72h >/dev/null 2>&1; then
		echo "created namespace $ns"
		continue
	fi
	tries=$((tries + 1))
	if [ "$tries" -ge 60 ]; then
		echo "could not create namespace $ns on $TEMPORAL_ADDRESS" >&2
		exit 1
	fi
	sleep 2
done

# A new namespace reaches the frontend's cache some seconds after it is created.
tries=0
until existing="$(temporal operator search-attribute list --namespace "$ns" 2>/dev/null)"; do
	tries=$((tries + 1))
	if [ "$tries" -ge 30 ]; then
		echo "namespace $ns never became usable on $TEMPORAL_ADDRESS" >&2
		exit 1
	fi
	sleep 2
done
for attr in AccountId=Keyword PaymentStatus=Keyword PaymentMethodKind=Keyword AmountMinor=Int; do
	name="${attr%%=*}"
	type="${attr#*=}"
	if printf '%s\n' "$existing" | grep -qw "$name"; then
		echo "search attribute $name already registered"
		continue
	fi
	temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type"
	echo "registered search attribute $name ($type)"
done
