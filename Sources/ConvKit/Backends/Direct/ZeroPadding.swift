/// Copies one `height x width` plane into a `paddedHeight x paddedWidth` plane whose element
/// `(top + y, left + x)` is input `(y, x)`, with zeros everywhere else. Input rows and columns
/// that fall outside the padded plane are dropped (a padded plane may be cut short where no
/// output reads it). Used by the backends that read their input through a zero-padded copy.
@inline(__always)
func copyZeroPadded(_ src: UnsafePointer<Float>, height: Int, width: Int, into dst: UnsafeMutablePointer<Float>,
                    paddedHeight: Int, paddedWidth: Int, top: Int, left: Int) {
    let Wp = paddedWidth
    let copy = Swift.max(Swift.min(width, Wp - left), 0)
    let leftZeros = Swift.min(left, Wp)
    for row in 0..<paddedHeight {
        let out = dst + row * Wp
        let iy = row - top
        if iy < 0 || iy >= height {
            out.update(repeating: 0, count: Wp)
            continue
        }
        out.update(repeating: 0, count: leftZeros)
        (out + left).update(from: src + iy * width, count: copy)
        if left + copy < Wp { (out + left + copy).update(repeating: 0, count: Wp - left - copy) }
    }
}
