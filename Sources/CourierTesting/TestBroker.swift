import Foundation

/// Acts on the project-local RabbitMQ node the way an outage would, through `rabbitmqctl`
/// (`COURIER_RABBITMQCTL`, exported by `make test`).
package enum TestBroker {
    /// Closes, from the broker's side, every connection whose client-given name is `name`
    /// (`?connection_name=` in the URL). Returns how many it closed.
    @discardableResult
    package static func closeConnections(named name: String, reason: String = "closed by a test") throws -> Int {
        let listing = try rabbitmqctl(["list_connections", "-q", "--no-table-headers", "pid", "client_properties"])
        var closed = 0
        for line in listing.split(separator: "\n") where line.contains("connection_name\",\"\(name)\"") {
            guard let pid = line.split(separator: "\t").first else { continue }
            _ = try rabbitmqctl(["close_connection", String(pid), reason])
            closed += 1
        }
        return closed
    }

    /// A vhost of its own beside the run's, for a test whose events must neither reach nor come
    /// from the other tests' apps (every app bound to an event type gets its copy). Returns its
    /// AMQP URL. Named like the run's vhost with more hex digits, so `with-test-env.sh` removes it
    /// with the run's leftovers if the test is killed before ``deleteVhost(_:)``.
    package static func makeVhost() throws -> (name: String, url: String) {
        let run = try TestEnvironment.value("COURIER_TEST_VHOST")
        let name = run + UUID().uuidString.prefix(6).lowercased()
        _ = try rabbitmqctl(["-q", "add_vhost", name])
        _ = try rabbitmqctl(["-q", "set_permissions", "-p", name, try TestEnvironment.value("COURIER_LOCAL_USER"), ".*", ".*", ".*"])
        let url = try TestEnvironment.amqpURL()
        guard let range = url.range(of: "/" + run, options: .backwards) else {
            throw TestEnvironment.Missing(variable: "the run's vhost \(run) in COURIER_TEST_AMQP_URL")
        }
        return (name, url.replacingCharacters(in: range, with: "/" + name))
    }

    package static func deleteVhost(_ name: String) {
        _ = try? rabbitmqctl(["-q", "delete_vhost", name])
    }

    /// Runs rabbitmqctl against the local node and returns its standard output.
    package static func rabbitmqctl(_ arguments: [String]) throws -> String {
        try run(try TestEnvironment.value("COURIER_RABBITMQCTL"), arguments)
    }

    package struct CommandFailed: Error, CustomStringConvertible {
        package var command: String
        package var status: Int32
        package var output: String
        package var description: String { "`\(command)` exited \(status): \(output)" }
    }

    /// Runs the program at `path` and returns its output; throws ``CommandFailed`` when it exits
    /// non-zero.
    static func run(_ path: String, _ arguments: [String]) throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("rabbitmqctl-\(UUID().uuidString).out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw CommandFailed(command: ([path] + arguments).joined(separator: " "), status: process.terminationStatus, output: text)
        }
        return text
    }
}

/// Stops and starts the project-local Postgres cluster (through `deploy/local/services.sh`,
/// `COURIER_SERVICES_SCRIPT`), for outage tests that run on their own.
package enum TestDatabase {
    package static func stop() throws { try services(["stop-postgres"]) }
    package static func start() throws { try services(["up"]) }

    static func services(_ arguments: [String]) throws {
        _ = try TestBroker.run(try TestEnvironment.value("COURIER_SERVICES_SCRIPT"), arguments)
    }
}

/// The project-local three-node cluster (`deploy/local/cluster.sh`, exported by
/// `COURIER_WITH_CLUSTER=1 with-test-env.sh`): its nodes stopped and started the way an outage
/// would, and `rabbitmqctl` through a node that is up.
package enum TestCluster {
    /// This run's vhost on every node: comma-separated URLs, credentials and vhost in the first.
    package static func amqpURL() throws -> String { try TestEnvironment.value("COURIER_TEST_CLUSTER_AMQP_URL") }
    package static func vhost() throws -> String { try TestEnvironment.value("COURIER_TEST_CLUSTER_VHOST") }

    /// Node numbers, 1-based.
    package static func nodes() throws -> ClosedRange<Int> { 1...(Int(try TestEnvironment.value("COURIER_CLUSTER_SIZE")) ?? 3) }

    /// `courier-<hash>-<n>@localhost`.
    package static func nodeName(_ node: Int) throws -> String { try TestEnvironment.value("COURIER_CLUSTER_NODE_\(node)") }

    /// The node number of `name`, if it is one of ours.
    package static func node(named name: String) throws -> Int? { try nodes().first { (try? nodeName($0)) == name } }

    /// Stops node `node`'s whole VM (`cluster.sh stop-node`); its clients lose their connections.
    package static func stop(_ node: Int) throws { try script(["stop-node", "\(node)"]) }

    /// Starts node `node` again, on its port and with its data; it rejoins the cluster.
    package static func start(_ node: Int) throws { try script(["start-node", "\(node)"]) }

    /// Runs rabbitmqctl on the first node (other than `avoiding`) that runs.
    package static func rabbitmqctl(_ arguments: [String], avoiding: Int? = nil) throws -> String {
        var failure: (any Error)?
        for node in try nodes() where node != avoiding {
            do {
                return try TestBroker.run(try TestEnvironment.value("COURIER_CLUSTER_RABBITMQCTL_\(node)"), arguments)
            } catch { failure = error }
        }
        throw failure ?? TestEnvironment.Missing(variable: "a running cluster node")
    }

    static func script(_ arguments: [String]) throws {
        _ = try TestBroker.run(try TestEnvironment.value("COURIER_CLUSTER_SCRIPT"), arguments)
    }
}
