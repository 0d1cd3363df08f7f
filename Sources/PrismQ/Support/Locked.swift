import Synchronization

#if PRISMQ_TSAN
    #if canImport(Glibc)
        import Glibc
    #elseif canImport(Darwin)
        import Darwin
    #endif

    /// A value behind a lock. In a ThreadSanitizer build (`-DPRISMQ_TSAN`, see `scripts/tsan`)
    /// it is a pthread mutex, whose lock and unlock TSan sees; `Synchronization.Mutex` waits
    /// on a futex TSan cannot see, so every access it guards would be reported as a race.
    package final class Locked<Value>: @unchecked Sendable {
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private var value: Value

        /// A lock around `value`.
        package init(_ value: Value) {
            self.value = value
            pthread_mutex_init(mutex, nil)
        }

        deinit {
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
        }

        /// Runs `body` on the value while holding the lock.
        package func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return try body(&value)
        }
    }
#else
    /// A value behind a lock: `Synchronization.Mutex`, except in a ThreadSanitizer build (see
    /// `scripts/tsan`), which uses a pthread mutex that TSan can see.
    package typealias Locked<Value> = Mutex<Value>
#endif
