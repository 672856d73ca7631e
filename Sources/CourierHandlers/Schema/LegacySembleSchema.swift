import CourierPostgres

/// **The old layout** (until December 2026), kept only to recognise and upgrade databases it
/// created (``LegacyLayout``) and to test that upgrade: it created Semble's tables itself, in
/// `public`, with a `notifications.subject` column and unique index and byte-order collations
/// that Semble's schema does not have, and put Courier's tables beside them. Tracked in
/// `public.courier_schema_migrations`, versions 1–7. Never applied by courierd any more.
///
/// The read models, the inbox and `feed_activity_sources` it made are what ``CourierSchema``
/// now creates in Courier's schema (there without the foreign key into `feed_activities`).
package enum LegacySembleSchema {
    /// The old migrations, versions 1–7.
    package static let migrations: [PostgresMigration] = [
        PostgresMigration(version: 1, name: "semble_feeds_and_notifications", sql: sembleTables),
        PostgresMigration(version: 2, name: "event_store_outbox", sql: eventStore),
        PostgresMigration(version: 3, name: "courier_inbox", sql: inbox),
        PostgresMigration(version: 4, name: "read_models", sql: readModels),
        PostgresMigration(version: 5, name: "feed_activity_sources", sql: feedActivitySources),
        PostgresMigration(version: 6, name: "facts_per_handler", sql: factsPerHandler),
        PostgresMigration(version: 7, name: "ids_compare_by_bytes", sql: idsCompareByBytes),
    ]

    static let sembleTables = """
        CREATE TABLE feed_activities (
            id uuid PRIMARY KEY,
            actor_id text NOT NULL,
            card_id text,
            connection_id text,
            type text NOT NULL,          -- CARD_COLLECTED | CONNECTION_CREATED
            metadata jsonb NOT NULL,     -- {cardId, collectionIds} | {connectionId}
            url_type text,
            source text,
            created_at timestamp NOT NULL DEFAULT now()
        );
        CREATE INDEX feed_activities_actor_card_created_idx ON feed_activities (actor_id, card_id, created_at DESC);

        CREATE TABLE following_feed_items (
            user_id text NOT NULL,
            activity_id uuid NOT NULL REFERENCES feed_activities (id) ON DELETE CASCADE,
            created_at timestamp NOT NULL,
            PRIMARY KEY (user_id, activity_id)
        );
        -- Semble's: a user's feed, newest first.
        CREATE INDEX following_feed_items_user_created_idx ON following_feed_items (user_id, created_at DESC);
        -- Courier's: recomputing the items of an activity, and the cascade when one is deleted.
        CREATE INDEX following_feed_items_activity_idx ON following_feed_items (activity_id);

        CREATE TABLE notifications (
            id uuid PRIMARY KEY,
            recipient_user_id text NOT NULL,
            actor_user_id text NOT NULL,
            type text NOT NULL,
            metadata jsonb NOT NULL,
            read boolean NOT NULL DEFAULT false,
            created_at timestamp NOT NULL DEFAULT now(),
            updated_at timestamp NOT NULL DEFAULT now(),
            -- Courier's natural key: the ids of the notification's subject as a JSON array,
            -- e.g. ["<cardId>", "<curatorId>"]; see DerivedIDs.
            subject text NOT NULL
        );
        -- Courier's: duplicates are impossible; also finds a subject's notifications when recomputing.
        CREATE UNIQUE INDEX notifications_type_subject_recipient_key ON notifications (type, subject, recipient_user_id);
        -- Semble's: a user's notifications, newest first.
        CREATE INDEX notifications_recipient_created_idx ON notifications (recipient_user_id, created_at DESC);
        """

    /// The seed's outbox table. Frozen here, in the migration that applied it: its text is part of
    /// the migration's checksum, so it must never change with the publisher's copy
    /// (`OutboxSchema.seedTable`, the same text today — both are `IF NOT EXISTS`, so whichever
    /// runs first creates the table; a test in the publisher's suite checks the two agree).
    static let eventStore = """
        CREATE TABLE IF NOT EXISTS event_store (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            aggregate_id varchar(255) NOT NULL,
            event_type varchar(255) NOT NULL,
            event_data jsonb NOT NULL,
            version integer NOT NULL DEFAULT 1,
            timestamp timestamptz NOT NULL,
            processed boolean NOT NULL DEFAULT false,
            created_at timestamptz DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS event_store_unprocessed_idx ON event_store (processed, timestamp) WHERE NOT processed;
        CREATE INDEX IF NOT EXISTS event_store_aggregate_version_idx ON event_store (aggregate_id, version);
        """

    static let inbox = """
        CREATE TABLE courier_inbox (
            handler text NOT NULL,
            event_id text NOT NULL,
            event_type text NOT NULL,
            handled_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (handler, event_id)
        );
        """

    /// The facts. Each row merges events with a rule that ignores order and copies: the earliest
    /// (`min`) or latest (`max`) by `(at, event_id)`, or "set once".
    static let readModels = """
        -- Every library add (collection_id NULL) and collection add: the history the activity
        -- clustering and the "first add since the last removal" of notifications are computed from.
        CREATE TABLE rm_card_collects (
            event_id text COLLATE "C" PRIMARY KEY,
            actor_id text NOT NULL,
            card_id text NOT NULL,
            collection_id text,
            occurred_at timestamptz NOT NULL
        );
        CREATE INDEX rm_card_collects_actor_card_idx ON rm_card_collects (actor_id, card_id);
        CREATE INDEX rm_card_collects_collection_card_idx ON rm_card_collects (collection_id, card_id)
            WHERE collection_id IS NOT NULL;
        CREATE INDEX rm_card_collects_collection_time_idx ON rm_card_collects (collection_id, occurred_at, event_id)
            WHERE collection_id IS NOT NULL;

        -- A card's author: the curator of its earliest library add, whatever later removals.
        CREATE TABLE rm_card_authors (
            card_id text PRIMARY KEY,
            author_id text NOT NULL,
            added_at timestamptz NOT NULL,
            event_id text COLLATE "C" NOT NULL
        );

        -- A card in a curator's library: a last-writer-wins register (the latest add against
        -- the latest removal).
        CREATE TABLE rm_library_cards (
            card_id text NOT NULL,
            curator_id text NOT NULL,
            added_at timestamptz,
            added_event_id text COLLATE "C",
            removed_at timestamptz,
            removed_event_id text COLLATE "C",
            present boolean GENERATED ALWAYS AS (
                COALESCE((added_at, added_event_id) > (removed_at, removed_event_id), added_at IS NOT NULL)
            ) STORED,
            PRIMARY KEY (card_id, curator_id)
        );

        -- A card in a collection: the same register; added_by is the adder of the latest add.
        CREATE TABLE rm_collection_cards (
            collection_id text NOT NULL,
            card_id text NOT NULL,
            added_by text,
            added_at timestamptz,
            added_event_id text COLLATE "C",
            removed_at timestamptz,
            removed_event_id text COLLATE "C",
            present boolean GENERATED ALWAYS AS (
                COALESCE((added_at, added_event_id) > (removed_at, removed_event_id), added_at IS NOT NULL)
            ) STORED,
            PRIMARY KEY (collection_id, card_id)
        );

        -- A collection: the earliest CollectionCreated wins.
        CREATE TABLE rm_collections (
            collection_id text PRIMARY KEY,
            author_id text NOT NULL,
            name text NOT NULL,
            created_at timestamptz NOT NULL,
            event_id text COLLATE "C" NOT NULL
        );

        -- A follow: the earliest follow event and the earliest unfollow (terminal). Active at an
        -- event E iff followed before E and not unfollowed before E; "currently active" iff
        -- followed and never unfollowed. Keyed by the follow id *and* what it says (follower,
        -- target): events that disagree about a follow id make separate rows instead of one row
        -- whose target would depend on which event came first.
        CREATE TABLE rm_follows (
            follow_id text NOT NULL,
            follower_id text NOT NULL,
            target_type text NOT NULL CHECK (target_type IN ('USER', 'COLLECTION')),
            target_id text NOT NULL,
            followed_at timestamptz,
            followed_event_id text COLLATE "C",
            unfollowed_at timestamptz,
            unfollowed_event_id text COLLATE "C",
            PRIMARY KEY (follow_id, follower_id, target_type, target_id)
        );
        -- The followers of a user or collection (fan-out); a user's follows of a target (feed items).
        CREATE INDEX rm_follows_target_idx ON rm_follows (target_type, target_id);
        CREATE INDEX rm_follows_follower_target_idx ON rm_follows (follower_id, target_type, target_id);

        -- A connection: the earliest creation and the earliest removal (terminal); the curator
        -- from the earliest creation, else the earliest removal.
        CREATE TABLE rm_connections (
            connection_id text PRIMARY KEY,
            curator_id text NOT NULL,
            created_at timestamptz,
            created_event_id text COLLATE "C",
            removed_at timestamptz,
            removed_event_id text COLLATE "C"
        );
        CREATE INDEX rm_connections_curator_created_idx ON rm_connections (curator_id, created_at);
        """

    static let feedActivitySources = """
        -- Courier's: the events an activity is made of (derived, rewritten by the feeds handler
        -- with the activities). A user gets the activity in their following feed iff, at one of
        -- its source events, they followed its actor, or (a collection add) its collection.
        CREATE TABLE feed_activity_sources (
            event_id text COLLATE "C" PRIMARY KEY,
            activity_id uuid NOT NULL REFERENCES feed_activities (id) ON DELETE CASCADE,
            actor_id text NOT NULL,
            collection_id text,
            occurred_at timestamptz NOT NULL
        );
        CREATE INDEX feed_activity_sources_activity_idx ON feed_activity_sources (activity_id);
        -- The sources inside a follow's window, when the follow changes.
        CREATE INDEX feed_activity_sources_actor_time_idx ON feed_activity_sources (actor_id, occurred_at, event_id);
        CREATE INDEX feed_activity_sources_collection_time_idx ON feed_activity_sources (collection_id, occurred_at, event_id)
            WHERE collection_id IS NOT NULL;
        """

    /// Each handler keeps the facts it reads in tables of its own, so the two handlers, which run
    /// concurrently, never write the same rows: the second no longer waits on the first's row
    /// locks until it commits.
    /// - The notifications handler keeps the `rm_*` tables of ``readModels``.
    /// - The feeds handler keeps `rm_feed_follows` and `rm_feed_connections` (the same shape and
    ///   merge rules as `rm_follows` and `rm_connections`), and reads the collects of an
    ///   (actor, card) from its own `feed_activity_sources`, which hold every collect it applied.
    ///   On an existing database its tables start as copies of the shared ones (a superset of what
    ///   it applied: facts are merged by rules that ignore order and copies, so that is safe).
    /// - Indexes only the other handler used are dropped: `rm_follows` by follower (feeds' follow
    ///   windows), `rm_card_collects` by (actor, card) for collection adds (feeds' clustering; the
    ///   notifications only look up library adds that way).
    static let factsPerHandler = """
        CREATE TABLE rm_feed_follows (
            follow_id text NOT NULL,
            follower_id text NOT NULL,
            target_type text NOT NULL CHECK (target_type IN ('USER', 'COLLECTION')),
            target_id text NOT NULL,
            followed_at timestamptz,
            followed_event_id text COLLATE "C",
            unfollowed_at timestamptz,
            unfollowed_event_id text COLLATE "C",
            PRIMARY KEY (follow_id, follower_id, target_type, target_id)
        );
        INSERT INTO rm_feed_follows SELECT follow_id, follower_id, target_type, target_id, followed_at, followed_event_id,
            unfollowed_at, unfollowed_event_id FROM rm_follows;
        -- The followers of an actor or collection (fan-out); a user's follows of a target (feed items).
        CREATE INDEX rm_feed_follows_target_idx ON rm_feed_follows (target_type, target_id);
        CREATE INDEX rm_feed_follows_follower_target_idx ON rm_feed_follows (follower_id, target_type, target_id);
        DROP INDEX rm_follows_follower_target_idx;

        CREATE TABLE rm_feed_connections (
            connection_id text PRIMARY KEY,
            curator_id text NOT NULL,
            created_at timestamptz,
            created_event_id text COLLATE "C",
            removed_at timestamptz,
            removed_event_id text COLLATE "C"
        );
        INSERT INTO rm_feed_connections SELECT connection_id, curator_id, created_at, created_event_id, removed_at, removed_event_id
            FROM rm_connections;

        DROP INDEX rm_card_collects_actor_card_idx;
        -- The library adds of a (curator, card): "the add" of USER_ADDED_YOUR_CARD.
        CREATE INDEX rm_card_collects_library_add_idx ON rm_card_collects (actor_id, card_id) WHERE collection_id IS NULL;
        """

    /// Every text id and type the handlers compare (all text columns of these tables but the
    /// collection name and Semble's unused `url_type` and `source`) compares by bytes (`COLLATE
    /// "C"`), like the event ids already did. They are opaque keys (DIDs, record keys, type names):
    /// a linguistic order means nothing for them, and comparing them under the database's locale
    /// costs a locale-aware comparison each time — in every index descent of every insert and
    /// lookup. Measured on the end-to-end benchmark (100k events, three interleaved pairs): against
    /// these columns under a linguistic collation (`en-US`, as many databases are created),
    /// 9.1–10.5k events/s instead of 7.7–8.4k and a fifth less Postgres CPU; against `C.UTF-8`
    /// (this machine's database default, the cheapest locale) within the noise, about 2% less CPU.
    /// Equality is unchanged (both are deterministic: equal means byte-equal), so no row changes;
    /// only the order of these columns in an `ORDER BY` does, and no reader orders by an id. Human
    /// text (collection names) keeps the database's collation.
    ///
    /// On an existing database the type stays `text`, so Postgres keeps the rows and rebuilds the
    /// indexes on these columns, holding each table's lock while it does.
    static let idsCompareByBytes = byteOrderColumns.map { table, columns in
        "ALTER TABLE \(table) " + columns.map { "ALTER COLUMN \($0) TYPE text COLLATE \"C\"" }.joined(separator: ", ") + ";"
    }.joined(separator: "\n")

    /// The columns ``idsCompareByBytes`` turns to byte order, table by table. Frozen: the
    /// migration's SQL is made from it, and the migrator refuses to start when an applied
    /// migration's SQL changes — a column added later gets `COLLATE "C"` in its own migration
    /// (``SembleSchemaTests`` fails until it does).
    static let byteOrderColumns: KeyValuePairs<String, [String]> = [
        "feed_activities": ["actor_id", "card_id", "connection_id", "type"],
        "following_feed_items": ["user_id"],
        "notifications": ["recipient_user_id", "actor_user_id", "type", "subject"],
        "courier_inbox": ["handler", "event_id", "event_type"],
        "rm_card_collects": ["actor_id", "card_id", "collection_id"],
        "rm_card_authors": ["card_id", "author_id"],
        "rm_library_cards": ["card_id", "curator_id"],
        "rm_collection_cards": ["collection_id", "card_id", "added_by"],
        "rm_collections": ["collection_id", "author_id"],
        "rm_follows": ["follow_id", "follower_id", "target_type", "target_id"],
        "rm_connections": ["connection_id", "curator_id"],
        "feed_activity_sources": ["actor_id", "collection_id"],
        "rm_feed_follows": ["follow_id", "follower_id", "target_type", "target_id"],
        "rm_feed_connections": ["connection_id", "curator_id"],
    ]
}
