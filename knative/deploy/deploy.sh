#!/usr/bin/env bash
# make deploy: Parley on Knative on Minikube. Idempotent — run it again to
# upgrade; a re-run applies identical objects, so it changes nothing, and
# secrets made on the first run are kept. Needs minikube, kubectl, ko, go,
# node/npm, openssl and curl. Versions are pinned below.
#
# CLUSTER=kind deploys to an existing kind cluster named $MINIKUBE_PROFILE
# instead (the deploy workflow's end-to-end job does).
#
# The release manifests' CPU requests add up to about 6.6 CPUs (the Kafka
# dispatcher alone asks for one), more than a 4-CPU node has, so every CPU
# request is scaled to PARLEY_CPU_REQUEST_PERCENT (default 40) of its value;
# limits stay, so pods still burst. Use 100 on a node with 8 or more CPUs.
#
# REDIS_CLUSTER=1 runs Redis as a Redis Cluster of three masters, each
# with a replica that takes over if it fails (knative/overlays/redis-cluster),
# instead of one Redis. REDIS_CLUSTER_NODES is its pods, a master for
# every two: 6 on a first deploy, and after that as many as run. Raised, it
# adds shards, and the cluster's Job moves the new masters their share of
# the slots; lowering it is refused (the pods removed would take their
# slots' keys). Switching a deployed Parley between one Redis and a
# cluster needs make undeploy first (it deletes the namespace, the Secrets
# holding REDIS_URL with it).
set -euo pipefail
# A failure inside $(...) stops the deploy too, not just the substitution.
shopt -s inherit_errexit

PROFILE=${MINIKUBE_PROFILE:-parley}
CLUSTER=${CLUSTER:-minikube}
CPUS=${MINIKUBE_CPUS:-4}
# Requests add up to about 6.7 GiB at 100 %; the node needs room for
# Kubernetes itself, Calico and the image builds' layers on top.
MEMORY=${MINIKUBE_MEMORY:-12g}
CPU_PERCENT=${PARLEY_CPU_REQUEST_PERCENT:-40}
OVERLAY=minikube
if [ "${REDIS_CLUSTER:-0}" = 1 ]; then
	OVERLAY=minikube-redis-cluster
	case ${REDIS_CLUSTER_NODES:-6} in
	0* | *[!0-9]*) echo "deploy: REDIS_CLUSTER_NODES=$REDIS_CLUSTER_NODES is not a number of pods" >&2; exit 1 ;;
	esac
	if [ "${REDIS_CLUSTER_NODES:-6}" -lt 6 ]; then
		echo "deploy: REDIS_CLUSTER_NODES=$REDIS_CLUSTER_NODES: a cluster needs 6 pods or more (3 masters, so a majority can fail one over)" >&2
		exit 1
	fi
fi
K8S_VERSION=v1.34.0
KNATIVE=knative-v1.23.0          # Serving, Eventing, Kourier (Go modules v0.50)
KNATIVE_KAFKA=knative-v1.23.1    # eventing-kafka-broker v0.50.1
STRIMZI=0.48.0
GH=https://github.com

cd "$(dirname "$0")/../.."
for tool in "$CLUSTER" kubectl ko go node npm openssl curl sha256sum; do
	command -v "$tool" >/dev/null || { echo "deploy: $tool is required" >&2; exit 1; }
done

step() { printf '\n== %s\n' "$*"; }
apply() { kubectl apply --server-side --force-conflicts --field-manager=parley-deploy -f "$1" >/dev/null; }
wait_deployments() { kubectl -n "$1" wait deployment --all --for=condition=Available --timeout=10m; }
rand() { openssl rand -hex 24; }

node knative/deploy/check-node.js

work=.parley/deploy
upstream=.parley/upstream # release manifests, kept across runs: the versions are pinned
mkdir -p "$work" "$upstream"
go build -o "$work/tailor" ./knative/deploy/tailor
tailor() { "$work/tailor" -config knative/deploy/knative-config.yaml -cpu-percent "$CPU_PERCENT" "$@"; }
# fetch URL: the release file, downloaded once.
fetch() {
	local f
	f="$upstream/$(printf '%s' "$1" | sha256sum | cut -c1-12)-$(basename "$1")"
	if [ ! -s "$f" ]; then
		curl -fsSL "$1" -o "$f.part"
		mv "$f.part" "$f"
	fi
	printf '%s' "$f"
}

if [ "$CLUSTER" = kind ]; then
	kubectl config use-context "kind-$PROFILE" >/dev/null
	node_ip() { kubectl get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}'; }
