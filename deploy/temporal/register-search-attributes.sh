#!/bin/sh
# Registers PayPortal's search attributes on the compose Temporal server (run once by the
# temporal-admin-tools service). Safe to re-run: existing attributes are left alone.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"

# auto-setup creates the namespace shortly after the frontend turns healthy.
tries=0
until temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; do
	tries=$((tries + 1))
	if [ "$tries" -ge 60 ]; then
		echo "namespace $ns never appeared on $TEMPORAL_ADDRESS" >&2
		exit 1
	fi
	sleep 2
done

existing="$(temporal operator search-attribute list --namespace "$ns")"
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
