#!/usr/bin/env bash
# make minikube-demo, after make image: applies the minikube overlay, waits for
# the rollouts, sends requests through the gateway (kubectl port-forward to
# Service greetclient) and prints how many each greet server pod answered.
# make minikube-requests (APPLY=0) only sends and counts, e.g. after kubectl scale.
#   OVERLAY    kustomization to apply     (deploy/overlays/minikube)
#   APPLY      0 = leave the cluster as it is, only send requests (1)
#   REQUESTS   how many POST /greet       (30)
#   LOCAL_PORT where the gateway is forwarded to on this machine (9091)
set -euo pipefail
cd "$(dirname "$0")/.."

overlay=${OVERLAY:-deploy/overlays/minikube}
requests=${REQUESTS:-30}
local_port=${LOCAL_PORT:-9091}

if [[ ${APPLY:-1} != 0 ]]; then
  # The overlay's Deployments (the canary overlay has greetserver-v1 and -v2, not greetserver).
  mapfile -t deployments < <(kubectl kustomize "$overlay" | awk '/^kind: /{kind=$2} /^  name: /{if (kind == "Deployment") print $2}')
  # A second run rebuilt the image under the same tag: restart so the pods pick
  # it up (a rolling update, lossless for the greet servers).
  existing=$(kubectl get deployment "${deployments[@]}" -o name --ignore-not-found)
  kubectl apply -k "$overlay"
  if [[ -n $existing ]]; then
    kubectl rollout restart "${deployments[@]/#/deployment/}"
  fi
  for deployment in "${deployments[@]}"; do
    kubectl rollout status "deployment/$deployment" --timeout=180s
  done
fi

kubectl port-forward service/greetclient "$local_port:9091" >/dev/null &
forward=$!
trap 'kill "$forward" 2>/dev/null || true' EXIT
url="http://127.0.0.1:$local_port"
for _ in $(seq 100); do
  if curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; then break; fi
  sleep 0.2
done
curl -fsS "$url/readyz" >/dev/null || { echo "the gateway is not ready: curl $url/readyz" >&2; exit 1; }

echo "answers per pod ($requests requests: POST $url/greet):"
for _ in $(seq "$requests"); do
  answer=$(curl -sS -m 5 -H 'content-type: application/json' \
    -d '{"first_name":"Ada","last_name":"Lovelace"}' "$url/greet" 2>&1 || true)
  pod=$(sed -n 's/.*"pod_name":"\([^"]*\)".*/\1/p' <<<"$answer")
  echo "${pod:-failed: $answer}"
done | sort | uniq -c
