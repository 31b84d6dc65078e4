#!/usr/bin/env bash
# Re-records the replay corpus (workflows/testdata) from the real Temporal dev server: starts one
# on a free port, runs every recorder with PAYPORTAL_RECORD_HISTORY=1, and stops it. Only the
# current code's files are written; histories of earlier code (*_v0 and older versions) stay
# as they are, since they are what running workflows look like.
set -euo pipefail
cd "$(dirname "$0")/.."
port=17300
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
	port=$((port + 1))
done
.payportal/bin/temporal server start-dev --ip 127.0.0.1 --port "$port" --headless --log-level warn \
	--search-attribute AccountId=Keyword --search-attribute PaymentStatus=Keyword \
	--search-attribute PaymentMethodKind=Keyword --search-attribute AmountMinor=Int \
	>/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 60); do
	.payportal/bin/temporal operator cluster health --address "127.0.0.1:$port" >/dev/null 2>&1 && break
	sleep 1
done
export PAYPORTAL_RECORD_HISTORY=1 PAYPORTAL_TEST_TEMPORAL_ADDRESS="127.0.0.1:$port"
go test -count=1 ./workflows/ -run 'TestRecord'
go test -count=1 ./internal/e2e/payments/ -run 'TestCardPaymentLowers|TestPayPalApprovedByTheBuyer|TestCancelled|TestPayPalPaymentCanceledThroughTheAPI|TestWebhooksRetryUntilTheReceiverTakesIt'
go test -count=1 ./internal/e2e/cards/ -run 'TestCardOnFileEndToEnd'
go test -count=1 ./workflows/ -run 'TestReplayCorpus'
git status --short workflows/testdata
