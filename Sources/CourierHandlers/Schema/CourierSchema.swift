import CourierPostgres
import Logging

/// The handlers' own tables, in Courier's schema (`courier.database.schema`, default `courier`),
/// never beside Semble's: the inbox, the read models, the feed's source events and the
/// notification ledger. Applied by ``PostgresMigrator`` with `schema` = Courier's schema, tracked
/// in ``trackingTable`` there. (The outbox and the failure index have migrations of their own,
/// in the same schema.)
///
/// - **The inbox** (`courier_inbox`): one row per (handler, event) applied; the runner writes it
///   in the transaction of the handler's writes.
/// - **Read models** (`rm_*`): the facts the events establish, each kept by idempotent and
///   commutative upserts, so they are a function of the *set* of events seen. Event times are
///   `timestamptz`; ids compare by bytes (`COLLATE "C"`): they are opaque keys, and byte order is
///   the same in SQL as in Swift (``EventOrder``) and on every server.
/// - **`feed_activity_sources`**: which events make up which activity of Semble's
///   `feed_activities` (no foreign key into Semble's table: Semble's migrations must stay free to
///   change it; Courier re-points or ignores sources whose activity is gone).
/// - **`notification_keys`**: the ledger that makes writes to Semble's `notifications` (which has
///   no unique key but its `id`, and must not get one) exactly-once. A notification's natural key
///   is (type, subject, recipient) — `subject` being the ids it is about, as a JSON array — and
///   its `id` is derived from that key (``DerivedIDs``), so a second copy is a conflict on
///   Semble's primary key; the ledger, written in the same transaction, is how the handler finds
///   a subject's notifications to recompute them without reading (or indexing) `metadata`.
package enum CourierSchema {
    /// The table recording which of these migrations ran, in Courier's schema.
    package static let trackingTable = "schema_migrations"

    package static let migrations: [PostgresMigration] = [
        PostgresMigration(version: 1, name: "handler_tables", sql: handlerTables),
        PostgresMigration(version: 2, name: "follows_by_triple_and_added_at", sql: followsByTriple),
        PostgresMigration(version: 3, name: "semble_state_and_bundles", sql: sembleStateAndBundles),
    ]

    /// Version 3. The handlers read Semble's own tables as Semble's handlers do (cards, follows
    /// with their subscriptions, collections, connections, users…), which the events alone cannot
    /// tell: the read models (`rm_*`), the feed's source events and the notification ledger that
    /// rebuilt state from the events go. Semble's tables keep every row Courier wrote.
    ///
    /// `card_activity_bundles`: the pending card-activity bundles (``BundleStore``), one row per
    /// bundle, named after the event that opened it; `opened_at` is that event's time (the window
    /// of joining adds), `due_at` the database's clock when it is flushed; `attempts` and
    /// `last_error` record flushes that failed (``BundleFlusher``).
    static let sembleStateAndBundles = """
        DROP TABLE IF EXISTS rm_card_collects, rm_card_authors, rm_library_cards, rm_collection_cards, rm_collections,
            rm_follows, rm_connections, rm_feed_follows, rm_feed_connections, feed_activity_sources, notification_keys;

        CREATE TABLE card_activity_bundles (
            bundle_id text COLLATE "C" PRIMARY KEY,
            card_id text COLLATE "C" NOT NULL,
            actor_id text COLLATE "C" NOT NULL,
            opened_at timestamptz NOT NULL,
            due_at timestamptz NOT NULL,
            collection_ids text[] COLLATE "C" NOT NULL DEFAULT '{}',
            has_library_event boolean NOT NULL DEFAULT false,
            attempts integer NOT NULL DEFAULT 0,
            last_error text
        );
        CREATE INDEX card_activity_bundles_pair_idx ON card_activity_bundles (card_id, actor_id);
        CREATE INDEX card_activity_bundles_due_idx ON card_activity_bundles (due_at, bundle_id);

        """

    /// Applies what is missing in `schema` (Courier's; it must exist). Safe from several
    /// processes at once. Returns the versions applied.
    @discardableResult
    package static func migrate(
        on connection: isolated PostgresConnection, schema: String, logger: Logger = Logger(label: "courier.migrations")
    ) async throws -> [Int] {
        try await PostgresMigrator(migrations: migrations, schema: schema, table: trackingTable, logger: logger).migrate(on: connection)
    }

    /// The ledger (also created by the upgrade of an old layout, from the same text).
    static let notificationKeys = """
        CREATE TABLE notification_keys (
            notification_id uuid PRIMARY KEY,
            type text COLLATE "C" NOT NULL,
            subject text COLLATE "C" NOT NULL,
            recipient_user_id text COLLATE "C" NOT NULL
        );
        CREATE INDEX notification_keys_subject_idx ON notification_keys (subject, type);
        """

    /// Exactly the shape the old layout's migrations 3–7 gave these tables (so a database
    /// upgraded from it holds what this creates), without the foreign key into Semble's table.
    static let handlerTables = """
        CREATE TABLE courier_inbox (
            handler text COLLATE "C" NOT NULL,
            event_id text COLLATE "C" NOT NULL,
            event_type text COLLATE "C" NOT NULL,
            handled_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (handler, event_id)
        );

        -- Every library add (collection_id NULL) and collection add.
        CREATE TABLE rm_card_collects (
            event_id text COLLATE "C" PRIMARY KEY,
            actor_id text COLLATE "C" NOT NULL,
            card_id text COLLATE "C" NOT NULL,
            collection_id text COLLATE "C",
            occurred_at timestamptz NOT NULL
        );
        CREATE INDEX rm_card_collects_collection_card_idx ON rm_card_collects (collection_id, card_id)
            WHERE collection_id IS NOT NULL;
        CREATE INDEX rm_card_collects_collection_time_idx ON rm_card_collects (collection_id, occurred_at, event_id)
            WHERE collection_id IS NOT NULL;
        -- The library adds of a (curator, card): "the add" of USER_ADDED_YOUR_CARD.
        CREATE INDEX rm_card_collects_library_add_idx ON rm_card_collects (actor_id, card_id) WHERE collection_id IS NULL;

        -- A card's author: the curator of its earliest library add.
        CREATE TABLE rm_card_authors (
            card_id text COLLATE "C" PRIMARY KEY,
            author_id text COLLATE "C" NOT NULL,
            added_at timestamptz NOT NULL,
            event_id text COLLATE "C" NOT NULL
        );

        -- A card in a curator's library: a last-writer-wins register.
        CREATE TABLE rm_library_cards (
            card_id text COLLATE "C" NOT NULL,
            curator_id text COLLATE "C" NOT NULL,
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
            collection_id text COLLATE "C" NOT NULL,
            card_id text COLLATE "C" NOT NULL,
            added_by text COLLATE "C",
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
            collection_id text COLLATE "C" PRIMARY KEY,
            author_id text COLLATE "C" NOT NULL,
            name text NOT NULL,
            created_at timestamptz NOT NULL,
            event_id text COLLATE "C" NOT NULL
        );

        -- A follow (the notifications handler's): the earliest follow and unfollow events.
        CREATE TABLE rm_follows (
            follow_id text COLLATE "C" NOT NULL,
            follower_id text COLLATE "C" NOT NULL,
            target_type text COLLATE "C" NOT NULL CHECK (target_type IN ('USER', 'COLLECTION')),
            target_id text COLLATE "C" NOT NULL,
            followed_at timestamptz,
            followed_event_id text COLLATE "C",
            unfollowed_at timestamptz,
            unfollowed_event_id text COLLATE "C",
            PRIMARY KEY (follow_id, follower_id, target_type, target_id)
        );
        CREATE INDEX rm_follows_target_idx ON rm_follows (target_type, target_id);

        -- A connection: the earliest creation and the earliest removal.
        CREATE TABLE rm_connections (
            connection_id text COLLATE "C" PRIMARY KEY,
            curator_id text COLLATE "C" NOT NULL,
            created_at timestamptz,
            created_event_id text COLLATE "C",
            removed_at timestamptz,
            removed_event_id text COLLATE "C"
        );
        CREATE INDEX rm_connections_curator_created_idx ON rm_connections (curator_id, created_at);

        -- The events an activity of Semble's feed_activities is made of.
        CREATE TABLE feed_activity_sources (
            event_id text COLLATE "C" PRIMARY KEY,
            activity_id uuid NOT NULL,
            actor_id text COLLATE "C" NOT NULL,
            collection_id text COLLATE "C",
            occurred_at timestamptz NOT NULL
        );
        CREATE INDEX feed_activity_sources_activity_idx ON feed_activity_sources (activity_id);
        CREATE INDEX feed_activity_sources_actor_time_idx ON feed_activity_sources (actor_id, occurred_at, event_id);
        CREATE INDEX feed_activity_sources_collection_time_idx ON feed_activity_sources (collection_id, occurred_at, event_id)
            WHERE collection_id IS NOT NULL;

        -- The feeds handler's own follows and connections (same shape and merge rules).
        CREATE TABLE rm_feed_follows (
            follow_id text COLLATE "C" NOT NULL,
            follower_id text COLLATE "C" NOT NULL,
            target_type text COLLATE "C" NOT NULL CHECK (target_type IN ('USER', 'COLLECTION')),
            target_id text COLLATE "C" NOT NULL,
            followed_at timestamptz,
            followed_event_id text COLLATE "C",
            unfollowed_at timestamptz,
            unfollowed_event_id text COLLATE "C",
            PRIMARY KEY (follow_id, follower_id, target_type, target_id)
        );
        CREATE INDEX rm_feed_follows_target_idx ON rm_feed_follows (target_type, target_id);
        CREATE INDEX rm_feed_follows_follower_target_idx ON rm_feed_follows (follower_id, target_type, target_id);

        CREATE TABLE rm_feed_connections (
            connection_id text COLLATE "C" PRIMARY KEY,
            curator_id text COLLATE "C" NOT NULL,
            created_at timestamptz,
            created_event_id text COLLATE "C",
            removed_at timestamptz,
            removed_event_id text COLLATE "C"
        );

        """ + notificationKeys

    /// Version 2. Semble has no follow id: a follow event's `followId` is a fresh UUID stored
    /// nowhere, an unfollow's is `"<follower>:<target>:<TYPE>"` (semble-parity.md §4), so keyed by
    /// follow id no unfollow ever met its follow. A follow is now (follower, target type, target):
    /// one register per triple, the latest follow and the latest unfollow (``Facts``), `active`
    /// when the follow is the later. The rows of version 1 — the earliest follow or unfollow per
    /// follow id — are merged per triple, keeping the latest of each, so the unfollows recorded so
    /// far take effect.
    ///
    /// The ledger rows of the follow notifications get the triple as subject (it was
    /// `["<followId>"]`), found through the notifications handler's follow rows, before those are
    /// reshaped: the next recompute of the triple (an unfollow, a follow) then finds the old row,
    /// whose id is not the one derived from the new subject, and replaces or deletes it. Semble's
    /// `notifications` are not touched here (this runs in Courier's schema): until then an old row
    /// keeps its old metadata, and one whose follow was already unfollowed stays.
    ///
    /// `feed_activity_sources.added_at`: a collect's `addedAt`, the `created_at` Semble gives the
    /// activity it opens (re-clustering needs it for sources of earlier batches); NULL for the
    /// rows of version 1, read as their `occurred_at`.
    static let followsByTriple = """
        UPDATE notification_keys k SET subject = f.subject
        FROM (
            SELECT DISTINCT ON (k.notification_id) k.notification_id,
                jsonb_build_array(f.follower_id::text, f.target_type::text, f.target_id::text)::text AS subject
            FROM notification_keys k
            JOIN rm_follows f ON k.subject = jsonb_build_array(f.follow_id::text)::text
                AND f.target_type = CASE k.type WHEN 'USER_FOLLOWED_YOU' THEN 'USER' ELSE 'COLLECTION' END
                AND (k.type <> 'USER_FOLLOWED_YOU' OR f.target_id = k.recipient_user_id)
            WHERE k.type IN ('USER_FOLLOWED_YOU', 'USER_FOLLOWED_YOUR_COLLECTION')
            ORDER BY k.notification_id, f.followed_at, f.followed_event_id
        ) f
        WHERE k.notification_id = f.notification_id;

        """ + reshapeFollows(table: "rm_follows") + reshapeFollows(table: "rm_feed_follows") + """
        ALTER TABLE feed_activity_sources ADD COLUMN added_at timestamptz;

        """

    /// Version 2's reshaping of one follows table (`rm_follows`, `rm_feed_follows`): the rows of
    /// a triple merged, the latest follow and the latest unfollow kept. The primary key serves
    /// the lookups by triple and by follower (so `rm_feed_follows`' index on
    /// (follower, type, target) goes with the old table), the target index the fan-out.
    private static func reshapeFollows(table: String) -> String {
        """
        ALTER TABLE \(table) RENAME TO \(table)_v1;
        ALTER INDEX \(table)_pkey RENAME TO \(table)_pkey_v1;
        ALTER INDEX \(table)_target_idx RENAME TO \(table)_target_idx_v1;

        -- A follow: (follower, target type, target), the latest follow and the latest unfollow.
        CREATE TABLE \(table) (
            follower_id text COLLATE "C" NOT NULL,
            target_type text COLLATE "C" NOT NULL CHECK (target_type IN ('USER', 'COLLECTION')),
            target_id text COLLATE "C" NOT NULL,
            followed_at timestamptz,
            followed_event_id text COLLATE "C",
            unfollowed_at timestamptz,
            unfollowed_event_id text COLLATE "C",
            active boolean GENERATED ALWAYS AS (
                COALESCE((followed_at, followed_event_id) > (unfollowed_at, unfollowed_event_id), followed_at IS NOT NULL)
            ) STORED,
            PRIMARY KEY (follower_id, target_type, target_id)
        );
        CREATE INDEX \(table)_target_idx ON \(table) (target_type, target_id);

        INSERT INTO \(table) (follower_id, target_type, target_id, followed_at, followed_event_id, unfollowed_at, unfollowed_event_id)
        SELECT coalesce(f.follower_id, u.follower_id), coalesce(f.target_type, u.target_type), coalesce(f.target_id, u.target_id),
            f.followed_at, f.followed_event_id, u.unfollowed_at, u.unfollowed_event_id
        FROM (
            SELECT DISTINCT ON (follower_id, target_type, target_id) follower_id, target_type, target_id, followed_at, followed_event_id
            FROM \(table)_v1 WHERE followed_at IS NOT NULL
            ORDER BY follower_id, target_type, target_id, followed_at DESC, followed_event_id DESC
        ) f
        FULL JOIN (
            SELECT DISTINCT ON (follower_id, target_type, target_id) follower_id, target_type, target_id, unfollowed_at, unfollowed_event_id
            FROM \(table)_v1 WHERE unfollowed_at IS NOT NULL
            ORDER BY follower_id, target_type, target_id, unfollowed_at DESC, unfollowed_event_id DESC
        ) u ON u.follower_id = f.follower_id AND u.target_type = f.target_type AND u.target_id = f.target_id;

        DROP TABLE \(table)_v1;


        """
    }
}
