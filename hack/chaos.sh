#!/usr/bin/env bash
# Chaos test: 200 approved carts against pcsim with faults; the manager SIGKILLed or SIGTERMed
# and restarted at random moments, a second manager without leader election for part of the
# run, kube-apiserver restarted once, ~10% of the approvals revoked and ~10% of the Completed
# carts pruned and re-applied. Fails on any duplicate, lost or unapproved purchase or
# repurchase. See test/chaos/main.go.
# Needs bin/manager, bin/pcsim ('make build') and bin/k8s ('make control-plane');
# 'make test-chaos' does both. Arguments go to the test, e.g. --seed 42.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec go run ./test/chaos "$@"
