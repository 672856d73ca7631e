import Foundation
import Testing

@testable import CourierSupport

@Suite("FNV-1a and civil dates: the arithmetic written into the database")
struct StableArithmeticTests {
    @Test("FNV-1a 64 matches the published test vectors, as 16 hex digits")
    func fnv() {
        #expect(FNV1a.hex64("") == "cbf29ce484222325")
        #expect(FNV1a.hex64("a") == "af63dc4c8601ec8c")
        #expect(FNV1a.hex64("foobar") == "85944171f73967e8")
    }

    @Test("days and dates round-trip, and agree with Foundation's Gregorian calendar")
    func civil() {
        #expect(CivilDate.days(year: 1970, month: 1, day: 1) == 0)
        #expect(CivilDate.days(year: 2000, month: 3, day: 1) == 11_017)
        #expect(CivilDate.days(year: 1969, month: 12, day: 31) == -1)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let days = Int64.random(in: -800_000...3_000_000, using: &rng)
            let (year, month, day) = CivilDate.date(fromDays: days)
            #expect(CivilDate.days(year: year, month: month, day: day) == days)
            let date = Date(timeIntervalSince1970: Double(days) * 86_400)
            let parts = calendar.dateComponents([.year, .month, .day, .era], from: date)
            let foundationYear = parts.era == 0 ? 1 - Int64(parts.year!) : Int64(parts.year!)
            if year > 1582 {  // Foundation's calendar is Julian before the Gregorian reform
                #expect((foundationYear, Int64(parts.month!), Int64(parts.day!)) == (year, month, day), "\(days)")
            }
        }
    }
}
