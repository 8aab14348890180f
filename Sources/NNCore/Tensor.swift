// NNCore: a small manual-backprop neural-network core (llm.c style) on OpenBLAS.
//
// Conventions
// - `Tensor<Scalar>`: a shape and a flat row-major array; images are NCHW, token sequences [B, T, C].
// - Every op is a `Layer` class: `callAsFunction` runs forward and caches what backward needs (one use per
//   forward pass); `backward(dy, inputGrad: &dx)` ACCUMULATES (+=) into `dx` and into `Parameter.grad`.
//   Losses are free functions pairs `xLoss(...)` / `xLossBackward(..., predictionGrad: &g)`, also accumulating.
// - Everything is generic over `NNScalar` (Float for work, Double for the finite-difference gradient checker,
//   which therefore runs the real backward code). Hot paths carry `@_specialize(where Scalar == Float)` so
//   callers in other modules get specialised code.
// - Matrix products go through `NNScalar.gemm` (OpenBLAS sgemm/dgemm); convolutions are im2col + GEMM.
//   Batch (or batch × head) loops and GEMMs run on `nnThreadCount` workers; OpenBLAS itself stays single-threaded.
// - Parameters are named (timm/PyTorch names where a counterpart exists); checkpoints are safetensors.

import Foundation
import _COpenBLAS

