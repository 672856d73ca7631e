import CLibPQ

/// What one statement produced.
struct StatementResult {
    var rows: [PostgresRow] = []
    /// `PQcmdTuples`: rows inserted, updated, deleted, selected...; 0 when not applicable.
    var affectedRows = 0
    /// `PQcmdStatus`: the command tag, e.g. `INSERT 0 1` or `COMMIT`.
    var commandTag = ""
}

extension PostgresConnection {
    /// Runs one parameterized statement and returns its rows.
    ///
    /// Parameters are sent separately from the SQL (`PQexecParams`), in text format, and are
    /// referred to as `$1`, `$2`...; add casts where the type is not clear from context
    /// (`$1::uuid`, `unnest($1::text[])`).
    /// - Throws: ``PostgresError`` with code ``PostgresError/Code/queryFailed`` (with the server's
    ///   SQLSTATE, detail and hint), ``PostgresError/Code/connectionClosed`` if the session is
    ///   gone, or ``PostgresError/Code/encodingFailed`` for an unsendable parameter.
    public func query(_ sql: String, _ bindings: [any PostgresEncodable] = []) throws -> [PostgresRow] {
        try run(sql, bindings).rows
    }

    /// Runs one parameterized statement and returns the number of rows it affected.
    /// Throws as ``query(_:_:)``.
    @discardableResult
    public func execute(_ sql: String, _ bindings: [any PostgresEncodable] = []) throws -> Int {
        try run(sql, bindings).affectedRows
    }

    /// Runs one parameterized statement as ``query(_:_:)`` does, but prepared once per session
    /// (`PQprepare` the first time this connection sees the SQL text, `PQexecPrepared` after): the
    /// server parses and analyzes it once, and may reuse its plan (`plan_cache_mode`). For
    /// statements a connection runs again and again, with a fixed SQL text.
    ///
    /// A prepared statement outlives the transaction it was prepared in (also a rolled-back
    /// one) and ends with the session. Throws as ``query(_:_:)``.
    public func query(prepared sql: String, _ bindings: [any PostgresEncodable] = []) throws -> [PostgresRow] {
        try runPrepared(sql, bindings).rows
    }

    /// ``execute(_:_:)`` with the statement prepared once per session, as ``query(prepared:_:)``.
    @discardableResult
    public func execute(prepared sql: String, _ bindings: [any PostgresEncodable] = []) throws -> Int {
        try runPrepared(sql, bindings).affectedRows
    }

    /// Runs `sql`, which may hold several statements, without parameters (`PQexec`).
    /// Only for trusted SQL written by the developer, such as migrations.
    @discardableResult
    func executeScript(_ sql: String) throws -> StatementResult {
        let pointer = try livePointer(for: sql)
        return try consume(PQexec(pointer, sql), on: pointer, sql: sql)
    }

    /// Runs `sql`, which may hold several statements, without parameters: DDL the program
    /// itself wrote (schema fixtures, upgrades). Never for text that came from outside.
    public func executeTrustedScript(_ sql: String) throws {
        try executeScript(sql)
    }

    /// Runs one statement with `bindings` as text parameters.
    func run(_ sql: String, _ bindings: [any PostgresEncodable]) throws -> StatementResult {
        let pointer = try livePointer(for: sql)
        let parameters = try encode(bindings, for: sql)
        let result = withCStringArray(parameters) { values in
            PQexecParams(pointer, sql, Int32(values.count), nil, values, nil, nil, 0)
        }
        return try consume(result, on: pointer, sql: sql)
    }

    /// Runs one statement with `bindings` as text parameters, preparing it first if this session
    /// has not yet.
    func runPrepared(_ sql: String, _ bindings: [any PostgresEncodable]) throws -> StatementResult {
        let pointer = try livePointer(for: sql)
        let parameters = try encode(bindings, for: sql)
        let name: String
        if let prepared = preparedStatements[sql] {
            name = prepared
        } else {
            name = "courier_\(preparedStatements.count + 1)"
            _ = try consume(PQprepare(pointer, name, sql, Int32(parameters.count), nil), on: pointer, sql: sql)
            preparedStatements[sql] = name
        }
        let result = withCStringArray(parameters) { values in
            PQexecPrepared(pointer, name, Int32(values.count), values, nil, nil, 0)
        }
        return try consume(result, on: pointer, sql: sql)
    }

