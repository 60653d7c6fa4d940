#!/usr/bin/env bash
# The coordinator of a night across machines (B23), run by `shards-cronjob.yaml`: plan, an
# Indexed Job of TOKENPLAN_SHARDS shard pods, commit. Exits as the step that failed did (see
# the CronJob). `shards.sh --print-job NAME` prints the Indexed Job (CI validates it).
#
# The shard Job: pod K runs `tokenplan billing shard` with K in JOB_COMPLETION_INDEX. Exit 75
# (the stage could not be reached) is retried, up to backoffLimitPerIndex times for that index
# alone; 1 and 2 fail the index at once (FailIndex), and maxFailedIndexes 0 fails the Job, so
# the commit never starts on an incomplete night (it would refuse it anyway, naming the shard).
set -euo pipefail
bin=${TOKENPLAN_BIN:-tokenplan}
shards=${TOKENPLAN_SHARDS:-4}
image=${TOKENPLAN_IMAGE:-tokenplan:latest}

job() {
  cat <<JOB
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
  labels:
    app.kubernetes.io/name: tokenplan-shard
spec:
  completionMode: Indexed
  completions: $shards
  parallelism: $shards
  backoffLimitPerIndex: 3
  maxFailedIndexes: 0
  ttlSecondsAfterFinished: 86400
  podFailurePolicy:
    rules:
      - action: FailIndex
        onExitCodes:
          containerName: shard
          operator: In
          values: [1, 2]
      - action: Count
        onExitCodes:
          containerName: shard
          operator: In
          values: [75]
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: shard
          image: $image
          command: ["$bin", "billing", "shard"]
          env:
            - name: TOKENPLAN_STAGE
              value: "${TOKENPLAN_STAGE:-s3://tokenplan-stage/night}"
          envFrom:
            - secretRef:
                name: tokenplan-stage
JOB
}

if [ "${1:-}" = --print-job ]; then
  job "${2:-tokenplan-shards}"
  exit 0
fi
: "${TOKENPLAN_STAGE:?set TOKENPLAN_STAGE: the stage, a directory or s3://bucket/prefix}"
"$bin" billing plan --stage "$TOKENPLAN_STAGE" --shards "$shards"
name="tokenplan-shards-$(date -u +%Y%m%d-%H%M%S)"
job "$name" | kubectl create --namespace "${POD_NAMESPACE:-default}" -f -
echo "waiting for job/$name ($shards shards)" >&2
while :; do
  conditions=$(kubectl get --namespace "${POD_NAMESPACE:-default}" "job/$name" \
    -o jsonpath='{.status.conditions[?(@.status=="True")].type}')
  case " $conditions " in
    *" Complete "*) break ;;
    *" Failed "*) echo "job/$name failed: nothing was committed" >&2; exit 1 ;;
  esac
  sleep 10
done
commit=(billing commit --stage "$TOKENPLAN_STAGE")
[ -n "${TOKENPLAN_OUT:-}" ] && commit+=(--out "$TOKENPLAN_OUT")
[ -n "${TOKENPLAN_METRICS:-}" ] && commit+=(--metrics "$TOKENPLAN_METRICS")
"$bin" "${commit[@]}"
kubectl delete --namespace "${POD_NAMESPACE:-default}" "job/$name" --wait=false >/dev/null