/// The element types the NN core runs in: `Float` for real work, `Double` for the
/// finite-difference gradient checker (which runs the very same forward/backward code).
public protocol NNScalar: BinaryFloatingPoint, Codable, Sendable where Self.RawSignificand: FixedWidthInteger {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    /// Row-major GEMM with explicit leading dimensions:
    /// `C[M, N] = alpha · op(A) · op(B) + beta · C`; A is [M, K] (or [K, M] when transposed), B is [K, N] (or [N, K]).
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     _ a: UnsafePointer<Self>, lda: Int, _ b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, _ c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: NNScalar {
    @inlinable public static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    @inlinable public static func log(_ x: Float) -> Float { Foundation.log(x) }
    @inlinable public static func erf(_ x: Float) -> Float { Foundation.erf(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
    @inlinable public static func cos(_ x: Float) -> Float { Foundation.cos(x) }
    @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
    /// Split over the workers (`forEachGemmPiece`), each piece one single-threaded `cblas_sgemm`.
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        forEachGemmPiece(m: m, n: n, k: k) { i0, rows, j0, columns in
            // Row i of op(A) is A's row i, or A's column i when transposed; column j of op(B) likewise.
            let aPiece = a + (transposeA ? i0 : i0 * lda), bPiece = b + (transposeB ? j0 * ldb : j0)
            cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                        Int32(rows), Int32(columns), Int32(k), alpha, aPiece, Int32(lda), bPiece, Int32(ldb), beta,
                        c + i0 * ldc + j0, Int32(ldc))
        }
    }
}

extension Double: NNScalar {
    @inlinable public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inlinable public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inlinable public static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    @inlinable public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inlinable public static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    @inlinable public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                                       _ a: UnsafePointer<Double>, lda: Int, _ b: UnsafePointer<Double>, ldb: Int,
                                       beta: Double, _ c: UnsafeMutablePointer<Double>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }   // as for Float: no OpenBLAS helper threads
        cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// A dense, row-major tensor (NCHW for images, [..., features] for tokens). Just a shape and a flat array.
public struct Tensor<Scalar: NNScalar>: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Scalar]

    /// A tensor of zeros. (Inlinable so that other modules get a specialised fill, not a per-element generic copy.)
    /// One memset (0.0 is all-zero bits in IEEE formats; `zeroFill` slices large ones over the workers):
    /// `[Scalar](repeating: 0, …)` in an unspecialised context copies element by element through the value witness.
    @inlinable
    public init(zeros shape: [Int]) {
        self.shape = shape
        let count = shape.reduce(1, *)
        data = [Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                adviseHugePages(buffer.baseAddress!, bytes: count * MemoryLayout<Scalar>.stride)
                zeroFill(UnsafeMutableRawPointer(buffer.baseAddress!), bytes: count * MemoryLayout<Scalar>.stride)
            }
            initialized = count
        }
    }

    /// A tensor whose storage the caller overwrites completely before reading it (skips zero-filling).
    @inlinable
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        let count = shape.reduce(1, *)
        data = [Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { adviseHugePages(buffer.baseAddress!, bytes: count * MemoryLayout<Scalar>.stride) }
            initialized = count
        }
    }

    public init(shape: [Int], data: [Scalar]) {
        precondition(shape.reduce(1, *) == data.count, "Tensor: shape \(shape) needs \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    @inlinable
    public init(shape: [Int], repeating value: Scalar) {
        self.shape = shape
        data = [Scalar](repeating: value, count: shape.reduce(1, *))
    }

    /// Number of elements.
    @inlinable public var count: Int { data.count }
    @inlinable public var rank: Int { shape.count }

    /// The same values under a new shape (element count must match).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Converts element type (e.g. Float fixtures to Double for checks).
    public func converted<Other: NNScalar>(to: Other.Type = Other.self) -> Tensor<Other> {
        Tensor<Other>(shape: shape, data: data.map { Other($0) })
    }

    /// Sets every element to zero, keeping the storage.
    @_specialize(where Scalar == Float)
    public mutating func zero() {
        data.withUnsafeMutableBufferPointer { p in
            if let base = p.baseAddress { zeroFill(UnsafeMutableRawPointer(base), bytes: p.count * MemoryLayout<Scalar>.stride) }
        }
    }

    /// `self += other` elementwise (shapes must have the same element count).
    @_specialize(where Scalar == Float)
    public mutating func add(_ other: Tensor) {
        precondition(other.count == count, "Tensor.add: \(shape) vs \(other.shape)")
        data.withUnsafeMutableBufferPointer { d in
            other.data.withUnsafeBufferPointer { o in
                for i in d.indices { d[i] += o[i] }
            }
        }
    }

    /// Sum of all elements (accumulated in Double).
    public func sum() -> Double {
        var s = 0.0
        for v in data { s += Double(v) }
        return s
    }
}

/// Fills a tensor-shaped array with standard normals from any seeded generator (tests, dropout-free toys).
public func randomNormalTensor<Scalar: NNScalar, G: RandomNumberGenerator>(_ shape: [Int], scale: Double = 1,
                                                                          using rng: inout G) -> Tensor<Scalar> {
    let count = shape.reduce(1, *)
    var values = [Double](repeating: 0, count: count)   // [count] drawn in Double, converted once
    for i in 0..<count { values[i] = standardNormal(using: &rng) * scale }
    return Tensor(shape: shape, data: convertedScalars(values))
}

/// A standard normal draw by Box–Muller (Double precision) from any generator. u1, u2 are the values of
/// `Double.random(in: 0..<1, using:)` (bit for bit, see `unitIntervalDraw`), u1 floored at 1e-300.
public func standardNormal<G: RandomNumberGenerator>(using rng: inout G) -> Double {
    let u1 = max(unitIntervalDraw(using: &rng), 1e-300)
    let u2 = unitIntervalDraw(using: &rng)
    return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
}

/// A trainable tensor with its gradient buffer. Backward passes *accumulate* into `grad`;
/// call `zeroGrad()` between steps. `name` is the key used in checkpoints and error messages.
public final class Parameter<Scalar: NNScalar> {
    public var name: String
    public var value: Tensor<Scalar>   // any shape
    public var grad: Tensor<Scalar>    // same shape as value

    public init(_ name: String, _ value: Tensor<Scalar>) {
        self.name = name
        self.value = value
        self.grad = Tensor(zeros: value.shape)
    }

    public func zeroGrad() { grad.zero() }
}

/// A layer: `callAsFunction` runs forward and caches what backward needs (so one instance serves one
/// use per forward pass); `backward` accumulates parameter gradients into `Parameter.grad` and the input
/// gradient into `inputGrad` (+=), which must have the input's shape.
public protocol Layer<Scalar>: AnyObject {
    associatedtype Scalar: NNScalar
    func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar>
    func backward(_ outputGrad: Tensor<Scalar>, inputGrad: inout Tensor<Scalar>)
    /// Trainable parameters, in a fixed order (names unique within the layer).
    var parameters: [Parameter<Scalar>] { get }
}

extension Layer {
    public var parameters: [Parameter<Scalar>] { [] }

    /// Backward into a fresh zero input-gradient of the given shape.
    public func backward(_ outputGrad: Tensor<Scalar>, inputShape: [Int]) -> Tensor<Scalar> {
        var g = Tensor<Scalar>(zeros: inputShape)
        backward(outputGrad, inputGrad: &g)
        return g
    }
}

import Dispatch

/// Asks the kernel to back the whole 2 MB pages inside a large buffer with huge pages (transparent huge pages in
/// `madvise` mode, Debian's default, only serve regions that ask). GEMM packing and the attention kernel walk several
/// megabytes with row strides; with 4 KB pages that costs TLB misses: OpenBLAS sgemm on huge-page operands measured
/// 1.3–3 % faster (1024³, 1297 × 384 × 1536, 1297 × 1536 × 384; 1 and 2 threads; 41 alternating rounds). Buffers
/// under 4 MB are left alone. Best effort: if the kernel refuses (THP disabled), nothing changes.
@usableFromInline func adviseHugePages(_ base: UnsafeMutableRawPointer, bytes: Int) {
    let page = 2 << 20
    guard bytes >= 2 * page else { return }
    let start = (Int(bitPattern: base) + page - 1) & ~(page - 1), end = (Int(bitPattern: base) + bytes) & ~(page - 1)
    if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE) }
}

