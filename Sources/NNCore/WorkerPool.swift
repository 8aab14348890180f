import Foundation
import Synchronization
import _COpenBLAS

/// NNCore's threads, the only ones it computes on: the layers' own loops (`parallelChunks`: batch × head loops,
/// elementwise slices) and GEMM pieces (`forEachGemmPiece`; OpenBLAS is kept at one thread).
///
/// Why not `DispatchQueue.concurrentPerform`: libdispatch on Linux adds pool threads only while the machine looks idle,
/// so on a loaded host a region often ran on one core. And a forward pass is hundreds of regions a few hundred
/// microseconds long: a parked thread's vCPU is given away by the hypervisor, and waking it costs up to milliseconds
/// here, so idle workers keep polling for `spinNanoseconds` before parking on a semaphore. They poll with `sched_yield`
/// (not only PAUSE): on a host with more runnable threads than cores, a yielding poller hands its core over.
///
/// Chunks are claimed dynamically (a slow or descheduled worker does not hold the others up) but each chunk index runs
/// exactly once, so results depend on the chunking only, never on which thread ran what. A region started while
/// another is running (nested, or from a second caller thread) runs all its chunks on its caller.
final class WorkerPool: @unchecked Sendable {
    /// How long an idle worker spins before parking.
    static let spinNanoseconds: UInt64 = 5_000_000

    static let shared = WorkerPool()

    private final class Slot: @unchecked Sendable {
        let parked = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    /// generation << 40 | chunk count << 20 | next unclaimed chunk, of the current region: one word, so a claim can
    /// never pair one region's index or count with another region.
    private let state = Atomic<Int>(0)
    private static func generation(_ s: Int) -> Int { s >> 40 }
    private static func count(_ s: Int) -> Int { (s >> 20) & 0xF_FFFF }
    private static func next(_ s: Int) -> Int { s & 0xF_FFFF }
    /// Chunks of the current region not finished yet.
    private let remaining = Atomic<Int>(0)
    /// Set while a region runs; a region that cannot take it runs inline.
    private let busy = Atomic<Bool>(false)
    private var slots: [Slot] = []
    // The current region, written before its generation is published and read only by threads holding one of its
    // unfinished chunks (so it cannot change under them).
    private var job: ((Int) -> Void)? = nil

    /// Whether a region is running (a GEMM inside one runs whole on its worker instead of being split again).
    var isBusy: Bool { busy.load(ordering: .relaxed) }

    /// Runs `body(chunk)` for chunk in 0..<chunks on up to `threads` threads (the caller included); returns when all
    /// are done.
    func run(chunks: Int, threads: Int, _ body: (Int) -> Void) {
        if chunks <= 1 || threads <= 1 || chunks > 0xF_FFFF || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            for i in 0..<chunks { body(i) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        ensureWorkers(threads - 1)
        withoutActuallyEscaping(body) { body in
            job = body
            remaining.store(chunks, ordering: .relaxed)
            let generation = (Self.generation(state.load(ordering: .relaxed)) + 1) & 0xFF_FFFF
            state.store(generation << 40 | chunks << 20, ordering: .releasing)   // publishes job and remaining
            for slot in slots where slot.parked.exchange(false, ordering: .sequentiallyConsistent) { slot.wake.signal() }
            runChunks(generation: generation)
            // Wait for chunks other threads still run: PAUSE, and a yield now and then in case one of them waits for
            // this core (more threads than cores).
            var spins = 0
            while remaining.load(ordering: .acquiring) > 0 {
                headlab_pause()
                spins += 1
                if spins & 63 == 0 { sched_yield() }
            }
            job = nil
        }
    }

    /// Claims and runs chunks of region `generation` until none are left (or a newer region has started).
    private func runChunks(generation: Int) {
        var current = state.load(ordering: .acquiring)
        while Self.generation(current) == generation && Self.next(current) < Self.count(current) {
            let (claimed, original) = state.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if !claimed { current = original; continue }
            job!(Self.next(current))
            remaining.wrappingSubtract(1, ordering: .releasing)
            current = state.load(ordering: .acquiring)
        }
    }

    private func ensureWorkers(_ count: Int) {
        // Only the thread holding `busy` gets here, so `slots` needs no lock of its own.
        while slots.count < count {
            let slot = Slot()
            slots.append(slot)
            let context = Unmanaged.passRetained(WorkerContext(pool: self, slot: slot)).toOpaque()
            var handle = pthread_t()
            var attributes = pthread_attr_t()
            pthread_attr_init(&attributes)
            pthread_attr_setstacksize(&attributes, 8 << 20)
            let status = pthread_create(&handle, &attributes, { context in
                let c = Unmanaged<WorkerContext>.fromOpaque(context!).takeRetainedValue()
                c.pool.workerLoop(c.slot)
            }, context)
            pthread_attr_destroy(&attributes)
            if status == 0 { pthread_detach(handle) } else { Unmanaged<WorkerContext>.fromOpaque(context).release(); slots.removeLast(); return }
        }
    }

    private final class WorkerContext { let pool: WorkerPool, slot: Slot; init(pool: WorkerPool, slot: Slot) { self.pool = pool; self.slot = slot } }

    private func workerLoop(_ slot: Slot) -> Never {
        var seen = Self.generation(state.load(ordering: .acquiring))
        while true {
            var generation = Self.generation(state.load(ordering: .acquiring))
            var spinStart = DispatchTime.now().uptimeNanoseconds, spins = 0
            while generation == seen {
                sched_yield()
                spins += 1
                if spins & 15 == 0 && DispatchTime.now().uptimeNanoseconds - spinStart > Self.spinNanoseconds {
                    // Park: announce it, then re-check, so a region published in between is not missed.
                    slot.parked.store(true, ordering: .sequentiallyConsistent)
                    if Self.generation(state.load(ordering: .sequentiallyConsistent)) == seen
                        || !slot.parked.exchange(false, ordering: .sequentiallyConsistent) {
                        slot.wake.wait()   // the dispatcher took the flag: its signal is (or will be) there
                    }
                    spinStart = DispatchTime.now().uptimeNanoseconds
                }
                generation = Self.generation(state.load(ordering: .acquiring))
            }
            seen = generation
            runChunks(generation: generation)
        }
    }
}
