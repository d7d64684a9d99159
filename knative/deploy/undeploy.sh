#!/usr/bin/env bash
# make undeploy: removes Parley, its stores (with their volumes), Kafka and
# the observability stack from the Minikube profile, keeping Knative and
# Strimzi installed for the next deploy. MINIKUBE_DELETE=1 deletes the whole
# profile instead.
set -euo pipefail
PROFILE=${MINIKUBE_PROFILE:-parley}
cd "$(dirname "$0")/../.."
if [ "${MINIKUBE_DELETE:-}" = 1 ]; then
	minikube delete -p "$PROFILE"
	exit 0
fi
kubectl config use-context "$PROFILE" >/dev/null
kubectl kustomize knative/overlays/minikube | kubectl delete --ignore-not-found --wait=true -f - || true
kubectl -n parley delete pvc --all --ignore-not-found
kubectl delete namespace parley observability --ignore-not-found
kubectl -n kafka delete pvc --all --ignore-not-found
rm -rf .parley/deploy connector/kodata functions/moderation/kodata
echo "Parley removed from minikube profile $PROFILE"
