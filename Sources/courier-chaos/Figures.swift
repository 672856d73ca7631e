import Foundation

/// The figures a run prints at the end (and what each one means).
struct Figures {
    var mode: String
    var events = 0
    var poison = 0
    var consumers = 0
    var transactions = 0
    var writerReconnects = 0
    var kills = 0
    var restarts = 0
    /// The broker and Postgres faults and every fault's recovery times come from these.
    var faults: [FaultRecord] = []
    /// Copies the relay published (the tap queue) and their distinct message ids.
    var published: Int?
    var distinctPublished: Int?
    var deliveries: Double?
    var parkedCopies = 0
    var parkedIDs = 0
    var inboxRows = 0
    var writing: Duration = .zero
    var settle: Duration = .zero
    var wall: Duration = .zero
    var firstWriteToSettled: Duration = .zero

    func lines() -> [String] {
        var out: [(String, String)] = [
            ("events", "\(events) written to the outbox in \(transactions) transactions (+ \(poison) poison rows)")
        ]
        out.append(("courierd processes", "\(consumers)"))
        if mode == "chaos" {
            out.append(("kills (kill -9)", "\(kills)"))
            out.append(("courierd restarts", "\(restarts)"))
            out.append(("broker restarts", "\(faults.filter { $0.fault == .broker }.count)"))
            out.append(("Postgres stops (immediate)", "\(faults.filter { $0.fault == .postgres }.count)"))
            out.append(("outbox writer reconnects", "\(writerReconnects)"))
        }
        if let published, let distinctPublished {
            out.append((
                "duplicates absorbed",
                "\(published - distinctPublished) duplicate publishes (relay copies \(published), distinct message ids \(distinctPublished), from the tap queue); the inbox applied each event once"
            ))
        }
        if let deliveries, let published {
            out.append((
                "deliveries",
                "\(Int(deliveries)) (courier_deliveries_total, scraped before each kill and at the end); \(max(0, Int(deliveries) - published)) beyond one per published copy: redeliveries after kills and outages, a lower bound"
            ))
        }
        out.append(("parked", "\(parkedCopies) copies of \(parkedIDs) message ids in the DLQ (poison injected: \(poison))"))
        out.append(("inbox rows", "\(inboxRows) ((event, handler) pairs, each once)"))
        out.append(("writing", "\(writing.chaosText)"))
        out.append(("time to settle", "\(settle.chaosText) (last event written, or last fault over if later → every check true)"))
        if !faults.isEmpty {
            let ready = faults.map(\.toReady).sorted()
            let consuming = faults.map(\.toConsuming).sorted()
            out.append((
                "longest time to consuming again",
                "\(ready.last!.chaosText) until every live courierd was ready (/health/ready 200: consumer consuming and relay working), "
                    + "\(consuming.last!.chaosText) until every consumer was consuming; from each fault's end (the process started again, the broker "
                    + "or Postgres answering again); medians \(ready[ready.count / 2].chaosText) and \(consuming[consuming.count / 2].chaosText) over \(ready.count) faults"
            ))
            for fault in Fault.allCases {
                let mine = faults.filter { $0.fault == fault }.map(\.toReady).sorted()
                let mineConsuming = faults.filter { $0.fault == fault }.map(\.toConsuming).sorted()
                guard let worst = mine.last, let worstConsuming = mineConsuming.last else { continue }
                out.append(("  after \(fault.label)", "longest \(worst.chaosText) to ready, \(worstConsuming.chaosText) to consuming (\(mine.count) of them)"))
            }
        }
        out.append(("wall time", "\(wall.chaosText)"))
        if firstWriteToSettled > .zero {
            out.append(("events/s", String(format: "%.0f (first event written → settled)", Double(events) / firstWriteToSettled.seconds)))
        }
        let width = out.map(\.0.count).max() ?? 0
        return out.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
    }
}
