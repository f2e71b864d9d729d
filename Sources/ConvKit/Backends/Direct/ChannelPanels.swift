/// Packing and task-splitting shared by the `direct` backend's kernels that block output
/// channels into panels (the pointwise GEMMs and the indirect kernel).
enum ChannelPanels {
    /// 1x1 weights `[K][C/g]` packed as `[group][panel][C/g][width]`: panel `p` of group `g`
    /// holds output channels `p * width ..< (p + 1) * width` of the group, one row of `width`
    /// values per input channel, zero columns past `K/g`.
    /// - Throws: ``ConvError/sizeOverflow(what:limit:)`` when the packed size overflows.
    static func packPointwiseWeights(_ weights: UnsafeBufferPointer<Float>, groups: Int, kPerGroup: Int,
                                     cPerGroup: Int, width: Int) throws -> AlignedBuffer {
        let panels = (kPerGroup + width - 1) / width
        let panelFloats = try checkedMul(cPerGroup, width, "packed weights")
        let packed = AlignedBuffer(count: try checkedMul(try checkedMul(groups, panels, "packed weights"),
                                                         panelFloats, "packed weights"))
        for g in 0..<groups {
            for k in 0..<kPerGroup {
                let panel = packed.base + (g * panels + k / width) * panelFloats + k % width
                let src = weights.baseAddress! + (g * kPerGroup + k) * cPerGroup
                for c in 0..<cPerGroup { panel[c * width] = src[c] }
            }
        }
        return packed
    }

    /// The bias per group, zero-extended to whole panels: `[group][panels * width]` (zeros
    /// without a bias).
    static func packBias(_ bias: UnsafeBufferPointer<Float>?, hasBias: Bool, groups: Int, kPerGroup: Int,
                         width: Int) -> AlignedBuffer {
        let panels = (kPerGroup + width - 1) / width
        let packed = AlignedBuffer(count: groups * panels * width)
        if let bias, hasBias {
            for g in 0..<groups {
                (packed.base + g * panels * width).update(from: bias.baseAddress! + g * kPerGroup, count: kPerGroup)
            }
        }
        return packed
    }

    /// The units a task split cuts the channel panels into: single panels, or pairs of panels
    /// (the last one may be single) when the kernel runs two panels per pass (AVX-512F).
    static func panelUnits(panels: Int, pairs: Bool) -> Int { pairs ? (panels + 1) / 2 : panels }

    /// Panels of block `block` of `blocks` (the blocks cut `panelUnits(panels:pairs:)` units
    /// evenly; a block is never empty when `blocks` is at most the number of units).
    static func panelRange(block: Int, of blocks: Int, panels: Int, pairs: Bool) -> Range<Int> {
        let units = panelUnits(panels: panels, pairs: pairs), width = pairs ? 2 : 1
        return Swift.min(panels, width * (units * block / blocks))..<Swift.min(panels, width * (units * (block + 1) / blocks))
    }

    /// Cuts `pieces` (images times groups, each in `chunks` pixel chunks of at most `tiles`
    /// tiles, times `panelBlocks` blocks of at most `panels` channel panels) finer until there are
    /// at least 4 tasks per thread: channel panels first, then pixels.
    static func refine(chunks: Int, panelBlocks: Int, pieces: Int, tiles: Int, panels: Int,
                       threads: Int) -> (chunks: Int, panelBlocks: Int) {
        var chunks = chunks, panelBlocks = panelBlocks
        while threads > 1 && pieces * chunks * panelBlocks < 4 * threads {
            if panelBlocks < panels {
                panelBlocks = Swift.min(panels, 2 * panelBlocks)
            } else if chunks < tiles {
                chunks = Swift.min(tiles, 2 * chunks)
            } else {
                break
            }
        }
        return (chunks, panelBlocks)
    }
}
