import Foundation

/// Acts on the project-local RabbitMQ node the way an outage would, through `rabbitmqctl`
/// (`COURIER_RABBITMQCTL`, exported by `make test`).
public enum TestBroker {
    /// Closes, from the broker's side, every connection whose client-given name is `name`
    /// (`?connection_name=` in the URL). Returns how many it closed.
    @discardableResult
    public static func closeConnections(named name: String, reason: String = "closed by a test") throws -> Int {
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
    public static func makeVhost() throws -> (name: String, url: String) {
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

    public static func deleteVhost(_ name: String) {
        _ = try? rabbitmqctl(["-q", "delete_vhost", name])
    }

    /// Runs rabbitmqctl against the local node and returns its standard output.
    public static func rabbitmqctl(_ arguments: [String]) throws -> String {
        let path = try TestEnvironment.value("COURIER_RABBITMQCTL")
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
            throw TestEnvironment.Missing(variable: "a working rabbitmqctl (\(arguments.first ?? "")): \(text)")
        }
        return text
    }
}

/// Stops and starts the project-local Postgres cluster (through `deploy/local/services.sh`,
/// `COURIER_SERVICES_SCRIPT`), for outage tests that run on their own.
public enum TestDatabase {
    public static func stop() throws { try services(["stop-postgres"]) }
    public static func start() throws { try services(["up"]) }

    static func services(_ arguments: [String]) throws {
        let script = try TestEnvironment.value("COURIER_SERVICES_SCRIPT")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestEnvironment.Missing(variable: "a working \(script) \(arguments.joined(separator: " "))")
        }
    }
}