/// Makes glibc keep freed memory for reuse instead of returning it to the kernel: large blocks come from the heap
/// (below 32 MB, glibc's ceiling for this setting) and the heap top is not trimmed. A training step allocates and
/// frees the same multi-megabyte activations every step; served by fresh mmaps, every page is faulted in and zeroed
/// again (≈ 10 % of a head step on this VM). Process-wide; call once before training or benchmarking.
public func keepFreedMemoryForReuse() {
    _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
    _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
}

/// Worker threads the layers use (`WorkerPool`: batch × head loops, elementwise slices, and GEMMs split into pieces
/// that each run single-threaded OpenBLAS, `forEachGemmPiece`); 1 runs everything on the calling thread. Results are
/// reproducible for a given value; between values they differ only by float rounding (GEMM pieces round like separate
/// products, and per-worker weight-gradient partial sums are added in another order).
nonisolated(unsafe) public var nnThreadCount: Int = ProcessInfo.processInfo.activeProcessorCount

/// Splits 0..<count into at most `nnThreadCount` contiguous chunks and runs `body(worker, chunk)` on each,
/// concurrently when there is more than one. Chunks are the same for the same count and thread setting.
/// With `parallel: false` (too little work to pay for a dispatch) the whole range runs on the calling thread.
/// `chunksPerThread` > 1 cuts finer chunks (callers that keep nothing per chunk index): the threads claim them one by
/// one, so a worker that starts late (woken from parking, or its vCPU taken by the host) takes fewer and the caller
/// does not wait for it at the end.
func parallelChunks(_ count: Int, parallel: Bool = true, chunksPerThread: Int = 1, _ body: (Int, Range<Int>) -> Void) {
    let workers = parallel ? (nnThreadCount > 1 ? min(count, nnThreadCount * chunksPerThread) : 1) : 1
    if workers <= 1 { body(0, 0..<count); return }
    WorkerPool.shared.run(chunks: workers, threads: nnThreadCount) { w in
        let lo = count * w / workers, hi = count * (w + 1) / workers
        body(w, lo..<hi)
    }
}

/// Elementwise work over 0..<count in contiguous slices (multiples of 64 elements, at least 32K per worker so the
/// dispatch pays), one per worker. Results never depend on the split (each element is computed on its own).
func parallelSlices(_ count: Int, _ body: (Range<Int>) -> Void) {
    let slices = min(nnThreadCount, count >> 15)
    if slices <= 1 { body(0..<count); return }
    parallelChunks(slices) { _, range in
        for s in range {
            let lo = (count * s / slices) & ~63, hi = s == slices - 1 ? count : (count * (s + 1) / slices) & ~63
            body(lo..<hi)
        }
    }
}

/// memset(p, 0, bytes), in slices on the workers for large buffers (gradient buffers of a few MB are zeroed on every
/// backward; one core's memset leaves the other idle).
@usableFromInline
func zeroFill(_ p: UnsafeMutableRawPointer, bytes: Int) {
    parallelSlices(bytes >> 2) { words in
        let end = words.upperBound == bytes >> 2 ? bytes : 4 * words.upperBound
        memset(p + 4 * words.lowerBound, 0, end - 4 * words.lowerBound)
    }
}

/// How many workers `parallelChunks(count)` uses.
func workerCount(_ count: Int) -> Int { max(1, min(nnThreadCount, count)) }

/// Layers applied in order: `y = f_n(…f_2(f_1(x)))`; backward runs them in reverse, each into a fresh
/// gradient of its input's shape, the last into the caller's `inputGrad` (accumulated).
/// Parameters are the layers' parameters in order.
public final class Sequential<Scalar: NNScalar>: Layer {
    public let layers: [any Layer<Scalar>]
    private var shapes: [[Int]] = []   // input shape of each layer, from the last forward

    public init(_ layers: [any Layer<Scalar>]) { self.layers = layers }

    public var parameters: [Parameter<Scalar>] { layers.flatMap { $0.parameters } }

    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        shapes = []
        var h = x
        for layer in layers {
            shapes.append(h.shape)
            h = layer(h)
        }
        return h
    }

    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        precondition(shapes.count == layers.count, "Sequential.backward before forward")
        var g = dy
        for i in stride(from: layers.count - 1, to: 0, by: -1) {
            g = layers[i].backward(g, inputShape: shapes[i])
        }
        if let first = layers.first { first.backward(g, inputGrad: &dx) } else { dx.add(g) }
    }
}
