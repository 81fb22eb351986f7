// Which micro-batch an idle worker gets: the pending one whose samples it already holds most of,
// so images cross the network once per worker and later epochs move no bytes.

enum AffinityScheduler {
    /// The pending micro-batch (an index into `batches`) with most samples in `holds`; the first
    /// such in `pending` order on ties; nil when nothing is pending.
    static func choose(pending: [Int], batches: [[Int]], holds: Set<Int>) -> Int? {
        var best: (index: Int, held: Int)?
        for p in pending {
            let held = batches[p].reduce(0) { $0 + (holds.contains($1) ? 1 : 0) }
            if held > best?.held ?? -1 { best = (p, held) }
        }
        return best?.index
    }
}
