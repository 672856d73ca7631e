import ArgumentParser

/// `courier`: the operator's tool for Courier — the dead-letter queue above all.
///
/// Settings come from the same configuration file and environment as courierd (`AMQP_URL`,
/// `DATABASE_URL`, `FLY_APP_NAME`, `COURIER_*`; `--config PATH`). Exit statuses: 0 done,
/// 1 incomplete or drift, 2 usage or configuration, 3 broker or database unreachable,
/// 4 not found, 130 interrupted.
@main
struct Courier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "courier",
        abstract: "Operate Courier: the dead-letter queue, the topology, status, publishing an event, and database steps.",
        discussion: "Exit status: 0 done, 1 incomplete or drift, 2 usage or configuration, 3 unreachable, 4 not found, 130 interrupted.",
        subcommands: [DeadLetterCommand.self, StatusCommand.self, TopologyCommand.self, PublishCommand.self, DatabaseCommand.self])
}
