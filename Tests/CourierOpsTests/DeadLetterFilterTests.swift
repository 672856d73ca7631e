import CourierAMQP
import CourierEngine
import Foundation
import Testing

@testable import CourierOps

@Suite("Dead-letter filter")
struct DeadLetterFilterTests {
    @Test("an empty filter selects nothing unless --all")
    func empty() {
        #expect(DeadLetterFilter().selectsNothing)
        #expect(!DeadLetterFilter(all: true).selectsNothing)
    }
}
