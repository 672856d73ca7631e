import ArgumentParser
import CourierHandlers
import CourierPostgres

/// `courier db`: the database steps an operator runs by hand — never courierd on its own.
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Semble's tables for a standalone run.",
        subcommands: [InitSembleCommand.self])
}

/// `courier db init-semble`: for a database without Semble (`make run`, `make test`, a demo).
struct InitSembleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-semble",
        abstract: "Create Semble's tables that are missing, exactly as Semble's migrations leave them (standalone runs only).",
        discussion: """
            Semble's own migrations own these tables in production: run this only against a database without Semble, \
            such as the local one of `make run`. Tables already there are left untouched; all are then checked \
            against what courierd needs.
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let context = try await CommandContext.load(global)
        let connection = try await context.database()
        do {
            let created = try await SembleTables.create(on: connection)
            await connection.close()
            print(created.isEmpty
                ? "Semble's tables were all there already; they have what courierd needs."
                : "created Semble's tables: \(created.joined(separator: ", "))")
        } catch let mismatch as SembleTables.Mismatch {
            await connection.close()
            throw OpsError(.usage, "\(mismatch)")
        } catch {
            await connection.close()
            throw error
        }
    }
}
