import XCTest
import Foundation
import Synchronization
@testable import NNCore

/// The pool behind `parallelChunks`: every chunk of every region runs exactly once, whatever the timing (back-to-back
/// regions, workers parked and woken, nested regions, two callers at once).
final class WorkerPoolTests: XCTestCase {
    /// Chunk hit counts of one region.
    final class Hits: @unchecked Sendable {
        let lock = NSLock()
        var counts: [Int]
        var threads = Set<UInt>()
        init(_ n: Int) { counts = [Int](repeating: 0, count: n) }
        func hit(_ i: Int) { lock.lock(); counts[i] += 1; threads.insert(UInt(pthread_self())); lock.unlock() }
    }

    func testEveryChunkRunsOnceAcrossManyRegions() {
        let pool = WorkerPool()
        var usedWorker = false
        for region in 0..<3000 {
            let n = 1 + region % 7
            let hits = Hits(n)
            pool.run(chunks: n, threads: 3) { i in
                if region % 500 == 0 { usleep(200) }   // slow chunks now and then: workers must take some
                hits.hit(i)
            }
            XCTAssertEqual(hits.counts, [Int](repeating: 1, count: n), "region \(region)")
            if hits.threads.count > 1 { usedWorker = true }
        }
        XCTAssertTrue(usedWorker, "no region ran on a worker thread")
    }

    func testRegionsAfterWorkersParked() {
        let pool = WorkerPool()
        var woken = 0
        for _ in 0..<3 {
            let hits = Hits(8)
            pool.run(chunks: 8, threads: 2) { i in usleep(10_000); hits.hit(i) }
            XCTAssertEqual(hits.counts, [Int](repeating: 1, count: 8))
            if hits.threads.count == 2 { woken += 1 }
            usleep(UInt32(WorkerPool.spinNanoseconds / 1000) * 3)   // let the worker park
        }
        XCTAssertGreaterThan(woken, 0, "a parked worker never woke to take a 10 ms chunk")
    }

    func testNestedRegionRunsInline() {
        let pool = WorkerPool()
        let outer = Hits(2), inner = Hits(2 * 5)
        pool.run(chunks: 2, threads: 2) { i in
            outer.hit(i)
            pool.run(chunks: 5, threads: 2) { j in inner.hit(i * 5 + j) }
        }
        XCTAssertEqual(outer.counts, [1, 1])
        XCTAssertEqual(inner.counts, [Int](repeating: 1, count: 10))
    }

    func testTwoCallersAtOnce() {
        let pool = WorkerPool()
        let hits = (0..<2).map { _ in Hits(6 * 200) }
        DispatchQueue.concurrentPerform(iterations: 2) { caller in
            for region in 0..<200 {
                pool.run(chunks: 6, threads: 2) { i in hits[caller].hit(region * 6 + i) }
            }
        }
        for h in hits { XCTAssertEqual(h.counts, [Int](repeating: 1, count: 6 * 200)) }
    }

    /// parallelChunks hands out the same contiguous chunks with their indices, on the pool.
    func testParallelChunksCoverTheRange() {
        let saved = nnThreadCount
        defer { nnThreadCount = saved }
        nnThreadCount = 2
        let seen = Hits(1000)
        let chunkOf = Hits(2)
        parallelChunks(1000) { w, range in
            chunkOf.hit(w)
            for i in range { seen.hit(i) }
            XCTAssertEqual(range, (1000 * w / 2)..<(1000 * (w + 1) / 2))
        }
        XCTAssertEqual(seen.counts, [Int](repeating: 1, count: 1000))
        XCTAssertEqual(chunkOf.counts, [1, 1])
        // Finer chunks: 2 threads × 4 chunks, each index once, contiguous and covering the range.
        let fine = Hits(1000), fineChunks = Hits(8)
        parallelChunks(1000, chunksPerThread: 4) { w, range in
            fineChunks.hit(w)
            for i in range { fine.hit(i) }
            XCTAssertEqual(range, (1000 * w / 8)..<(1000 * (w + 1) / 8))
        }
        XCTAssertEqual(fine.counts, [Int](repeating: 1, count: 1000))
        XCTAssertEqual(fineChunks.counts, [Int](repeating: 1, count: 8))
    }
}
