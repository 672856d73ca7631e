import Testing

@testable import CourierAMQP

@Suite("AMQPConfiguration: URL parsing and redaction")
struct AMQPConfigurationTests {
    @Test("a full amqp URL")
    func fullURL() throws {
        let c = try AMQPConfiguration(url: "amqp://alice:s3cret@broker.example:5673/semble?heartbeat=15&connection_name=courierd")
        #expect(c.host == "broker.example")
        #expect(c.port == 5673)
        #expect(c.user == "alice")
        #expect(c.password == "s3cret")
        #expect(c.vhost == "semble")
        #expect(c.heartbeat == 15)
        #expect(c.connectionName == "courierd")
        #expect(c.tls == nil)
    }

    @Test("defaults: guest, 127.0.0.1, 5672, vhost /", arguments: ["amqp://", "amqp://127.0.0.1", "amqp://127.0.0.1/"])
    func defaults(url: String) throws {
        let c = try AMQPConfiguration(url: url)
        #expect(c.host == "127.0.0.1")
        #expect(c.port == 5672)
        #expect(c.user == "guest")
        #expect(c.vhost == "/")
        #expect(c.heartbeat == 30)
    }

    @Test("percent-encoding in user info and vhost")
    func percentEncoding() throws {
        let c = try AMQPConfiguration(url: "amqp://us%40er:p%3Ass%2Fw%40rd@h/%2Fprod%20one")
        #expect(c.user == "us@er")
        #expect(c.password == "p:ss/w@rd")
        #expect(c.vhost == "/prod one")
    }

    @Test("IPv6 hosts")
    func ipv6() throws {
        let c = try AMQPConfiguration(url: "amqp://u:p@[::1]:5680/v")
        #expect(c.host == "::1")
        #expect(c.port == 5680)
        #expect(c.redactedURL == "amqp://u:***@[::1]:5680/v")
    }

    @Test("amqps with TLS options")
    func tls() throws {
        let c = try AMQPConfiguration(
            url: "amqps://u:p@mq.internal/v?cacertfile=/ca.pem&certfile=/c.pem&keyfile=/k.pem&verify=verify_none&server_name_indication=disable")
        #expect(c.port == 5671)
        #expect(c.tls?.caCertificatePath == "/ca.pem")
        #expect(c.tls?.certificatePath == "/c.pem")
        #expect(c.tls?.keyPath == "/k.pem")
        #expect(c.tls?.verifyPeer == false)
        #expect(c.tls?.verifyHostname == false)
    }

    @Test(
        "invalid URLs give an invalidConfiguration error that names the problem",
        arguments: [
            ("http://h/", "scheme"),
            ("amqp://h:99999/", "port"),
            ("amqp://h:abc/", "port"),
            ("amqp://h/?heartbeat=soon", "heartbeat"),
            ("amqp://h/?frobnicate=1", "frobnicate"),
            ("amqp://h/?cacertfile=/ca.pem", "amqps"),
            ("amqps://h/?certfile=/c.pem", "keyfile"),
            ("no-scheme-here", "amqp://"),
        ])
    func invalid(url: String, mention: String) {
        #expect {
            try AMQPConfiguration(url: url)
        } throws: { error in
            guard let error = error as? AMQPError else { return false }
            return error.code == .invalidConfiguration && error.description.contains(mention)
        }
    }

    @Test("the password never shows in descriptions, mirrors or errors")
    func redaction() throws {
        let secret = "hunter2-VERY-secret"
        let c = try AMQPConfiguration(url: "amqp://courier:\(secret)@h:5672/v")
        #expect(c.redactedURL == "amqp://courier:***@h:5672/v")
        for text in [c.description, c.debugDescription, String(reflecting: c), "\(c)", String(describing: Mirror(reflecting: c).children.map { "\($0.label ?? ""): \($0.value)" })] {
            #expect(!text.contains(secret), "leaked in: \(text)")
        }
        var dumped = ""
        dump(c, to: &dumped)
        #expect(!dumped.contains(secret))
        let error = AMQPError(code: .connectionFailed, operation: "connect", endpoint: c.redactedURL)
        #expect(!error.description.contains(secret))
    }

    @Test("a bad query value in a URL with a password does not echo the password")
    func invalidDoesNotLeak() {
        let secret = "topsecretpw"
        do {
            _ = try AMQPConfiguration(url: "amqp://u:\(secret)@h/?heartbeat=-1")
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains(secret))
        }
    }
}

@Suite("AMQPConfiguration: several nodes of one cluster")
struct AMQPClusterURLTests {
    @Test("comma-separated URLs: the first gives credentials, vhost and options; the others their host and port")
    func nodes() throws {
        let c = try AMQPConfiguration(url: "amqp://alice:s3cret@rabbit-1:5672/semble?heartbeat=10,amqp://rabbit-2:5673,amqp://alice:s3cret@rabbit-3")
        #expect(c.nodes.map(\.description) == ["rabbit-1:5672", "rabbit-2:5673", "rabbit-3:5672"])
        #expect((c.host, c.port, c.user, c.password, c.vhost, c.heartbeat) == ("rabbit-1", 5672, "alice", "s3cret", "semble", 10))
        #expect(c.redactedURL == "amqp://alice:***@rabbit-1:5672/semble (cluster: rabbit-1:5672, rabbit-2:5673, rabbit-3:5672)")
        #expect(!"\(c)".contains("s3cret"))
    }

    @Test("one URL is one node, and a comma in a password is part of the password")
    func single() throws {
        let c = try AMQPConfiguration(url: "amqp://alice:pa,ss@rabbit-1/semble")
        #expect(c.nodes == [.init(host: "rabbit-1", port: 5672)])
        #expect(c.password == "pa,ss")
        #expect(c.redactedURL == "amqp://alice:***@rabbit-1:5672/semble")
    }

    @Test(
        "a further node may not change the scheme, the user info or the vhost",
        arguments: [
            "amqp://a:b@h1/v,amqps://h2", "amqp://a:b@h1/v,amqp://c:d@h2", "amqp://a:b@h1/v,amqp://h2/other", "amqp://a:b@h1/v,amqp://h2:99999",
        ])
    func mismatch(url: String) {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: url) }
        do {
            _ = try AMQPConfiguration(url: url)
        } catch {
            #expect(!"\(error)".contains(":b@"), "no password in \(error)")
        }
    }

    @Test("the connection order starts at the given node and wraps round")
    func order() throws {
        let c = try AMQPConfiguration(url: "amqp://h1,amqp://h2,amqp://h3")
        #expect(c.connectionOrder(start: 1).map(\.host) == ["h2", "h3", "h1"])
        #expect(c.connectionOrder(start: 0).map(\.host) == ["h1", "h2", "h3"])
        #expect(c.connectionOrder(start: 2).allSatisfy { $0.nodes.count == 3 })
    }
}