else
	step "Minikube profile $PROFILE"
	# Docker, because the images are built into the node's Docker
	# (minikube docker-env); Calico, because the default CNI ignores
	# NetworkPolicies.
	if ! minikube -p "$PROFILE" status >/dev/null 2>&1; then
		minikube start -p "$PROFILE" --kubernetes-version="$K8S_VERSION" --cpus="$CPUS" --memory="$MEMORY" \
			--container-runtime=docker --cni=calico
	fi
	kubectl config use-context "$PROFILE" >/dev/null
	runtime=$(kubectl get nodes -o jsonpath='{.items[0].status.nodeInfo.containerRuntimeVersion}')
	if [ "${runtime%%://*}" != docker ]; then
		echo "deploy: profile $PROFILE runs $runtime, but images are built into the node's Docker;" \
			"recreate it: MINIKUBE_DELETE=1 make undeploy && make deploy" >&2
		exit 1
	fi
	if ! kubectl -n kube-system get daemonset calico-node >/dev/null 2>&1; then
		echo "deploy: warning: profile $PROFILE has no Calico, so its NetworkPolicies are not enforced" >&2
	fi
	node_ip() { minikube -p "$PROFILE" ip; }
fi

step "Knative Serving + Kourier ($KNATIVE)"
# Each download is its own assignment, so a failed one stops the deploy here.
crds=$(fetch "$GH/knative/serving/releases/download/$KNATIVE/serving-crds.yaml")
core=$(fetch "$GH/knative/serving/releases/download/$KNATIVE/serving-core.yaml")
kourier=$(fetch "$GH/knative-extensions/net-kourier/releases/download/$KNATIVE/kourier.yaml")
tailor "$crds" "$core" "$kourier" >"$work/serving.yaml"
apply "$work/serving.yaml"
# The webhook validates config-domain: patch it only once it is up. Kourier's
# LoadBalancer Service has a node port, which is how Minikube reaches it;
# services are named after the node's IP through sslip.io.
wait_deployments knative-serving
wait_deployments kourier-system
IP=$(node_ip)
kubectl -n knative-serving patch configmap/config-domain --type merge -p "{\"data\":{\"$IP.sslip.io\":\"\"}}" >/dev/null

step "Knative Eventing + Kafka Broker ($KNATIVE, $KNATIVE_KAFKA)"
files=()
for url in "$GH/knative/eventing/releases/download/$KNATIVE/eventing-crds.yaml" \
	"$GH/knative/eventing/releases/download/$KNATIVE/eventing-core.yaml" \
	"$GH/knative-extensions/eventing-kafka-broker/releases/download/$KNATIVE_KAFKA/"{eventing-kafka-controller,eventing-kafka-broker,eventing-kafka-sink}.yaml; do
	f=$(fetch "$url")
	files+=("$f")
done
tailor "${files[@]}" >"$work/eventing.yaml"
apply "$work/eventing.yaml"
wait_deployments knative-eventing

step "Strimzi $STRIMZI"
kubectl create namespace kafka --dry-run=client -o yaml | apply -
operator=$(fetch "$GH/strimzi/strimzi-kafka-operator/releases/download/$STRIMZI/strimzi-cluster-operator-$STRIMZI.yaml")
sed 's/namespace: myproject/namespace: kafka/' "$operator" >"$work/strimzi-release.yaml"
tailor "$work/strimzi-release.yaml" >"$work/strimzi.yaml"
apply "$work/strimzi.yaml"
wait_deployments kafka

step "Secrets (generated once each, never committed)"
for ns in parley observability; do
	kubectl create namespace "$ns" --dry-run=client -o yaml | apply -
done
# secret NAMESPACE NAME KEY=BASE64...: applies a Secret from values already
# in base64, so no secret is ever an argument of a command (visible in ps).
secret() {
	local ns=$1 name=$2 data="" kv
	shift 2
	for kv in "$@"; do data+="${data:+,}\"${kv%%=*}\":\"${kv#*=}\""; done
	printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"%s","namespace":"%s"},"type":"Opaque","data":{%s}}' \
		"$name" "$ns" "$data" | apply -
}
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
has_secret() { kubectl -n "$1" get secret "$2" >/dev/null 2>&1; }
secret_value() { kubectl -n "$1" get secret "$2" -o jsonpath="{.data.$3}" | base64 -d; }
# Each Secret on its own: one lost or deleted is made again, and the others,
# with the passwords the stores were initialised with, are kept.
if ! has_secret parley parley-db; then
	secret parley parley-db "POSTGRES_PASSWORD=$(b64 "$(rand)")" "REDIS_PASSWORD=$(b64 "$(rand)")" "MONGO_PASSWORD=$(b64 "$(rand)")"
