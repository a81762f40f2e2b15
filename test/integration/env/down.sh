#!/usr/bin/env bash
# Removes what up.sh created.
set -euo pipefail
pkill -f "port-forward svc/consul-server 8500:8500" || true
kind delete cluster --name mogi
