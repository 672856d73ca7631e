// A consumer for the tests only: the real engine with a handler that records what it handled
// and crashes the whole process on one chosen message — to prove that a message which kills
// its consumer every time is parked by the broker's delivery limit while the rest flow on.
//
// Environment: AMQP_URL, PROBE_APP, PROBE_EVENT_TYPE, PROBE_CRASH_ON (a message id),
// PROBE_HANDLED_FILE (one handled message id per line).

import CourierAMQP
import CourierEngine
import Foundation
import Logging

struct CrashingHandler: DeliveryHandler {
    let name = "crash-probe"
    let crashOn: String
    let handledFile: String

    func handle(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome] {
        deliveries.map { delivery in
            let id = delivery.properties.messageID ?? "?"
            if id == crashOn {
                FileHandle.standardError.write(Data("crash probe: dying on \(id)\n".utf8))
                abort()
            }
            if let handle = FileHandle(forWritingAtPath: handledFile) {
                handle.seekToEndOfFile()
                handle.write(Data("\(id)\n".utf8))
                try? handle.synchronize()
                try? handle.close()
            }
            return .handled
        }
    }
}

let environment = ProcessInfo.processInfo.environment
guard let url = environment["AMQP_URL"], let app = environment["PROBE_APP"], let type = environment["PROBE_EVENT_TYPE"],
    let crashOn = environment["PROBE_CRASH_ON"], let handledFile = environment["PROBE_HANDLED_FILE"]
else {
    FileHandle.standardError.write(Data("courier-test-consumer: missing PROBE_* settings\n".utf8))
    exit(2)
}
let topology = Topology(.init(appName: app, deliveryLimit: 2, retrySchedule: RetrySchedule(delays: [.milliseconds(200)]), eventTypes: [type]))
let consuming = try await AMQPConnection.connect(url: url)
let publishing = try await AMQPConnection.connect(url: url)
try await topology.declare(on: consuming)
var settings = ConsumerEngine.Settings()
settings.prefetch = 10
settings.batchSize = 10
let engine = ConsumerEngine(
    topology: topology, handler: CrashingHandler(crashOn: crashOn, handledFile: handledFile), settings: settings,
    logger: Logger(label: "probe"))
FileHandle.standardError.write(Data("crash probe: consuming\n".utf8))
try await engine.run(consuming: consuming, publishing: publishing)