fi
RD=$(secret_value parley parley-db REDIS_PASSWORD)
REDIS_URL="redis://:$RD@redis.parley.svc:6379/0"
if [ "$OVERLAY" = minikube-redis-cluster ]; then
	redis_node() { printf 'redis-%s.redis.parley.svc.cluster.local:6379' "$1"; }
	REDIS_URL="redis://:$RD@$(redis_node 0)?cluster=true&addr=$(redis_node 1)&addr=$(redis_node 2)"
fi
if ! has_secret parley parley-secrets; then
	PG=$(secret_value parley parley-db POSTGRES_PASSWORD)
	MG=$(secret_value parley parley-db MONGO_PASSWORD)
	secret parley parley-secrets \
		"DATABASE_URL=$(b64 "postgres://parley:$PG@postgres.parley.svc:5432/parley?sslmode=disable")" \
		"REDIS_URL=$(b64 "$REDIS_URL")" \
		"MONGO_URI=$(b64 "mongodb://parley:$MG@mongodb.parley.svc:27017/?authSource=admin")" \
		"KAFKA_BROKERS=$(b64 parley-kafka-bootstrap.kafka.svc:9092)" \
		"JWT_SIGNING_KEYS=$(b64 "k$(date -u +%Y%m%d):$(openssl rand 32 | basenc --base64url | tr -d '=')")" \
		"VAPID_PRIVATE_KEY=$(b64 "$(openssl rand 32 | basenc --base64url | tr -d '=')")"
fi
# Search's own database and role: its password only here and in the role.
if ! has_secret parley parley-search-db; then
	SP=$(rand)
	secret parley parley-search-db "PASSWORD=$(b64 "$SP")" \
		"SEARCH_DATABASE_URL=$(b64 "postgres://parley_search:$SP@postgres.parley.svc:5432/parley_search?sslmode=disable")"
fi
# The S3 store's login (SeaweedFS reads it as s3.json) and where the
# connector and thumbnail reach it; browsers reach it on the node's port
# (presigned URLs are signed for S3_PUBLIC_URL). Written on every deploy with
# the login kept, so a new node address reaches the connector.
if has_secret parley parley-s3; then
	S3K=$(secret_value parley parley-s3 S3_ACCESS_KEY_ID)
	S3S=$(secret_value parley parley-s3 S3_SECRET_ACCESS_KEY)
else
	S3K=parley-$(openssl rand -hex 8)
	S3S=$(rand)
fi
secret parley parley-s3 "S3_ENDPOINT=$(b64 http://seaweedfs.parley.svc:8333)" \
	"S3_PUBLIC_URL=$(b64 "http://$IP:30833")" "S3_BUCKET=$(b64 parley-files)" \
	"S3_ACCESS_KEY_ID=$(b64 "$S3K")" "S3_SECRET_ACCESS_KEY=$(b64 "$S3S")" \
	"s3.json=$(b64 "{\"identities\":[{\"name\":\"parley\",\"credentials\":[{\"accessKey\":\"$S3K\",\"secretKey\":\"$S3S\"}],\"actions\":[\"Admin:parley-files\",\"Read:parley-files\",\"Write:parley-files\",\"List:parley-files\",\"Tagging:parley-files\"]}]}")"
if ! has_secret observability grafana-admin; then
	secret observability grafana-admin "password=$(b64 "$(rand)")"
fi

step "Kafka, its topics and users"
# Before anything that talks to Kafka: the Broker and the KafkaSink back off
# exponentially while their topics are missing, and their logins are copied
# from the users the user operator creates (kept current on every run).
kubectl kustomize kafka >"$work/kafka-rendered.yaml"
tailor "$work/kafka-rendered.yaml" >"$work/kafka.yaml"
apply "$work/kafka.yaml"
kubectl -n kafka wait kafka/parley --for=condition=Ready --timeout=15m
kubectl -n kafka wait kafkatopic --all --for=condition=Ready --timeout=5m
kubectl -n kafka wait kafkauser --all --for=condition=Ready --timeout=5m
connector_pw=$(kubectl -n kafka get secret parley-connector -o jsonpath='{.data.password}')
knative_pw=$(kubectl -n kafka get secret parley-knative -o jsonpath='{.data.password}')
secret parley parley-kafka-connector "password=$connector_pw"
secret parley parley-kafka-broker-auth "protocol=$(b64 SASL_PLAINTEXT)" "sasl.mechanism=$(b64 SCRAM-SHA-512)" \
	"user=$(b64 parley-knative)" "password=$knative_pw"

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
# A Knative revision is immutable: changing parley-config alone reaches no
# running pod. The hash of what goes into it, on every Service's template,
# makes a changed PUBLIC_URL roll new revisions — and an unchanged one none.
CONFIG_HASH=$({ printf '%s\n' "$URL"; cat knative/base/config.yaml; } | sha256sum | cut -c1-16)
mkdir -p "$work/overlay"
cat >"$work/overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../../knative/overlays/$OVERLAY]
configMapGenerator:
  - {name: parley-config, namespace: parley, behavior: merge, literals: [PUBLIC_URL=$URL]}
