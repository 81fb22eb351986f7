// Early stopping on the validation NME, as Keras' EarlyStopping and Ultralytics' `patience`: the run
// ends when no epoch has beaten the best for `patience` epochs, and the best model (RUN/best/) is
// its result.

public struct EarlyStopping: Sendable, Equatable {
    /// Epochs without a new best validation NME before the run ends (at least 1).
    public let patience: Int
    /// Epochs not watched (the frozen-backbone ones, whose plateau says nothing of fine-tuning),
    /// as Keras' `start_from_epoch`.
    public let after: Int

    public init(patience: Int, after: Int = 0) {
        self.patience = max(1, patience)
        self.after = max(0, after)
    }

    /// Why the run should end after the epochs in `history`, or nil to go on.
    public func reason(_ history: RunHistory) -> String? {
        guard let last = history.epochs.last, let best = history.bestEpoch, let nme = history.bestNME,
              last.epoch - max(best, after) >= patience else { return nil }
        return "no better validation NME in the \(last.epoch - max(best, after)) epochs since epoch \(max(best, after)) "
            + "(best: epoch \(best), NME \(String(format: "%.4f", nme))); --patience \(patience)"
    }
}