    private func encode(_ bindings: [any PostgresEncodable], for sql: String) throws -> [String?] {
        try bindings.enumerated().map { index, binding in
            let text: String?
            do {
                text = try binding.postgresText()
            } catch {
                throw self.error(.encodingFailed, "cannot encode parameter $\(index + 1) (\(type(of: binding))): \(error)", query: sql)
            }
            if let text, text.utf8.contains(0) {
                throw self.error(.encodingFailed, "parameter $\(index + 1) contains a NUL byte, which Postgres text cannot hold", query: sql)
            }
            return text
        }
    }

    /// Copies a result into Swift values and frees it; throws for any failure status.
    private func consume(_ result: OpaquePointer?, on pointer: OpaquePointer, sql: String) throws -> StatementResult {
        defer { deliverNotifications() }
        guard let result else { throw failure(nil, on: pointer, sql: sql) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_TUPLES_OK:
            var statement = StatementResult(
                affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0,
                commandTag: String(cString: PQcmdStatus(result)))
            if status == PGRES_TUPLES_OK { statement.rows = rows(of: result, sql: sql) }
            return statement
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            abandonCopy(on: pointer, status: status)
            throw error(.queryFailed, "COPY is not supported; send the rows as arrays with unnest($1::text[])", query: sql)
        default:
            throw failure(result, on: pointer, sql: sql)
        }
    }

    private func rows(of result: OpaquePointer, sql: String) -> [PostgresRow] {
        let columnCount = PQnfields(result)
        let columns = (0..<columnCount).map { column in
            PostgresColumn(
                name: String(cString: PQfname(result, column)),
                dataType: PostgresDataType(rawValue: PQftype(result, column)))
        }
        let layout = PostgresRow.Layout(columns: columns, query: sql)
        return (0..<PQntuples(result)).map { row in
            PostgresRow(
                layout: layout,
                values: (0..<columnCount).map { column in
                    PQgetisnull(result, row, column) != 0 ? nil : String(cString: PQgetvalue(result, row, column))
                })
        }
    }

    /// The error for a failed statement: ``PostgresError/Code/connectionClosed`` when the session
    /// is gone, ``PostgresError/Code/queryFailed`` with the server's diagnostics otherwise.
    private func failure(_ result: OpaquePointer?, on pointer: OpaquePointer, sql: String) -> PostgresError {
        let broken = PQstatus(pointer) == CONNECTION_BAD
        if broken { connectionBroke() }
        let code: PostgresError.Code = broken ? .connectionClosed : .queryFailed
        guard let result, let message = resultField(result, .primaryMessage) else {
            return error(code, connectionErrorMessage(pointer), query: sql)
        }
        let failure = error(
            code, message, sqlState: resultField(result, .sqlState), detail: resultField(result, .detail),
            hint: resultField(result, .hint), query: sql)
        logger.debug("statement failed", metadata: ["postgres.error": "\(failure)"])
        return failure
    }

    /// Ends a COPY that a statement started, so the connection stays usable.
    private func abandonCopy(on pointer: OpaquePointer, status: ExecStatusType) {
        if status == PGRES_COPY_IN || status == PGRES_COPY_BOTH {
            _ = PQputCopyEnd(pointer, "COPY is not supported by PostgresConnection")
        } else {
            var buffer: UnsafeMutablePointer<CChar>?
            while PQgetCopyData(pointer, &buffer, 0) > 0 { PQfreemem(buffer) }
        }
        while let pending = PQgetResult(pointer) { PQclear(pending) }
    }
}
