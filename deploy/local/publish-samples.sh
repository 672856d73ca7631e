#!/usr/bin/env bash
# Publishes a handful of Semble events to the local broker (`make samples`), the way Semble's
# TypeScript API does (flat JSON, routing key = event type, no message_id: Courier derives the
# identity from the body; one also as the "Option 4" publisher sends it: the event object itself,
# `eventName` and value objects, no content type), then shows the rows courierd wrote. Run
# `make run` in another terminal.
#
# Courier's handlers read Semble's state as Semble's do, so first the rows Semble's API would have
# written go into Semble's tables (users, cards, a collection and its published record, follows
# with subscriptions, a connection) — each run with its own DIDs and ids. The card adds make one
# bundle, flushed 3 s later: USER_ADDED_YOUR_CARD (via card), USER_ADDED_TO_YOUR_COLLECTION and a
# subscriber's USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION; the follows and the connection make the
# others. Actors are DIDs (`did:plc:[A-Za-z0-9]+`): Courier, like Semble, refuses anything else.
#
#   deploy/local/publish-samples.sh [--no-show]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
env_file="$root/.local/services.env"
[[ -r "$env_file" ]] || { echo "publish-samples: $env_file is missing; run 'make setup' first" >&2; exit 1; }
set -a; . "$env_file"; set +a
command -v amqp-publish >/dev/null || { echo "publish-samples: amqp-publish is missing (apt-get install amqp-tools; make setup does)" >&2; exit 1; }
psql=("$COURIER_PSQL_ADMIN" -d "$COURIER_POSTGRES_DATABASE" -v ON_ERROR_STOP=1 -q)

now="$(date -u +%Y-%m-%dT%H:%M:%S)"
run="$(date -u +%s)"          # makes this run's ids new, so every run adds rows
alice="did:plc:alice$run" bob="did:plc:bob$run" carol="did:plc:carol$run" dave="did:plc:dave$run"
uuid() { cat /proc/sys/kernel/random/uuid; }
card_alice="$(uuid)" card_bob="$(uuid)" card_dave="$(uuid)" collection="$(uuid)" record="$(uuid)" connection="$(uuid)"
url="https://example.com/article-$run"

echo "writing Semble's state (run $run)"
"${psql[@]}" <<SQL || { echo "publish-samples: could not write Semble's tables; is 'make run' running (it creates them)?" >&2; exit 1; }
INSERT INTO users (id, handle, linked_at, last_login_at) VALUES
    ('$alice', 'alice', now(), now()), ('$bob', 'bob', now(), now()), ('$carol', 'carol', now(), now()), ('$dave', 'dave', now(), now());
INSERT INTO published_records (id, uri, cid) VALUES ('$record', 'at://$alice/network.cosmik.collection/reading$run', 'cid');
INSERT INTO collections (id, author_id, name, access_type, published_record_id) VALUES ('$collection', '$alice', 'Reading list', 'OPEN', '$record');
INSERT INTO cards (id, author_id, type, content_data, url, url_type, via_card_id) VALUES
    ('$card_alice', '$alice', 'URL', '{"url": "$url", "metadata": {"url": "$url", "type": "article"}}', '$url', 'article', NULL),
    ('$card_bob', '$bob', 'URL', '{"url": "$url", "metadata": {"url": "$url", "type": "article"}}', '$url', 'article', '$card_alice'),
    ('$card_dave', '$dave', 'URL', '{"url": "$url", "metadata": {"url": "$url", "type": "article"}}', '$url', 'article', NULL);
INSERT INTO library_memberships (card_id, user_id) VALUES ('$card_alice', '$alice'), ('$card_bob', '$bob'), ('$card_dave', '$dave');
-- carol subscribes to alice's collection (cards) and to alice (connections); dave follows bob, plainly.
INSERT INTO follows (follower_id, target_id, target_type, is_subscribed, subscribed_at, subscription_scopes) VALUES
    ('$carol', '$collection', 'COLLECTION', true, now(), '["CARD"]'),
    ('$carol', '$alice', 'USER', true, now(), '["CONNECTION"]'),
    ('$dave', '$bob', 'USER', false, NULL, NULL);
INSERT INTO connections (id, curator_id, source_type, source_value, target_type, target_value) VALUES
    ('$connection', '$alice', 'URL', '$url', 'URL', 'https://bsky.app/profile/$bob/post/3ksample');
SQL

