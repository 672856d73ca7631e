#!/usr/bin/env bash
# Publishes a handful of Semble events to the local broker (`make samples`), the way Semble's
# TypeScript API does (flat JSON, routing key = event type, no message_id: Courier derives the
# identity from the body; one also as the "Option 4" publisher sends it: the event object itself,
# `eventName` and value objects, no content type), then shows the rows courierd wrote. Run
# `make run` in another terminal. Actors are DIDs (`did:plc:[A-Za-z0-9]+`): Courier, like Semble,
# refuses anything else.
#
#   deploy/local/publish-samples.sh [--no-show]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
env_file="$root/.local/services.env"
[[ -r "$env_file" ]] || { echo "publish-samples: $env_file is missing; run 'make setup' first" >&2; exit 1; }
set -a; . "$env_file"; set +a
command -v amqp-publish >/dev/null || { echo "publish-samples: amqp-publish is missing (apt-get install amqp-tools; make setup does)" >&2; exit 1; }

now="$(date -u +%Y-%m-%dT%H:%M:%S)"
run="$(date -u +%s)"          # makes this run's ids new, so every run adds rows
alice="did:plc:alice" bob="did:plc:bob" carol="did:plc:carol"
card="card-$run" collection="collection-$run"

publish() {  # routing key, JSON body
    amqp-publish --url="$COURIER_LOCAL_AMQP_URL" --exchange=domain_events --routing-key="$1" \
        --persistent --content-type=application/json --body="$2"
    echo "  published $1"
}
publish_option4() {  # routing key (the class name), JSON body: no content type, as JSON.stringify(event) goes out
    amqp-publish --url="$COURIER_LOCAL_AMQP_URL" --exchange=domain_events --routing-key="$1" --persistent --body="$2"
    echo "  published $1 (Option 4 shape)"
}

echo "publishing sample events (run $run)"
publish CollectionCreatedEvent "{\"eventType\":\"CollectionCreatedEvent\",\"aggregateId\":\"$collection\",\"dateTimeOccurred\":\"$now.000Z\",\"collectionId\":\"$collection\",\"authorId\":\"$alice\",\"collectionName\":\"Reading list\"}"
# The legacy name Semble's code uses for follows: accepted as an alias.
publish USER_FOLLOWED_TARGET "{\"eventType\":\"USER_FOLLOWED_TARGET\",\"aggregateId\":\"follow-bob-$run\",\"dateTimeOccurred\":\"$now.100Z\",\"followId\":\"follow-bob-$run\",\"followerId\":\"$bob\",\"targetId\":\"$alice\",\"targetType\":\"USER\",\"createdAt\":\"$now.100Z\"}"
publish UserFollowedTargetEvent "{\"eventType\":\"UserFollowedTargetEvent\",\"aggregateId\":\"follow-carol-$run\",\"dateTimeOccurred\":\"$now.200Z\",\"followId\":\"follow-carol-$run\",\"followerId\":\"$carol\",\"targetId\":\"$collection\",\"targetType\":\"COLLECTION\",\"createdAt\":\"$now.200Z\"}"
publish CardAddedToLibraryEvent "{\"eventType\":\"CardAddedToLibraryEvent\",\"aggregateId\":\"$card\",\"dateTimeOccurred\":\"$now.300Z\",\"cardId\":\"$card\",\"curatorId\":\"$alice\",\"addedAt\":\"$now.300Z\"}"
publish CardAddedToCollectionEvent "{\"eventType\":\"CardAddedToCollectionEvent\",\"aggregateId\":\"$collection\",\"dateTimeOccurred\":\"$now.400Z\",\"cardId\":\"$card\",\"collectionId\":\"$collection\",\"addedBy\":\"$alice\",\"addedAt\":\"$now.400Z\"}"
publish CardAddedToLibraryEvent "{\"eventType\":\"CardAddedToLibraryEvent\",\"aggregateId\":\"$card\",\"dateTimeOccurred\":\"$now.500Z\",\"cardId\":\"$card\",\"curatorId\":\"$bob\",\"addedAt\":\"$now.500Z\"}"
publish ConnectionCreatedEvent "{\"eventType\":\"ConnectionCreatedEvent\",\"aggregateId\":\"connection-$run\",\"dateTimeOccurred\":\"$now.600Z\",\"connectionId\":\"connection-$run\",\"curatorId\":\"$alice\"}"
# The same kind of event as the "Option 4" publisher writes it: decoded to the same event.
publish_option4 CardAddedToLibraryEvent "{\"cardId\":{\"props\":{\"value\":{\"value\":\"$card\"}}},\"curatorId\":{\"props\":{\"value\":\"$carol\"}},\"addedAt\":\"$now.650Z\",\"eventName\":\"CardAddedToLibraryEvent\",\"dateTimeOccurred\":\"$now.650Z\",\"aggregateId\":\"$card\"}"
# A malformed one: parked in events_<app>.dlq with the reason, nothing else changes.
publish CardAddedToLibraryEvent "{\"eventType\":\"CardAddedToLibraryEvent\",\"aggregateId\":\"$card\",\"dateTimeOccurred\":\"yesterday\",\"cardId\":\"$card\",\"curatorId\":\"$carol\",\"addedAt\":\"$now.700Z\"}"

[[ "${1:-}" == "--no-show" ]] && exit 0
sleep 2
psql="$COURIER_PSQL_ADMIN"
echo
"$psql" -d "$COURIER_POSTGRES_DATABASE" -c "SELECT type, actor_id, card_id, connection_id, metadata, created_at FROM feed_activities WHERE metadata::text LIKE '%$run%' ORDER BY created_at"
"$psql" -d "$COURIER_POSTGRES_DATABASE" -c "SELECT f.user_id, a.type, a.metadata FROM following_feed_items f JOIN feed_activities a ON a.id = f.activity_id WHERE a.metadata::text LIKE '%$run%' ORDER BY f.user_id"
"$psql" -d "$COURIER_POSTGRES_DATABASE" -c "SELECT recipient_user_id, actor_user_id, type, metadata FROM notifications WHERE metadata::text LIKE '%$run%' ORDER BY created_at"
