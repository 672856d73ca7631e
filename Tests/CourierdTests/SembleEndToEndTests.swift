import CourierAMQP
import CourierEngine
import CourierEvents
import CourierHandlers
import CourierPostgres
import CourierPublisher
import CourierTesting
import Foundation
import Testing

/// courierd with Semble's real handlers: events published to `domain_events` become rows.
@Suite("courierd with Semble's handlers", .tags(.integration))
struct SembleEndToEndTests {
    @Test("published events become feed items and notifications — a via card, a subscription bundle flushed by courierd — once, even when published twice")
    func eventsBecomeRows() async throws {
        let amqp = try TestEnvironment.amqpURL()
        let database = try TestEnvironment.databaseURL()
        let app = TestEnvironment.uniqueName("semble")
        let run = TestEnvironment.uniqueName("r")
        let (alice, bob, carol) = (testDID("alice", run), testDID("bob", run), testDID("carol", run))  // did:plc:[A-Za-z0-9]+
        let (original, copy) = (UUID().uuidString.lowercased(), UUID().uuidString.lowercased())
        let at = Date(timeIntervalSince1970: 1_795_000_000)
        let events = [
            EventEnvelope(
                id: "\(run)-1", aggregateId: "follow-\(run)", occurredAt: at,
                event: .userFollowedTarget(.init(followId: "follow-\(run)", followerId: bob, targetId: alice, targetType: .user, createdAt: at))),
            EventEnvelope(
                id: "\(run)-2", aggregateId: original, occurredAt: at.addingTimeInterval(1),
                event: .cardAddedToLibrary(.init(cardId: original, curatorId: alice, addedAt: at.addingTimeInterval(1)))),
            EventEnvelope(
                id: "\(run)-3", aggregateId: copy, occurredAt: at.addingTimeInterval(2),
                event: .cardAddedToLibrary(.init(cardId: copy, curatorId: bob, addedAt: at.addingTimeInterval(2)))),
        ]
        let environment = [
            "AMQP_URL": amqp, "DATABASE_URL": database, "FLY_APP_NAME": app, "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1",
        ]
        let postgres = try await Self.connect(database)
        await SembleFixture.createIfReachable(database)
        // Semble's state, as Semble's API wrote it before publishing: bob's card came via alice's;
        // bob follows alice; carol is subscribed to bob's cards.
        try await postgres.executeTrustedScript(
            """
            INSERT INTO users (id, linked_at, last_login_at) VALUES ('\(alice)', now(), now()), ('\(bob)', now(), now()), ('\(carol)', now(), now());
            INSERT INTO cards (id, author_id, type, content_data, url) VALUES
                ('\(original)', '\(alice)', 'URL', '{"url": "https://example.com/\(run)", "metadata": {"type": "article"}}', 'https://example.com/\(run)');
            INSERT INTO cards (id, author_id, type, content_data, url, via_card_id) VALUES
                ('\(copy)', '\(bob)', 'URL', '{"url": "https://example.com/\(run)", "metadata": {"type": "article"}}', 'https://example.com/\(run)', '\(original)');
            INSERT INTO library_memberships (card_id, user_id) VALUES ('\(original)', '\(alice)'), ('\(copy)', '\(bob)');
            INSERT INTO follows (follower_id, target_id, target_type) VALUES ('\(bob)', '\(alice)', 'USER');
            INSERT INTO follows (follower_id, target_id, target_type, is_subscribed, subscribed_at, subscription_scopes)
                VALUES ('\(carol)', '\(bob)', 'USER', true, now(), '["CARD"]');
            """)
        let result = try await CourierdProcessTests.run(environment: environment, stopWhen: "ready", timeout: .seconds(120)) { _ in
            let connection = try await AMQPConnection.connect(url: amqp)
            let channel = try await connection.openChannel()
            try await channel.confirmSelect()
            // Every event twice: the second copy must change nothing.
            for event in events + events {
                let outcome = try await channel.publish(
                    EventEncoder().encode(event), exchange: "domain_events", routingKey: event.type.rawValue,
                    properties: AMQPProperties(
                        contentType: "application/json", headers: [EventSchema.versionHeader: .int32(2)], deliveryMode: .persistent,
                        messageID: event.id, type: event.type.rawValue),
                    mandatory: true)
                #expect(outcome == .acked)
            }
            // The bundles are flushed by courierd 3 s after they open (on the database's clock).
            let deadline = ContinuousClock.now + .seconds(180)
            while ContinuousClock.now < deadline {
                let made = try await postgres.query("SELECT count(*) FROM notifications WHERE actor_user_id = $1", [bob])
                if try made[0].decode(Int64.self, column: 0) >= 3 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(500))  // a second application would land now
            await connection.close()
        }
        #expect(result.status == 0, "output: \(result.output)")

        let notifications = try await postgres.query(
            "SELECT recipient_user_id, actor_user_id, type FROM notifications WHERE actor_user_id IN ($1, $2) ORDER BY type", [alice, bob])
        let rows = try notifications.map { [try $0.decode(String.self, column: 0), try $0.decode(String.self, column: 1), try $0.decode(String.self, column: 2)] }
        #expect(rows == [[carol, bob, "SUBSCRIBED_USER_ADDED_CARD"], [alice, bob, "USER_ADDED_YOUR_CARD"], [alice, bob, "USER_FOLLOWED_YOU"]])
        for (user, sees) in [(bob, alice), (carol, bob)] {
            let feed = try await postgres.query(
                "SELECT a.actor_id FROM following_feed_items f JOIN feed_activities a ON a.id = f.activity_id WHERE f.user_id = $1", [user])
            #expect(try feed.map { try $0.decode(String.self, column: 0) } == [sees], "\(user) sees \(sees)'s card once")
        }
        await postgres.close()
    }

