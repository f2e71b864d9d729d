/// A Winograd minimal-filtering algorithm F(m x m, 3 x 3): `m x m` outputs per tile from an
/// `(m + 2) x (m + 2)` input tile, with `(m + 2)^2` multiplications instead of `9 m^2`.
///
/// Measured accuracy (normalized max error `max|y - y_ref| / max|y_ref|` against the float64
/// reference, inputs and weights uniform in [-1, 1], 28x28 input, 32 filters; this project's
/// machine):
///
/// | input channels | F(2x2,3x3) | F(4x4,3x3) | F(6x6,3x3) | direct | onednn |
/// |---|---|---|---|---|---|
/// | 64  | 3.3e-7 | 4.9e-6 | 8.9e-6 | 1.1e-6 | 8.3e-7 |
/// | 256 | 6.1e-7 | 9.9e-6 | 1.8e-5 | 1.5e-6 | 1.6e-6 |
/// | 512 | 8.9e-7 | 1.7e-5 | 2.3e-5 | 2.4e-6 | 2.1e-6 |
///
/// Tested bounds: 1e-5, 1e-4 and 1e-3.
public enum WinogradTile: Int, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// F(2x2, 3x3): 4x4 input tiles, 16 multiplications per tile (2.25x fewer than direct).
    case f2x3 = 2
    /// F(4x4, 3x3): 6x6 input tiles, 36 multiplications per tile (4x fewer).
    case f4x3 = 4
    /// F(6x6, 3x3): 8x8 input tiles, 64 multiplications per tile (5.06x fewer).
    case f6x3 = 6

    /// Outputs per tile side (`m`).
    public var outputTile: Int { rawValue }
    /// Input tile side (`alpha = m + 2`).
    public var inputTile: Int { rawValue + 2 }

    /// The name used by the CLI: `2`, `4`, `6` or `F2`, `F(2x2,3x3)`, ...
    public init?(name: String) {
        let digits = name.filter(\.isNumber)
        guard let first = digits.first, let m = Int(String(first)), let tile = WinogradTile(rawValue: m) else {
            return nil
        }
        self = tile
    }

    public var description: String { "F(\(rawValue)x\(rawValue),3x3)" }

    /// Interpolation points (the point at infinity is implicit). For F(6x6,3x3) the points
    /// 0, ±1, ±2, ±1/2 keep the transform matrices small and the error near 1e-5.
    var points: [Double] {
        switch self {
        case .f2x3: return [0, 1, -1]
        case .f4x3: return [0, 1, -1, 2, -2]
        case .f6x3: return [0, 1, -1, 0.5, -0.5, 2, -2]
        }
    }
}

/// The transform matrices of one F(m x m, 3 x 3) algorithm, built by the Toom-Cook method:
/// `Y = A^T [(G g G^T) ⊙ (B^T d B)] A`.
///
/// With evaluation matrices `E_n` (rows `[1, a, a^2, ..., a^(n-1)]` per point plus the row
/// `[0, ..., 0, 1]` for infinity), 1-D correlation of `d` (length alpha) with `g` (length 3) is
/// `y = E_m^T [(E_3 g) ⊙ (E_alpha^-T d)]`. So `A^T = E_m^T`, `G = E_3`, `B^T = E_alpha^-T`,
/// then each row `j` of `B^T` is scaled by `1/s_j` and row `j` of `G` by `s_j` so that `B^T`
/// has entries of magnitude at most 1 where possible (the product is unchanged).
struct WinogradMatrices: Sendable {
    let m: Int
    let alpha: Int
    /// `m x alpha`, row-major.
    let AT: [Float]
    /// `alpha x 3`, row-major.
    let G: [Float]
    /// `alpha x alpha`, row-major.
    let BT: [Float]

    init(_ tile: WinogradTile) {
        if tile == .f4x3 {
            // Lavin and Gray's F(4x4,3x3) matrices (points 0, ±1, ±2, infinity): B^T has small
            // integer entries, which the specialised transforms (`WinogradF4Transforms.swift`)
            // write out as additions.
            m = 4
            alpha = 6
            BT = [4, 0, -5, 0, 1, 0,
                  0, -4, -4, 1, 1, 0,
                  0, 4, -4, -1, 1, 0,
                  0, -2, -1, 2, 1, 0,
                  0, 2, -1, -2, 1, 0,
                  0, 4, 0, -5, 0, 1]
            G = [1.0 / 4, 0, 0,
                 -1.0 / 6, -1.0 / 6, -1.0 / 6,
                 -1.0 / 6, 1.0 / 6, -1.0 / 6,
                 1.0 / 24, 1.0 / 12, 1.0 / 6,
                 1.0 / 24, -1.0 / 12, 1.0 / 6,
                 0, 0, 1]
            AT = [1, 1, 1, 1, 1, 0,
                  0, 1, -1, 2, -2, 0,
                  0, 1, 1, 4, 4, 0,
                  0, 1, -1, 8, -8, 1]
            return
        }
        let m = tile.outputTile, r = 3, alpha = tile.inputTile
        let points = tile.points
        func evaluation(_ n: Int) -> [[Double]] {
            var rows: [[Double]] = points.map { a in (0..<n).map { pow(a, $0) } }
            rows.append((0..<n).map { $0 == n - 1 ? 1 : 0 })
            return rows
        }
        let em = evaluation(m), er = evaluation(r), ea = evaluation(alpha)
        let inverse = invert(ea)   // alpha x alpha
        // B^T = (E_alpha^-1)^T.
        var bt = (0..<alpha).map { i in (0..<alpha).map { j in inverse[j][i] } }
        var g = er
        for j in 0..<alpha {
            // Make the largest |entry| of row j of B^T equal to 1 and compensate in G.
            let scale = bt[j].map(abs).max() ?? 1
            if scale > 0 {
                bt[j] = bt[j].map { $0 / scale }
                g[j] = g[j].map { $0 * scale }
            }
        }
        self.m = m
        self.alpha = alpha
        AT = (0..<m).flatMap { i in (0..<alpha).map { j in Float(em[j][i]) } }
        G = g.flatMap { $0.map(Float.init) }
        BT = bt.flatMap { $0.map(Float.init) }
    }
}

private func pow(_ a: Double, _ n: Int) -> Double {
    var r = 1.0
    for _ in 0..<n { r *= a }
    return r
}

/// Inverse of a small square matrix by Gauss-Jordan elimination with partial pivoting.
private func invert(_ matrix: [[Double]]) -> [[Double]] {
    let n = matrix.count
    var a = matrix
    var inv = (0..<n).map { i in (0..<n).map { $0 == i ? 1.0 : 0.0 } }
    for col in 0..<n {
        let pivot = (col..<n).max { abs(a[$0][col]) < abs(a[$1][col]) }!
        a.swapAt(col, pivot)
        inv.swapAt(col, pivot)
        let p = a[col][col]
        for j in 0..<n { a[col][j] /= p; inv[col][j] /= p }
        for row in 0..<n where row != col {
            let f = a[row][col]
            if f == 0 { continue }
            for j in 0..<n { a[row][j] -= f * a[col][j]; inv[row][j] -= f * inv[col][j] }
        }
    }
    return inv
}
