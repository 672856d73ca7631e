import CourierConfig
import CourierTelemetry
import Foundation
import Logging
import ServiceLifecycle
import Tracing

#if OTLP
import OTel
#endif

/// Whether and how courierd exports its spans: off unless `OTEL_TRACES_EXPORTER` is `otlp`, then
/// with swift-otel, configured by the standard
/// `OTEL_*` variables — `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`),
/// `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` or `http/json`; this build has no gRPC),
/// `OTEL_SERVICE_NAME` (default `courierd`), `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*` …
/// `OTEL_SDK_DISABLED=true` turns it off whatever else is set.
///
/// With export off no tracer is bootstrapped: courierd starts no spans, and the relay forwards
/// the trace context an outbox row stored unchanged. Log lines carry the `trace_id` of a
/// message's `traceparent` either way.
enum TracingSetup {
    /// Bootstraps the tracer and returns the service that exports its spans (run it first in the
    /// group, so it stops last and flushes what the others ended), or nil when export is off.
    /// A value swift-otel refuses stops start-up (exit 78) naming the variable.
    static func bootstrap(environment: [String: String]) throws(CourierConfiguration.Invalid) -> (any Service)? {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return nil }
        let exporter = (environment["OTEL_TRACES_EXPORTER"] ?? "none").lowercased()
        switch exporter {
        case "", "none":
            return nil
        case "otlp":
            #if OTLP
            var configuration = OTel.Configuration.default
            configuration.serviceName = "courierd"
            // swift-otel's own messages through courierd's handler (JSON lines), not its console
            // logger — with the OTLP headers masked: it logs every OTEL_* value it reads.
            let base = Logger(label: "courierd.otel")
            let secrets = secretValues(in: environment)
            configuration.diagnosticLogger = .custom(
                Logger(label: "courierd.otel", factory: { _ in SecretMaskingLogHandler(inner: base.handler, secrets: secrets) }))
            configuration.logs.enabled = false  // logs: courierd's own handler (COURIER_LOG_FORMAT)
            configuration.metrics.enabled = false  // metrics: Prometheus on /metrics
            configuration.traces.enabled = true
            configuration.traces.exporter = .otlp
            do {
                let backend = try OTel.makeTracingBackend(configuration: configuration)
                InstrumentationSystem.bootstrap(backend.factory)
                return backend.service
            } catch {
                throw CourierConfiguration.Invalid(key: "OTEL_*", reason: "the trace exporter cannot be set up: \(error)")
            }
            #else
            throw CourierConfiguration.Invalid(
                key: "OTEL_TRACES_EXPORTER", reason: "'\(exporter)', but this courierd was built without the OTLP trait (swift build --traits OTLP)")
            #endif
        default:
            throw CourierConfiguration.Invalid(key: "OTEL_TRACES_EXPORTER", reason: "'\(exporter)' is not otlp or none (swift-otel exports traces over OTLP only)")
        }
    }

    /// What must never be logged of the OTLP settings: the headers variables' values (an API key,
    /// typically `authorization=Bearer …`), whole and each header's value, and the password of
    /// an endpoint URL with one.
    static func secretValues(in environment: [String: String]) -> [String] {
        var secrets: [String] = []
        for (key, value) in environment where key.hasPrefix("OTEL_EXPORTER_OTLP") {
            if key.hasSuffix("HEADERS") {
                secrets.append(value)
                for header in value.split(separator: ",") {
                    if let equals = header.firstIndex(of: "=") {
                        let headerValue = header[header.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                        if headerValue.count >= 4 { secrets.append(headerValue) }
                        // Also its percent-decoded form, in case it is logged decoded.
                        if let decoded = headerValue.removingPercentEncoding, decoded.count >= 4 { secrets.append(decoded) }
                    }
                }
            } else if key.hasSuffix("ENDPOINT"), let password = URLComponents(string: value)?.password, !password.isEmpty {
                secrets.append(password)
            }
        }
        return secrets
    }
}
