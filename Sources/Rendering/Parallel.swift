import Foundation

/// Runs `body(i)` for i in 0..<count on `threads` workers (0 = one per core), each pulling the
/// next index from a shared counter; returns when every index is done.
///
/// The workers are dedicated pthreads (the caller is one of them), not `concurrentPerform`:
/// libdispatch on Linux adds pool threads only while the machine looks idle, so on a loaded
/// machine an image would render on one core. Results never depend on the number of workers
/// (callers key all randomness by index).
public func parallelFor(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    let workers = max(1, min(count, threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount))
    if workers == 1 { for i in 0..<count { body(i) }; return }
    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        func take() -> Int { lock.lock(); defer { lock.unlock() }; let i = next; next += 1; return i }
    }
    let counter = Counter()
    withoutActuallyEscaping(body) { body in
        let work = {
            while true {
                let i = counter.take()
                if i >= count { break }
                body(i)
            }
        }
        // pthreads, joined: every worker has released `work` (and `body`) before this returns.
        final class Worker { let run: () -> Void; init(_ run: @escaping () -> Void) { self.run = run } }
        var handles: [pthread_t] = []
        for _ in 1..<workers {
            var attributes = pthread_attr_t()
            pthread_attr_init(&attributes)
            pthread_attr_setstacksize(&attributes, 8 << 20)
            var handle = pthread_t()
            let context = Unmanaged.passRetained(Worker(work)).toOpaque()
            let status = pthread_create(&handle, &attributes, { context in
                Unmanaged<Worker>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
            pthread_attr_destroy(&attributes)
            if status == 0 { handles.append(handle) } else { Unmanaged<Worker>.fromOpaque(context).release() }
        }
        work()
        for handle in handles { pthread_join(handle, nil) }
    }
}
