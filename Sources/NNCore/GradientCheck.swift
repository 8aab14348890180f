/// The worst disagreement between analytic and finite-difference gradients of one variable.
public struct GradientCheckResult: CustomStringConvertible {
    public var name: String
    public var maxRelativeError: Double
    public var index: Int
    public var analytic: Double, numeric: Double

    public var description: String {
        "\(name): max relative error \(maxRelativeError) at \(index) (analytic \(analytic), numeric \(numeric))"
    }
}

/// Finite-difference gradient check in Double, exercising the real backward code.
///
/// For every element x_i of every variable: numeric = (L(x_i + h) − L(x_i − h)) / 2h (central difference,
/// h = 1e-5 by default); analytic = the variable's `grad` after `backward()` (which must zero and then
/// accumulate the gradients of L). Relative error = |a − n| / max(|a|, |n|, floor) with floor = 1e-2,
/// so tiny gradients are compared absolutely. In Double, truncation (~h²·L‴) and rounding (~1e-16·Σ|terms of L|/h)
/// errors are ≲ 1e-9 for the tiny test problems, so a correct backward passes at 1e-6 and a wrong one
/// (a missing term, a transposed index) fails by orders of magnitude.
public func checkGradients(variables: [Parameter<Double>], loss: () -> Double, backward: () -> Void,
                           step h: Double = 1e-5, floor: Double = 1e-2) -> [GradientCheckResult] {
    backward()
    let analytic = variables.map { $0.grad.data }
    var results: [GradientCheckResult] = []
    for (k, v) in variables.enumerated() {
        var worst = GradientCheckResult(name: v.name, maxRelativeError: 0, index: -1, analytic: 0, numeric: 0)
        for i in 0..<v.value.count {
            let saved = v.value.data[i]
            v.value.data[i] = saved + h
            let plus = loss()
            v.value.data[i] = saved - h
            let minus = loss()
            v.value.data[i] = saved
            let numeric = (plus - minus) / (2 * h), a = analytic[k][i]
            let err = abs(a - numeric) / max(abs(a), abs(numeric), floor)
            if err > worst.maxRelativeError || worst.index < 0 {
                worst = GradientCheckResult(name: v.name, maxRelativeError: err, index: i, analytic: a, numeric: numeric)
            }
        }
        results.append(worst)
    }
    return results
}

/// Gradient check of a layer on `input`: L = Σ layer(x) ⊙ upstream with a fixed random `upstream`;
/// checks the input and every parameter. Returns one result per variable (input first).
public func checkLayerGradients<L: Layer>(_ layer: L, input: Tensor<Double>, upstream: Tensor<Double>,
                                          extraParameters: [Parameter<Double>] = []) -> [GradientCheckResult]
where L.Scalar == Double {
    let x = Parameter<Double>("input", input)
    let params = layer.parameters + extraParameters
    func loss() -> Double {
        let y = layer(x.value)
        precondition(y.count == upstream.count, "checkLayerGradients: output \(y.shape) vs upstream \(upstream.shape)")
        var s = 0.0
        for i in 0..<y.count { s += y.data[i] * upstream.data[i] }
        return s
    }
    return checkGradients(variables: [x] + params, loss: loss, backward: {
        x.zeroGrad()
        for p in params { p.zeroGrad() }
        _ = layer(x.value)
        layer.backward(upstream, inputGrad: &x.grad)
    })
}
