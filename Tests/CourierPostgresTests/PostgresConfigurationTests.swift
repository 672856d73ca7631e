@testable import CourierPostgres
import Testing

@Suite("PostgresConfiguration (no I/O)")
struct PostgresConfigurationTests {
    static let password = "s3cr3t-P@ss:w0rd"

    /// Every way a configuration can be printed.
    func renderings(of configuration: PostgresConfiguration) -> [String] {
        var dumped = ""
        dump(configuration, to: &dumped)
        return [
            configuration.description, configuration.debugDescription, "\(configuration)",
            String(reflecting: configuration), String(describing: configuration), dumped,
            configuration.redactedDescription,
        ]
    }

    @Test("a URL is parsed into its parts and its password never printed")
    func urlRedaction() throws {
        let configuration = try PostgresConfiguration(
            url: "postgres://courier:s3cr3t-P%40ss%3Aw0rd@db.example:6543/events?sslmode=require&application_name=ingest")
        #expect(configuration.host == "db.example")
        #expect(configuration.port == "6543")
        #expect(configuration.database == "events")
        #expect(configuration.user == "courier")
        #expect(configuration.tlsMode == .require)
        #expect(configuration.applicationName == "ingest")
        #expect(configuration.redactedDescription == "host=db.example port=6543 dbname=events user=courier")
        for text in renderings(of: configuration) {
            #expect(!text.contains(Self.password))
            #expect(!text.contains("s3cr3t"))
        }
    }

    @Test("postgresql:// is accepted like postgres://")
    func postgresqlScheme() throws {
        let configuration = try PostgresConfiguration("postgresql://app@localhost/app_db")
        #expect(configuration.database == "app_db")
        #expect(configuration.user == "app")
        #expect(configuration.host == "localhost")
    }

    @Test("a key=value conninfo is parsed, with quoted values, and its password never printed")
    func conninfoRedaction() throws {
        let configuration = try PostgresConfiguration(
            conninfo: "host=/var/run/postgresql port=5432 dbname='my db' user=courier password='s3cr3t-P@ss:w0rd' connect_timeout=3")
        #expect(configuration.host == "/var/run/postgresql")
        #expect(configuration.database == "my db")
        #expect(configuration.connectTimeout == .seconds(3))
        #expect(configuration.tlsMode == nil)
        for text in renderings(of: configuration) {
            #expect(!text.contains(Self.password))
        }
    }

    @Test("settings override the string's values and reach libpq last")
    func overrides() throws {
        var configuration = try PostgresConfiguration("host=localhost dbname=x sslmode=disable")
        #expect(configuration.connectTimeout == PostgresConfiguration.defaultConnectTimeout)
        configuration.applicationName = "courierd"
        configuration.tlsMode = .verifyFull
        configuration.connectTimeout = .milliseconds(2500)
        let parameters = configuration.connectParameters
        #expect(parameters.first?.keyword == "dbname")
        #expect(parameters.contains { $0 == ("application_name", "courierd") })
        #expect(parameters.contains { $0 == ("sslmode", "verify-full") })
        #expect(parameters.contains { $0 == ("connect_timeout", "3") })
        #expect(parameters.last! == ("client_encoding", "UTF8"))
    }

    @Test(
        "invalid strings fail with invalidConfiguration and never echo the password",
        arguments: [
            "postgres://courier:s3cr3t%zzpass@localhost/db",  // bad percent-encoding inside the password
            "postgres://courier:s3cr3tpass@localhost/db?nosuchoption=1",
            "host=localhost password=s3cr3tpass nosuchkey=1",
            "host=localhost password='s3cr3tpass",  // unterminated quote
            "host=localhost password=s3cr3tpass sslmode=sometimes",
            "mysql://courier:s3cr3tpass@localhost/db",
            "host=localhost password=s3cr3tpass connect_timeout=soon",
        ])
    func invalidInput(text: String) throws {
        let error = try #require(throws: PostgresError.self) { try PostgresConfiguration(text) }
        #expect(error.code == .invalidConfiguration)
        #expect(!error.message.isEmpty)
        for rendering in [error.description, "\(error)", String(reflecting: error)] {
            #expect(!rendering.contains("s3cr3t"), "\(rendering)")
        }
    }

    @Test("the scrubber removes raw and decoded passwords from libpq text")
    func scrubbing() throws {
        let configuration = try PostgresConfiguration(url: "postgres://u:p%40ss@h/db")
        #expect(configuration.scrub("failed for p@ss and p%40ss") == "failed for ******** and ********")
        #expect(SecretScrubber.passwordCandidates(in: "host=h password = 'a\\'b' user=u").contains("a'b"))
    }

    @Test("errors describe code, SQLSTATE, detail, hint, truncated query and connection")
    func errorDescription() {
        let error = PostgresError(
            code: .queryFailed, message: "duplicate key", sqlState: "23505", detail: "Key (id)=(1) exists.",
            hint: "use ON CONFLICT", query: String(repeating: "SELECT 1; ", count: 100), connection: "host=h")
        #expect(error.query!.count == PostgresError.maximumQueryLength + 1)
        #expect(error.description.hasPrefix("PostgresError.queryFailed: duplicate key (SQLSTATE 23505); detail: Key (id)=(1) exists.; hint: use ON CONFLICT; query: SELECT 1;"))
        #expect(error.description.hasSuffix("; connection: host=h"))
    }
}
