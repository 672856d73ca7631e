import CourierAMQP
import Testing

@testable import CourierEngine

@Suite("Topology")
struct TopologyTests {
    @Test("the quorum app queue dead-letters at least once to the DLX, with a delivery limit")
    func quorumAppQueue() throws {
        let t = Topology(.init(appName: "semble", eventTypes: ["CardAddedToLibraryEvent"]))
        let app = try #require(t.queues.first { $0.name == "events_semble" })
        #expect(app.arguments["x-queue-type"] == "quorum")
        #expect(app.arguments["x-dead-letter-exchange"] == "domain_events.dlx")
        #expect(app.arguments["x-dead-letter-routing-key"] == "events_semble")
        #expect(app.arguments["x-delivery-limit"] == .int64(10))
        #expect(app.arguments["x-dead-letter-strategy"] == "at-least-once")
        #expect(app.arguments["x-overflow"] == "reject-publish")
        #expect(t.deadLetterQueue == "events_semble.dlq")
        #expect(t.bindings.contains(Topology.Binding(queue: "events_semble.dlq", exchange: "domain_events.dlx", routingKey: "events_semble")))
    }

    @Test("a classic app queue has no quorum-only arguments")
    func classic() throws {
        let t = Topology(.init(queueType: .classic))
        let app = try #require(t.queues.first { $0.name == "events_app" })
        #expect(app.arguments["x-queue-type"] == "classic")
        #expect(app.arguments["x-delivery-limit"] == nil)
        #expect(app.arguments["x-dead-letter-strategy"] == nil)
    }

    @Test("an initial group size goes on every quorum queue the app owns, not on the shared unrouted queue nor on classic queues")
    func initialGroupSize() throws {
        let sized = Topology(.init(quorumInitialGroupSize: 3))
        for queue in sized.queues where queue.name.hasPrefix("events_app") {
            #expect(queue.arguments["x-quorum-initial-group-size"] == .int64(3), "\(queue.name)")
        }
        #expect(sized.queues.filter { $0.name.hasPrefix("events_app") }.count == 2 + RetrySchedule.standard.delays.count)
        #expect(sized.queues.first { $0.name == "domain_events.unrouted" }?.arguments["x-quorum-initial-group-size"] == nil)
        #expect(Topology(.init()).queues.allSatisfy { $0.arguments["x-quorum-initial-group-size"] == nil }, "unset by default: the broker decides")
        #expect(Topology(.init(queueType: .classic, quorumInitialGroupSize: 3)).queues.allSatisfy { $0.arguments["x-quorum-initial-group-size"] == nil })
    }

    @Test("the topic exchange sends what no binding routes to the unrouted queue")
    func alternateExchange() throws {
        let t = Topology(.init())
        let exchange = try #require(t.exchanges.first { $0.name == "domain_events" })
        #expect(exchange.type == .topic)
        #expect(exchange.arguments["alternate-exchange"] == "domain_events.unrouted")
        #expect(t.exchanges.contains { $0.name == "domain_events.unrouted" && $0.type == .fanout })
        #expect(t.bindings.contains(Topology.Binding(queue: "domain_events.unrouted", exchange: "domain_events.unrouted", routingKey: "")))
    }

    @Test("one retry queue per delay, whose TTL dead-letters back to the app queue only")
    func retryQueues() throws {
        let t = Topology(.init(retrySchedule: RetrySchedule(delays: [.seconds(5), .seconds(30), .seconds(120), .seconds(600), .milliseconds(1500)])))
        let names = t.queues.map(\.name).filter { $0.contains(".retry.") }
        #expect(names == ["events_app.retry.5s", "events_app.retry.30s", "events_app.retry.2m", "events_app.retry.10m", "events_app.retry.1500ms"])
        let retry = try #require(t.queues.first { $0.name == "events_app.retry.30s" })
        #expect(retry.arguments["x-message-ttl"] == .int64(30_000))
        #expect(retry.arguments["x-dead-letter-exchange"] == "")
        #expect(retry.arguments["x-dead-letter-routing-key"] == "events_app")
        #expect(t.retryQueue(for: .seconds(120)) == "events_app.retry.2m")
        #expect(!t.bindings.contains { $0.queue.contains(".retry.") }, "retry queues are reached through the default exchange only")
    }

    @Test("bindings are the exact event names plus configured extras, each once")
    func bindings() {
        let t = Topology(.init(eventTypes: ["CardAddedToLibraryEvent", "UserFollowedTargetEvent"], extraBindingKeys: ["USER_FOLLOWED_TARGET", "CardAddedToLibraryEvent"]))
        let keys = t.bindings.filter { $0.exchange == "domain_events" }.map(\.routingKey)
        #expect(keys == ["CardAddedToLibraryEvent", "UserFollowedTargetEvent", "USER_FOLLOWED_TARGET"])
        #expect(!keys.contains("*Event"))
    }

    @Test("a 406 from the broker names the queue, the argument and both values")
    func mismatch() throws {
        let text = "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'events_app' in vhost '/': received 'quorum' but current is 'classic'"
        let m = try #require(TopologyMismatch(replyText: text))
        #expect(m.kind == "queue")
        #expect(m.name == "events_app")
        #expect(m.argument == "x-queue-type")
        #expect(m.wanted == "quorum")
        #expect(m.existing == "classic")
        #expect(m.description.contains("events_app"))
        #expect(m.description.contains("x-queue-type is 'classic' on the broker, courierd wants 'quorum'"))

        let typed = "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'events_app' in vhost '/': received the value '10' of type 'long' but current is none"
        let t = try #require(TopologyMismatch(replyText: typed))
        #expect(t.argument == "x-delivery-limit")
        #expect(t.wanted == "10")
        #expect(t.existing == nil)
        #expect(TopologyMismatch(replyText: "NOT_FOUND - no queue 'x'") == nil)
    }
}