    @Test("the API's side: a domain row and its event in one transaction; courierd's relay and handlers carry it into the feed, once even when a killed relay published it before")
    func outboxToFeed() async throws {
        let amqp = try TestEnvironment.amqpURL()
        let database = try TestEnvironment.databaseURL()
        let app = TestEnvironment.uniqueName("outbox")
        let run = TestEnvironment.uniqueName("o")
        let (carol, dave) = (testDID("carol", run), testDID("dave", run))
        let environment = [
            "AMQP_URL": amqp, "DATABASE_URL": database, "FLY_APP_NAME": app, "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1",
        ]
        // The app queue exists before anything is published, as it does in production: the relay
        // may publish before courierd's consumer has declared it (and the relays of the other
        // courierd processes of this run share the database, so any of them may publish it).
        let amqpConnection = try await AMQPConnection.connect(url: amqp)
        try await Topology(.init(appName: app, eventTypes: EventType.allWireNames)).declare(on: amqpConnection)
        await amqpConnection.close()
        let api = try await Self.connect(database)
        _ = try await OutboxSchema.migrate(on: api, schema: Outbox.defaultSchema)  // what the API runs at its start
        let follows = "follows_\(run)"
        _ = try await api.execute("CREATE TABLE \(follows) (id text PRIMARY KEY, follower text, target text)")

        let follow = EventEnvelope.outgoing(
            .userFollowedTarget(.init(followId: "follow-\(run)", followerId: dave, targetId: carol, targetType: .user, createdAt: Date())))
        let abandoned = EventEnvelope.outgoing(
            .userFollowedTarget(.init(followId: "never-\(run)", followerId: carol, targetId: dave, targetType: .user, createdAt: Date())))
        // Committed: the domain row and its event together.
        try await api.withTransaction { transaction in
            _ = try transaction.execute("INSERT INTO \(follows) VALUES ($1, $2, $3)", ["follow-\(run)", dave, carol])
            try Outbox.enqueue(follow, in: transaction)
        }
        // Rolled back: neither the row nor the event.
        struct Abandon: Error {}
        _ = try? await api.withTransaction { transaction in
            _ = try transaction.execute("INSERT INTO \(follows) VALUES ($1, $2, $3)", ["never-\(run)", carol, dave])
            try Outbox.enqueue(abandoned, in: transaction)
            throw Abandon()
        }

        // A relay that published the event and was killed before marking it: the event is out
        // once already, and courierd's relay will publish it again (same message id).
        let killedRelay = EventPublisher(configuration: PublisherConfiguration(amqp: try AMQPConfiguration(url: amqp), appID: "killed-relay"))
        try await killedRelay.publish(follow)
        await killedRelay.shutdown()

        let result = try await CourierdProcessTests.run(environment: environment, stopWhen: "ready", timeout: .seconds(120)) { _ in
            let deadline = ContinuousClock.now + .seconds(180)
            while ContinuousClock.now < deadline {
                let rows = try await api.query("SELECT count(*) FROM notifications WHERE recipient_user_id = $1", [carol])
                if try rows[0].decode(Int64.self, column: 0) > 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(result.status == 0, "output: \(result.output)")
        let notified = try await api.query("SELECT actor_user_id, type FROM notifications WHERE recipient_user_id IN ($1, $2)", [carol, dave])
        #expect(try notified.map { [try $0.decode(String.self, column: 0), try $0.decode(String.self, column: 1)] } == [[dave, "USER_FOLLOWED_YOU"]])
        let inbox = try await api.query("SELECT handler FROM courier_inbox WHERE event_id = $1 ORDER BY handler", [follow.id])
        #expect(try inbox.map { try $0.decode(String.self, column: 0) } == ["notifications"], "applied once (follows touch no feed row)")
        let published = try await api.query("SELECT processed FROM event_store WHERE id = $1::uuid", [follow.id])
        #expect(try published.map { try $0.decode(Bool.self, column: 0) } == [true], "the relay marked it after the confirm")
        #expect(try await api.query("SELECT 1 FROM event_store WHERE id = $1::uuid", [abandoned.id]).isEmpty)
        _ = try await api.execute("DROP TABLE \(follows)")
        await api.close()
    }

    @Test("on a database that already holds Semble's tables, courierd starts, handles both payload shapes Semble publishes, and leaves Semble's table definitions byte for byte as they were")
    func sembleDatabaseUntouched() async throws {
        let vhost = try TestBroker.makeVhost()
        defer { TestBroker.deleteVhost(vhost.name) }
        let database = try await OwnDatabase.make()
        defer { Task { await database.drop() } }
        // Semble's tables, as Semble's migrations leave them, before courierd ever ran here.
        let semble = try await PostgresConnection.connect(try PostgresConfiguration(url: database.url))
        try await SembleTables.create(on: semble)
        let before = try Self.dumpSembleSchema(database.url)
        #expect(before.contains("CREATE TABLE public.notifications"), "\(before.prefix(300))")

        let token = UUID().uuidString.prefix(8).lowercased()
        let (alice, bob) = (testDID("alice", token), testDID("bob", token))
        // The follow's row, which Semble's API inserts before publishing the event (the feed's
        // fan-out reads `follows`).
        try await semble.execute("INSERT INTO follows (follower_id, target_id, target_type) VALUES ($1, $2, 'USER')", [bob, alice])
        await semble.close()
        let card = UUID().uuidString.lowercased()
        let follow = UUID().uuidString.lowercased()
        // Semble's EventMapper (flat strings, eventType, the legacy follow name) and the seed's
        // Option 4 (value objects, eventName, the class name as routing key); no message id, no
        // content type, no schema-version header — as Semble's TypeScript publishers send them.
        let messages: [(routingKey: String, body: String)] = [
            ("USER_FOLLOWED_TARGET",
             #"{"eventType":"USER_FOLLOWED_TARGET","aggregateId":"\#(follow)","dateTimeOccurred":"2026-03-01T12:00:00.003Z","followId":"\#(follow)","followerId":"\#(bob)","targetId":"\#(alice)","targetType":"USER","createdAt":"2026-03-01T12:00:00.000Z"}"#),
            ("CardAddedToLibraryEvent",
             #"{"cardId":{"props":{"value":{"value":"\#(card)"}}},"curatorId":{"props":{"value":"\#(alice)"}},"addedAt":"2026-03-01T12:00:05.000Z","eventName":"CardAddedToLibraryEvent","dateTimeOccurred":"2026-03-01T12:00:05.003Z","aggregateId":"\#(card)"}"#),
        ]
        let app = TestEnvironment.uniqueName("sembledb")
        let environment = [
            "AMQP_URL": vhost.url, "DATABASE_URL": database.url, "FLY_APP_NAME": app, "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1",
        ]
        let postgres = try await Self.connect(database.url)
        let result = try await CourierdProcessTests.run(environment: environment, stopWhen: "ready", timeout: .seconds(300)) { _ in
            let connection = try await AMQPConnection.connect(url: vhost.url)
            let channel = try await connection.openChannel()
            try await channel.confirmSelect()
            for message in messages {
                let outcome = try await channel.publish(
                    Array(message.body.utf8), exchange: "domain_events", routingKey: message.routingKey,
                    properties: AMQPProperties(deliveryMode: .persistent), mandatory: true)
                #expect(outcome == .acked)
            }
            await connection.close()
            // The feeds handler takes the add, the notifications handler both.
            #expect(await eventually {
                (try? await postgres.query("SELECT count(*) FROM courier_inbox").first?.decode(Int64.self, column: 0)) == 3
            })
        }
        #expect(result.status == 0, "output: \(result.output)")
        #expect(!result.output.contains("dead-lettering"), "nothing was parked: \(result.output)")

        let notified = try await postgres.query("SELECT recipient_user_id, actor_user_id, type FROM notifications")
        #expect(try notified.map { [try $0.decode(String.self, column: 0), try $0.decode(String.self, column: 1), try $0.decode(String.self, column: 2)] }
            == [[alice, bob, "USER_FOLLOWED_YOU"]])
        let feed = try await postgres.query(
            "SELECT f.user_id, a.actor_id, a.card_id FROM following_feed_items f JOIN feed_activities a ON a.id = f.activity_id")
        #expect(try feed.map { [try $0.decode(String.self, column: 0), try $0.decode(String.self, column: 1), try $0.decode(String?.self, column: 2) ?? ""] }
            == [[bob, alice, card]], "the Option 4 add reached bob's following feed")
        await postgres.close()

        let after = try Self.dumpSembleSchema(database.url)
        #expect(after == before, "Semble's tables changed: \(Self.difference(before, after))")
    }