generatorOptions: {disableNameSuffixHash: true}
patches:
  - target: {group: serving.knative.dev, kind: Service}
    patch: |-
      - {op: add, path: /spec/template/metadata/annotations/parley.dev~1config-hash, value: "$CONFIG_HASH"}
YAML
if [ "$OVERLAY" = minikube-redis-cluster ]; then
	# Unset, it is the pods that run (6 on a first deploy).
	running=$(kubectl -n parley get statefulset redis -o jsonpath='{.spec.replicas}' --ignore-not-found)
	if [ -n "$running" ] && [ "$running" -lt 6 ]; then
		echo "deploy: Redis runs as one server here; switching to a cluster needs make undeploy first" >&2
		exit 1
	fi
	REDIS_NODES=${REDIS_CLUSTER_NODES:-${running:-6}}
	if [ -n "$running" ] && [ "$REDIS_NODES" -lt "$running" ]; then
		echo "deploy: the Redis Cluster runs $running pods; REDIS_CLUSTER_NODES=$REDIS_NODES would drop pods with their slots' keys (move the slots off them first: redis-cli --cluster rebalance with --cluster-weight <node>=0)" >&2
		exit 1
	fi
	nodes=""
	for i in $(seq 0 $((REDIS_NODES - 1))); do nodes="$nodes $(redis_node "$i")"; done
	cat >>"$work/overlay/kustomization.yaml" <<YAML
  - target: {kind: StatefulSet, name: redis}
    patch: |-
      - {op: replace, path: /spec/replicas, value: $REDIS_NODES}
  - target: {kind: Job, name: redis-cluster}
    patch: |-
      - {op: test, path: /spec/template/spec/containers/0/env/0/name, value: NODES}
      - {op: replace, path: /spec/template/spec/containers/0/env/0/value, value: "${nodes# }"}
YAML
fi
kubectl kustomize "$work/overlay" >"$work/rendered.yaml"
tailor "$work/rendered.yaml" >"$work/tailored.yaml"
ko resolve "${ko_flags[@]}" -f "$work/tailored.yaml" >"$work/resolved.yaml"
if [ "$OVERLAY" = minikube-redis-cluster ]; then
	# The cluster's Job runs on every deploy: a finished one is applied
	# anew. A running one too (the next finishes a slot it was moving),
	# but only once its pod is gone: two moving slots at once undo each
	# other's moves.
	kubectl -n parley delete job redis-cluster --cascade=foreground --ignore-not-found >/dev/null
fi
apply "$work/resolved.yaml"

step "Waiting for the stores, the services, the Broker, its sink and Triggers"
for store in postgres redis mongodb seaweedfs; do
	kubectl -n parley rollout status "statefulset/$store" --timeout=10m
done
if [ "$OVERLAY" = minikube-redis-cluster ]; then
	kubectl -n parley wait job/redis-cluster --for=condition=complete --timeout=10m
fi
# Search's role owns its database and nothing else (no superuser, no
# CREATEDB, no CREATEROLE; PUBLIC may not connect to it), as make run's
# devstack.ProvisionDatabase makes it. The SQL goes in on stdin, never as
# an argument.
search_pw=$(secret_value parley parley-search-db PASSWORD)
kubectl -n parley exec -i postgres-0 -- psql -v ON_ERROR_STOP=1 -q -U parley -d parley <<SQL
SELECT 'CREATE ROLE parley_search LOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'parley_search') \\gexec
ALTER ROLE parley_search LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '${search_pw//\'/\'\'}';
SELECT 'CREATE DATABASE parley_search OWNER parley_search'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'parley_search') \\gexec
REVOKE ALL ON DATABASE parley_search FROM PUBLIC;
SQL
wait_deployments observability
kubectl -n parley wait ksvc --all --for=condition=Ready --timeout=10m
kubectl -n parley wait broker/default kafkasink/parley-dead-letter --for=condition=Ready --timeout=5m
kubectl -n parley wait trigger --all --for=condition=Ready --timeout=5m

echo "$URL" >"$work/url"
printf '\nParley is up: %s\n' "$URL"
echo "Grafana:    kubectl -n observability port-forward svc/grafana 3000 (admin / kubectl -n observability get secret grafana-admin -o jsonpath={.data.password} | base64 -d)"
echo "Jaeger:     kubectl -n observability port-forward svc/jaeger 16686"
echo "Prometheus: kubectl -n observability port-forward svc/prometheus 9090"
