#!/usr/bin/env bash
# Brings up what the integration suite needs on a machine with Docker, kind, kubectl and helm:
# a kind cluster, Consul with ACLs from the official chart, and the test image.
# Prints the environment to export; then: npm run test:integration
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cluster=mogi
consul_chart_version=1.7.1 # pinned: hashicorp/consul chart 1.7.x (Consul 1.21.x)
image=mogi-test:local

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "up.sh: $tool is required" >&2; exit 1; }
done

kind get clusters | grep -qx "$cluster" || kind create cluster --config "$here/kind-config.yaml"
kubectl config use-context "kind-$cluster" >/dev/null

helm repo add hashicorp https://helm.releases.hashicorp.com >/dev/null
helm upgrade --install consul hashicorp/consul --version "$consul_chart_version" \
  --namespace consul --create-namespace --values "$here/consul-values.yaml" --wait --timeout 10m

docker build -t "$image" "$here/test-image"
kind load docker-image "$image" --name "$cluster"

token=$(kubectl -n consul get secret consul-bootstrap-acl-token -o jsonpath='{.data.token}' | base64 -d)
# The suite talks to Consul from this machine through a port-forward, left running in the background.
kubectl -n consul port-forward svc/consul-server 8500:8500 >/dev/null 2>&1 &
echo "up.sh: port-forward to consul-server started (pid $!)" >&2

cat <<ENV
export KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config}
export CONSUL_HTTP_ADDR=http://127.0.0.1:8500
export CONSUL_HTTP_TOKEN=$token
export MOGI_TEST_IMAGE=$image
ENV
