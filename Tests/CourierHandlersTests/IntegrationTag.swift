import Testing

// The same tag in every test target that has such suites (a tag is known by its name, so they are
// one tag); not in CourierTesting, which the benchmark and the chaos
// executables link and which therefore does not import Testing.
extension Tag {
    /// Needs RabbitMQ or PostgreSQL (deploy/local/with-test-env.sh) or spawns processes: `make unit` skips it.
    @Tag static var integration: Self
}
