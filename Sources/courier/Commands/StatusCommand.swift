import ArgumentParser
import CourierEngine
import CourierFailureIndex
import CourierPostgres
import CourierPublisher
import Foundation

/// `courier status`: queue depths and consumers, the outbox backlog and its age, and what the
/// failure index holds.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Queue depths and consumers, the outbox backlog and its age, parked failures.")

    @OptionGroup var global: GlobalOptions

    struct Report: Encodable {
        var app: String
        var queues: [QueueDepth]?
        var brokerError: String?
        var outbox: OutboxStatus?
        var outboxAgeSeconds: Double?
        var parkedInIndex: Int?
        var databaseError: String?
        enum CodingKeys: String, CodingKey {
            case app, queues, brokerError = "broker_error", outbox, outboxAgeSeconds = "outbox_age_seconds"
            case parkedInIndex = "parked_in_index", databaseError = "database_error"
        }
    }

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            var report = Report(app: context.topology.settings.appName)
            // Each half reports on its own: a status command must work when one side is down.
            do {
                report.queues = try await context.withBroker { try await BrokerInspection(connection: $0, topology: context.topology).queueDepths() }
            } catch {
                report.brokerError = "\(error)"
            }
            do {
                let (outbox, parked) = try await context.withIndex { connection, index in
                    (try OutboxStatus.read(on: connection), try index.count(DeadLetterFilter(), on: connection))
                }
                report.outbox = outbox
                report.outboxAgeSeconds = outbox?.ageSeconds
                report.parkedInIndex = parked
            } catch {
                report.databaseError = "\(error)"
            }
            if global.json {
                try Output.json(report)
            } else {
                render(report)
            }
            if report.brokerError != nil || report.databaseError != nil { throw ExitCode(OpsError.Code.unavailable.exitStatus) }
        }
    }

    func render(_ report: Report) {
        Output.line(Output.bold("app \(report.app)"))
        if let queues = report.queues {
            Output.table(
                ["QUEUE", "ROLE", "MESSAGES", "CONSUMERS"],
                queues.map { q in
                    [q.queue, q.role, q.exists ? "\(q.messages)" : Output.red("missing"), q.exists ? "\(q.consumers)" : "-"]
                })
        } else {
            Output.line(Output.red("broker: \(report.brokerError ?? "unknown error")"))
        }
        Output.line()
        if let error = report.databaseError {
            Output.line(Output.red("database: \(error)"))
            return
        }
        if let outbox = report.outbox {
            if outbox.unpublished == 0 {
                Output.line("outbox: empty (every event_store row published)")
            } else {
                Output.line(
                    "outbox: \(outbox.unpublished) unpublished, oldest \(outbox.oldestUnpublished.map { Output.age(since: $0) } ?? "?") old")
            }
        } else {
            Output.line("outbox: no event_store table yet")
        }
        Output.line("failure index: \(report.parkedInIndex ?? 0) parked")
    }
}