    /// `pg_dump --schema-only` of Semble's schema (`public`) in `url`'s database.
    static func dumpSembleSchema(_ url: String) throws -> String {
        let candidates = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let pgDump = try #require(
            candidates.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin/pg_dump" }
                .first { FileManager.default.isExecutableFile(atPath: $0) },
            "pg_dump (postgresql-client) is installed with the local Postgres")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: pgDump)
        process.arguments = ["--schema-only", "--schema=public", "--no-owner", "--dbname=\(url)"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "pg_dump exited \(process.terminationStatus)")
        // pg_dump ≥ 15.14 brackets its output with `\restrict <random key>` / `\unrestrict <key>`
        // (psql meta-commands against injection on restore): a new key each run, not the schema.
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("\\restrict ") && !$0.hasPrefix("\\unrestrict ") }.joined(separator: "\n")
    }

    /// The lines of `b` not in `a` and of `a` not in `b`, for a failure message.
    static func difference(_ a: String, _ b: String) -> String {
        let (left, right) = (Set(a.split(separator: "\n")), Set(b.split(separator: "\n")))
        return "removed: \(left.subtracting(right).sorted()); added: \(right.subtracting(left).sorted())"
    }

    /// A connection that sees what courierd does: Courier's schema (`courier`), then Semble's.
    static func connect(_ url: String) async throws -> PostgresConnection {
        try await PostgresConnection.connect(try SembleFixture.courierdView(url))
    }
}
