#!/usr/bin/env bash
# make deploy: Parley on Knative on Minikube. Idempotent — run it again to
# upgrade; secrets made on the first run are kept. Needs minikube, kubectl,
# ko, go, npm, openssl and curl. Versions are pinned below.
#
# CLUSTER=kind deploys to an existing kind cluster named $MINIKUBE_PROFILE
# instead (the deploy workflow's end-to-end job does).
set -euo pipefail

PROFILE=${MINIKUBE_PROFILE:-parley}
CLUSTER=${CLUSTER:-minikube}
K8S_VERSION=v1.34.0
KNATIVE=knative-v1.23.0          # Serving, Eventing, Kourier (Go modules v0.50)
KNATIVE_KAFKA=knative-v1.23.1    # eventing-kafka-broker v0.50.1
STRIMZI=0.48.0
GH=https://github.com

cd "$(dirname "$0")/../.."
for tool in "$CLUSTER" kubectl ko go npm openssl curl; do
	command -v "$tool" >/dev/null || { echo "deploy: $tool is required" >&2; exit 1; }
done

step() { printf '\n== %s\n' "$*"; }
apply_url() { kubectl apply --server-side --force-conflicts -f "$1" >/dev/null; }
wait_deployments() { kubectl -n "$1" wait deployment --all --for=condition=Available --timeout=10m; }
rand() { openssl rand -hex 24; }

if [ "$CLUSTER" = kind ]; then
	kubectl config use-context "kind-$PROFILE" >/dev/null
	node_ip() { kubectl get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}'; }
else
	step "Minikube profile $PROFILE"
	if ! minikube -p "$PROFILE" status >/dev/null 2>&1; then
		minikube start -p "$PROFILE" --kubernetes-version="$K8S_VERSION" --cpus=4 --memory=8g
	fi
	kubectl config use-context "$PROFILE" >/dev/null
	node_ip() { minikube -p "$PROFILE" ip; }
fi

step "Knative Serving + Kourier ($KNATIVE)"
apply_url "$GH/knative/serving/releases/download/$KNATIVE/serving-crds.yaml"
apply_url "$GH/knative/serving/releases/download/$KNATIVE/serving-core.yaml"
apply_url "$GH/knative-extensions/net-kourier/releases/download/$KNATIVE/kourier.yaml"
kubectl -n knative-serving patch configmap/config-network --type merge \
	-p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
# Minikube has no load balancer: expose Kourier on a node port and name
# services after the node's IP through sslip.io.
kubectl -n kourier-system patch service kourier --type merge -p '{"spec":{"type":"NodePort"}}'
IP=$(node_ip)
kubectl -n knative-serving patch configmap/config-domain --type merge -p "{\"data\":{\"$IP.sslip.io\":\"\"}}"
wait_deployments knative-serving
wait_deployments kourier-system

step "Knative Eventing + Kafka Broker ($KNATIVE, $KNATIVE_KAFKA)"
apply_url "$GH/knative/eventing/releases/download/$KNATIVE/eventing-crds.yaml"
apply_url "$GH/knative/eventing/releases/download/$KNATIVE/eventing-core.yaml"
for f in eventing-kafka-controller eventing-kafka-broker eventing-kafka-sink; do
	apply_url "$GH/knative-extensions/eventing-kafka-broker/releases/download/$KNATIVE_KAFKA/$f.yaml"
done
wait_deployments knative-eventing

step "Strimzi $STRIMZI"
kubectl create namespace kafka --dry-run=client -o yaml | kubectl apply -f - >/dev/null
curl -fsSL "$GH/strimzi/strimzi-kafka-operator/releases/download/$STRIMZI/strimzi-cluster-operator-$STRIMZI.yaml" |
	sed 's/namespace: myproject/namespace: kafka/' | kubectl -n kafka apply --server-side --force-conflicts -f - >/dev/null
wait_deployments kafka

