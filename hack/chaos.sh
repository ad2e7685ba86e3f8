#!/usr/bin/env bash
# Chaos test: 200 approved carts against pcsim with faults, the manager SIGKILLed and
# restarted at random moments, kube-apiserver restarted once. See test/chaos/main.go.
# Needs bin/manager, bin/pcsim ('make build') and bin/k8s ('make control-plane');
# 'make test-chaos' does both. Arguments go to the test, e.g. --seed 42.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec go run ./test/chaos "$@"
