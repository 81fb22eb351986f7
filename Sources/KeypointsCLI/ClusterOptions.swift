// Flags for checkpoints, micro-batches and fault handling, shared by `train` and `coordinator`.
import ArgumentParser
import Cluster
import Compute
import Foundation
import Training

struct CheckpointOptions: ParsableArguments {
    @Option(name: .customLong("checkpoint-every"), help: "Also checkpoint every N steps (epoch ends always are).")
    var checkpointEvery: Int = 0
    @Option(help: "How many of the newest checkpoints to keep.")
    var keep: Int = 3
    @Option(help: "Stop after this many steps in all (for trials; a checkpoint is written there).")
    var steps: Int?

    func validate() throws {
        guard keep >= 1 else { throw ValidationError("--keep must be at least 1") }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be 0 or more") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
    }
}

struct MicroBatchOptions: ParsableArguments {
    @Option(name: .customLong("micro-batch"),
            help: "Samples per micro-batch, the unit of work given to a worker; steps are cut the same way whatever the number of workers.")
    var microBatch: Int = 16
    @Option(name: .customLong("wire-precision"),
            help: "How weights and gradients travel to and from workers: f32 (exact), bf16 or fp16 (half the bytes, rounded the same way by every worker; the coordinator keeps f32 weights and reduces in f32).")
    var wirePrecision: WirePrecision = .f32
    @Option(help: "What the backbone's convolutions multiply in: bf16 (oneDNN's bf16 kernels, on CPUs with AVX512-BF16 or AMX; weights, optimizer, reduction and BN statistics stay f32), f32, or auto: bf16 where this machine's CPU has it, else f32 (a resumed run keeps its own). Part of the run: every worker computes in it.")
    var precision: PrecisionChoice = .auto
    @Option(name: .customLong("bucket-mb"),
            help: "MiB of wire frame per bucket of the weights and gradients: workers start their forward on the first weights buckets and send each gradient bucket as soon as backward has computed it, so the transfer overlaps the compute (as PyTorch DDP's bucket_cap_mb). Default: 1 when workers connect over TCP; whole frames for workers on this machine (train --workers, coordinator --bind ipc://), whose transfer is CPU work that would only move into their compute. Changes no result.")
    var bucketMB: Double?

    func validate() throws {
        guard microBatch >= 1 else { throw ValidationError("--micro-batch must be at least 1") }
        if let bucketMB, !(bucketMB > 0 && bucketMB <= 1024) { throw ValidationError("--bucket-mb must be above 0 and at most 1024") }
    }

    /// `--bucket-mb` in bytes (at least 1), or by default 1 MiB for workers on other hosts (`bind`
    /// on TCP) and whole frames for workers on this machine (an ipc:// `bind`). On one machine the
    /// workers' cores are all computing, and moving the coordinator's and the sockets' copying into
    /// their compute made 2 local workers 2-9% slower (docs/SCALING.md); across a network the link
    /// is the wall and the overlap hides it.
    func bucketBytes(bind: String) -> Int {
        if let bucketMB { return max(1, Int(bucketMB * 1_048_576)) }
        return bind.hasPrefix("ipc://") ? ParameterBuckets.whole : ParameterBuckets.defaultBytes
    }

    /// What the run computes in: `--precision`, `auto` resolved (a resumed run's recorded
    /// precision, else bf16 where this CPU has it), or f32 with a warning where `bf16` was asked
    /// for and this CPU cannot multiply in it.
    func resolvedPrecision(recorded: ComputePrecision?) -> ComputePrecision {
        switch precision {
        case .auto:
            if let recorded { return recorded }
            guard Engine.hasBFloat16 else { return .f32 }
            say("bf16 convolutions: this CPU has AVX512-BF16 (oneDNN \(Engine.instructionSet)); --precision f32 computes in f32")
            return .bf16
        case .f32:
            return .f32
        case .bf16:
            guard !Engine.hasBFloat16 else { return .bf16 }
            say("warning: --precision bf16 needs a CPU with AVX512-BF16 or AMX; oneDNN runs \(Engine.instructionSet) kernels "
                + "here, so this run computes in f32 (and records f32)")
            return .f32
        }
    }
}

/// `--precision`: a ``ComputePrecision``, or `auto` (bf16 where the CPU has it).
enum PrecisionChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, f32, bf16
}

extension WirePrecision: ExpressibleByArgument {}
extension ComputePrecision: ExpressibleByArgument {}

struct FaultOptions: ParsableArguments {
    @Option(name: .customLong("step-deadline"), help: "Seconds a worker may hold a micro-batch before it is dropped and the work reassigned.")
    var stepDeadline: Double = 600
    @Option(name: .customLong("heartbeat-interval"), help: "No effect since protocol v5: the coordinator sends no ZeroMQ pings of its own (a libzmq 4.3.4 abort, see docs/PROTOCOL.md); workers ping every second.")
    var heartbeatInterval: Int = 1000
    @Option(name: .customLong("heartbeat-timeout"), help: "Milliseconds of silence after which a connection counts as dead.")
    var heartbeatTimeout: Int = 10_000
    @Option(name: .customLong("max-bad-steps"), help: "Stop after this many NaN/Inf steps in a row (each is skipped).")
    var maxBadSteps: Int = 5

    func validate() throws {
        guard stepDeadline > 0, heartbeatInterval > 0, heartbeatTimeout > heartbeatInterval, maxBadSteps >= 1 else {
            throw ValidationError("--step-deadline and the heartbeats must be positive, the timeout above the interval, --max-bad-steps at least 1")
        }
    }
}
