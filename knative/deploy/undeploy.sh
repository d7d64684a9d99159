#!/usr/bin/env bash
# make undeploy: removes Parley, its stores (with their volumes), Kafka and
# the observability stack from the Minikube profile, keeping Knative and
# Strimzi installed — with the release's own ConfigMaps, none of which Parley
# owns — for the next deploy. MINIKUBE_DELETE=1 deletes the whole profile
# instead. CLUSTER=kind works on the kind cluster as make deploy does.
set -euo pipefail
PROFILE=${MINIKUBE_PROFILE:-parley}
CLUSTER=${CLUSTER:-minikube}
cd "$(dirname "$0")/../.."
if [ "${MINIKUBE_DELETE:-}" = 1 ]; then
	minikube delete -p "$PROFILE"
	exit 0
fi
if [ "$CLUSTER" = kind ]; then
	kubectl config use-context "kind-$PROFILE" >/dev/null
else
	kubectl config use-context "$PROFILE" >/dev/null
fi

# Parley first, while Kafka and the Strimzi operators still run: the Broker,
# Triggers and KafkaSink clean up in Kafka, and the topic and user operators
# remove their finalizers only while the cluster is there to act on.
delete() { kubectl delete --ignore-not-found --wait=true --timeout=3m "$@"; }
kubectl kustomize knative/overlays/minikube >.parley/undeploy.yaml
delete -n parley ksvc,trigger,broker,kafkasink --all || true
# A KafkaTopic or KafkaUser whose operator is gone keeps its finalizer
# forever; after the timeout, drop the finalizers — Kafka and its volume go
# next, and the topics and users with them.
if ! delete -n kafka kafkatopic,kafkauser --all; then
	echo "undeploy: dropping the finalizers of what the operators did not remove in time" >&2
	for r in $(kubectl -n kafka get kafkatopic,kafkauser -o name); do
		kubectl -n kafka patch "$r" --type merge -p '{"metadata":{"finalizers":null}}'
	done
fi
delete -f .parley/undeploy.yaml || true
delete -n parley pvc --all
delete namespace parley observability
delete -n kafka pvc --all
rm -rf .parley/deploy .parley/undeploy.yaml connector/kodata functions/moderation/kodata
echo "Parley removed from $CLUSTER profile $PROFILE"
