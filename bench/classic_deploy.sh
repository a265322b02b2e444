#!/usr/bin/env bash
# The classic hand-written ECS deploy (the Jenkins "Execute shell" step), as
# bench/deploy_compare.py runs it for the aws CLI row:
#
#   classic_deploy.sh ENDPOINT CLUSTER SERVICE TASKDEF_JSON
#
# registers the task definition in TASKDEF_JSON (already rendered for the new version),
# points the service at it, and waits with the CLI's own waiter (services-stable: one
# deployment and runningCount == desiredCount, checked every 15 s, up to 40 times).
# Credentials and region come from the environment (AWS_ACCESS_KEY_ID etc.).
set -euo pipefail

endpoint=$1 cluster=$2 service=$3 taskdef=$4

arn=$(aws ecs register-task-definition --endpoint-url "$endpoint" \
    --cli-input-json "file://$taskdef" \
    --query taskDefinition.taskDefinitionArn --output text)
aws ecs update-service --endpoint-url "$endpoint" \
    --cluster "$cluster" --service "$service" --task-definition "$arn" >/dev/null
aws ecs wait services-stable --endpoint-url "$endpoint" \
    --cluster "$cluster" --services "$service"
echo "deployed $arn"
