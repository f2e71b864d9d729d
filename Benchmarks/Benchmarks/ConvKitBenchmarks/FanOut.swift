// The cost of one fan-out: two-task fan-outs of trivial work, each its own
// concurrentPerform call ("fanout calls") or each a phase of one worker-team region
// ("fanout region"), as a model run's nodes are.

import Benchmark
import Dispatch
@_spi(Testing) import ConvKit

func registerFanOutBenchmarks() {
    for parked in [false, true] {
        // Hot: 100 fan-outs back to back. Parked: 10 fan-outs, each after 100 us of busy
        // waiting on the caller (in the measured time: subtract 1000 us), so the workers have
        // gone to sleep before each one, as between the layers of a model.
        let fanOuts = parked ? 10 : 100
        for inRegion in [false, true] {
            let name = "fanout \(inRegion ? "region" : "calls") x\(fanOuts)\(parked ? " parked+1000us" : " hot") t2"
            Benchmark(name, configuration: .init(metrics: [.wallClock], warmupIterations: 3,
                                                 maxDuration: .seconds(1), maxIterations: 1000)) { _ in
                let phases = {
                    for _ in 0..<fanOuts {
                        if parked {
                            let until = DispatchTime.now().uptimeNanoseconds + 100_000
                            while DispatchTime.now().uptimeNanoseconds < until {}
                        }
                        WorkerTeamTesting.parallelFor(tasks: 2, threads: 2) { _, task in
                            blackHole(task &* 3)
                        }
                    }
                }
                if inRegion {
                    try WorkerTeamTesting.region(threads: 2, phases)
                } else {
                    phases()
                }
            }
        }
    }
}