publish() {  # routing key, JSON body
    amqp-publish --url="$COURIER_LOCAL_AMQP_URL" --exchange=domain_events --routing-key="$1" \
        --persistent --content-type=application/json --body="$2"
    echo "  published $1"
}
publish_option4() {  # routing key (the class name), JSON body: no content type, as JSON.stringify(event) goes out
    amqp-publish --url="$COURIER_LOCAL_AMQP_URL" --exchange=domain_events --routing-key="$1" --persistent --body="$2"
    echo "  published $1 (Option 4 shape)"
}

echo "publishing sample events"
publish CollectionCreatedEvent "{\"eventType\":\"CollectionCreatedEvent\",\"aggregateId\":\"$collection\",\"dateTimeOccurred\":\"$now.000Z\",\"collectionId\":\"$collection\",\"authorId\":\"$alice\",\"collectionName\":\"Reading list\"}"
# The legacy name Semble's code uses for follows: accepted as an alias.
publish USER_FOLLOWED_TARGET "{\"eventType\":\"USER_FOLLOWED_TARGET\",\"aggregateId\":\"$(uuid)\",\"dateTimeOccurred\":\"$now.100Z\",\"followId\":\"$(uuid)\",\"followerId\":\"$dave\",\"targetId\":\"$bob\",\"targetType\":\"USER\",\"createdAt\":\"$now.100Z\"}"
publish UserFollowedTargetEvent "{\"eventType\":\"UserFollowedTargetEvent\",\"aggregateId\":\"$(uuid)\",\"dateTimeOccurred\":\"$now.200Z\",\"followId\":\"$(uuid)\",\"followerId\":\"$carol\",\"targetId\":\"$collection\",\"targetType\":\"COLLECTION\",\"createdAt\":\"$now.200Z\"}"
# bob adds his card (found via alice's) to his library and to alice's open collection: one bundle.
publish CardAddedToCollectionEvent "{\"eventType\":\"CardAddedToCollectionEvent\",\"aggregateId\":\"$collection\",\"dateTimeOccurred\":\"$now.300Z\",\"cardId\":\"$card_bob\",\"collectionId\":\"$collection\",\"addedBy\":\"$bob\",\"addedAt\":\"$now.300Z\"}"
publish CardAddedToLibraryEvent "{\"eventType\":\"CardAddedToLibraryEvent\",\"aggregateId\":\"$card_bob\",\"dateTimeOccurred\":\"$now.400Z\",\"cardId\":\"$card_bob\",\"curatorId\":\"$bob\",\"addedAt\":\"$now.300Z\"}"
publish ConnectionCreatedEvent "{\"eventType\":\"ConnectionCreatedEvent\",\"aggregateId\":\"$connection\",\"dateTimeOccurred\":\"$now.600Z\",\"connectionId\":\"$connection\",\"curatorId\":\"$alice\"}"
# The same kind of event as the "Option 4" publisher writes it: decoded to the same event.
publish_option4 CardAddedToLibraryEvent "{\"cardId\":{\"props\":{\"value\":{\"value\":\"$card_dave\"}}},\"curatorId\":{\"props\":{\"value\":\"$dave\"}},\"addedAt\":\"$now.650Z\",\"eventName\":\"CardAddedToLibraryEvent\",\"dateTimeOccurred\":\"$now.650Z\",\"aggregateId\":\"$card_dave\"}"
# A malformed one: parked in events_<app>.dlq with the reason, nothing else changes.
publish CardAddedToLibraryEvent "{\"eventType\":\"CardAddedToLibraryEvent\",\"aggregateId\":\"$card_dave\",\"dateTimeOccurred\":\"yesterday\",\"cardId\":\"$card_dave\",\"curatorId\":\"$carol\",\"addedAt\":\"$now.700Z\"}"

[[ "${1:-}" == "--no-show" ]] && exit 0
echo "waiting for the card bundle to be flushed (3 s after it opened)"
sleep 5
echo
"${psql[@]}" -c "SELECT type, actor_id, card_id, connection_id, metadata, url_type, created_at FROM feed_activities WHERE actor_id LIKE '%$run' ORDER BY created_at"
"${psql[@]}" -c "SELECT f.user_id, a.type, a.actor_id FROM following_feed_items f JOIN feed_activities a ON a.id = f.activity_id WHERE a.actor_id LIKE '%$run' ORDER BY f.user_id"
"${psql[@]}" -c "SELECT type, recipient_user_id, actor_user_id, metadata FROM notifications WHERE actor_user_id LIKE '%$run' ORDER BY type"
