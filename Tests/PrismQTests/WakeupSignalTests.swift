import PrismQ
import Testing

@Suite("Wake-up signal", .timeLimit(.minutes(5)))
struct WakeupSignalTests {
    @Test func aNotificationWithNobodyWaitingIsKeptForTheNextWait() async {
        let signal = WakeupSignal()
        signal.notify()
        #expect(await signal.wait(timeout: .seconds(30)))
        #expect(await signal.wait(timeout: .milliseconds(20)) == false, "it is consumed once")
    }

    @Test func everyWaiterWakes() async {
        let signal = WakeupSignal()
        async let first = signal.wait(timeout: .seconds(30))
        async let second = signal.wait(timeout: .seconds(30))
        // Notify until both have returned: a notification before they wait is kept for one of them.
        let notifier = Task {
            while !Task.isCancelled {
                signal.notify()
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        let results = await [first, second]
        notifier.cancel()
        #expect(results == [true, true])
    }

    @Test func aCancelledWaitReturnsFalse() async {
        let signal = WakeupSignal()
        let waiting = Task { await signal.wait(timeout: .seconds(30)) }
        waiting.cancel()
        #expect(await waiting.value == false)
    }
}