step "Secrets (generated once, never committed)"
kubectl create namespace parley --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl create namespace observability --dry-run=client -o yaml | kubectl apply -f - >/dev/null
if ! kubectl -n parley get secret parley-db >/dev/null 2>&1; then
	PG=$(rand) RD=$(rand) MG=$(rand)
	SEED=$(openssl rand 32 | basenc --base64url | tr -d '=')
	kubectl -n parley create secret generic parley-db \
		--from-literal=POSTGRES_PASSWORD="$PG" --from-literal=REDIS_PASSWORD="$RD" --from-literal=MONGO_PASSWORD="$MG"
	kubectl -n parley create secret generic parley-secrets \
		--from-literal=DATABASE_URL="postgres://parley:$PG@postgres.parley.svc:5432/parley?sslmode=disable" \
		--from-literal=REDIS_URL="redis://:$RD@redis.parley.svc:6379/0" \
		--from-literal=MONGO_URI="mongodb://parley:$MG@mongodb.parley.svc:27017/?authSource=admin" \
		--from-literal=KAFKA_BROKERS="parley-kafka-bootstrap.kafka.svc:9092" \
		--from-literal=JWT_SIGNING_KEYS="k$(date -u +%Y%m%d):$SEED" \
		--from-literal=VAPID_PRIVATE_KEY="$(openssl rand 32 | basenc --base64url | tr -d '=')"
	kubectl -n observability create secret generic grafana-admin --from-literal=password="$(rand)"
fi

step "Images (ko, into the cluster's image store)"
make web >/dev/null
rm -rf connector/kodata/web && mkdir -p connector/kodata && cp -r web/dist connector/kodata/web
rm -rf functions/moderation/kodata/toxicity && mkdir -p functions/moderation/kodata
if [ -n "${PARLEY_MODEL_DIR:-}" ]; then
	cp -r "$PARLEY_MODEL_DIR" functions/moderation/kodata/toxicity
else
	echo "deploy: PARLEY_MODEL_DIR unset: shipping the demo model (make model installs a trained one)"
	go run ./functions/moderation/cmd/demomodel -out functions/moderation/kodata/toxicity
fi
if [ "$CLUSTER" = kind ]; then
	export KO_DOCKER_REPO=kind.local KIND_CLUSTER_NAME=$PROFILE
	ko_flags=()
else
	eval "$(minikube -p "$PROFILE" docker-env)"
	export KO_DOCKER_REPO=ko.local
	ko_flags=(--local)
fi

step "Parley"
PORT=$(kubectl -n kourier-system get service kourier -o jsonpath='{.spec.ports[?(@.name=="http2")].nodePort}')
URL="http://connector.parley.$IP.sslip.io:$PORT"
work=.parley/deploy && rm -rf "$work" && mkdir -p "$work"
cat >"$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../knative/overlays/minikube]
configMapGenerator:
  - {name: parley-config, namespace: parley, behavior: merge, literals: [PUBLIC_URL=$URL]}
generatorOptions: {disableNameSuffixHash: true}
YAML
kubectl kustomize "$work" >"$work/rendered.yaml"
ko resolve "${ko_flags[@]}" -f "$work/rendered.yaml" >"$work/resolved.yaml"
kubectl apply --server-side --force-conflicts -f "$work/resolved.yaml"

step "Waiting for Kafka, the stores and the services"
kubectl -n kafka wait kafka/parley --for=condition=Ready --timeout=15m
for store in postgres redis mongodb; do
	kubectl -n parley rollout status "statefulset/$store" --timeout=10m
done
wait_deployments observability
kubectl -n parley wait ksvc --all --for=condition=Ready --timeout=10m
kubectl -n parley wait broker default --for=condition=Ready --timeout=5m

echo "$URL" >"$work/url"
printf '\nParley is up: %s\n' "$URL"
echo "Grafana:    kubectl -n observability port-forward svc/grafana 3000 (admin / kubectl -n observability get secret grafana-admin -o jsonpath={.data.password} | base64 -d)"
echo "Jaeger:     kubectl -n observability port-forward svc/jaeger 16686"
echo "Prometheus: kubectl -n observability port-forward svc/prometheus 9090"
