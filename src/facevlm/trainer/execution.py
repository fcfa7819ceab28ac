"""How a training run executes: :class:`ExecutionConfig`.

Nothing here changes what a run computes: the device, the threads, the loader workers, the
prefetching, the compilation, the processes, the checkpoints and the progress bar decide where and
how fast it runs. None of it is part of a key that names a run (those digest the
:class:`~facevlm.trainer.config.TrainConfig` alone), so the same run resumes, and its finished
folds are found again, whichever way it is launched.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ExecutionConfig:
    device: str = "auto"  # auto (cuda when available, else cpu) | cpu | cuda | cuda:N
    cpu_threads: int | None = None  # torch.set_num_threads while training (None: leave as is)
    deterministic: bool = True  # torch.use_deterministic_algorithms while training on CPU
    num_workers: int = 0  # DataLoader worker processes when train() builds the loader
    # augment the next batch in a background thread while the current step runs (CPU only);
    # None: on when the intra-op threads leave a core free (same batches, same draws either way)
    prefetch: bool | None = None
    compile: bool = False  # torch.compile the model + losses (first steps slower: compilation)
    # processes the Kedro pipeline launches for each model (torchrun: gloo on CPU, NCCL on GPUs);
    # None or 1: train in the Kedro process itself
    nproc: int | None = None
    # CPU training in the Kedro pipeline: processes that train the folds and the final fit side
    # by side, each on the session's threads (facevlm/runner/side_by_side.py); auto: one per
    # that many available cores; None or 1: this process trains them one after another
    cpu_processes: int | str | None = None
    find_unused_parameters: bool = True  # DDP: allow parameters no loss term reaches
    # write <checkpoint_dir>/run-<key>/epoch_NNNN.pt after every epoch (rank 0); the key digests
    # what determines the run (the TrainConfig with its run_key, data, initial weights, losses,
    # processes)
    checkpoint_dir: str | None = None
    # False: checkpoint_dir is already this run's own folder (a caller that names its folders by
    # what they compute, as the cross-validation runner's fold_<k>/checkpoints): the epochs go
    # straight into it, and checkpoints of another run found there are replaced, not resumed
    checkpoint_subfolder: bool = True
    # epochs between two checkpoints (the last epoch's is always written): a long run with
    # large weights may save every few epochs, at the price of redoing at most that many
    checkpoint_every: int = 1
    # epochs between two calls of train()'s ``evaluate`` (the last epoch is always evaluated):
    # the held-out curves only watch the run, and evaluating after every epoch of a small CPU
    # model costs about a seventh of its training time
    eval_every: int = 1
    keep_checkpoints: int = 0  # keep only the newest N epoch checkpoints; 0 keeps all
    resume: str | None = None  # a checkpoint file, or "latest" (newest of this run's folder)
    progress: bool = True  # tqdm bar with the running loss (rank 0)

    def __post_init__(self) -> None:
        for name in ("checkpoint_every", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def checkpoint_due(self, epochs_done: int, epochs: int) -> bool:
        """Whether the epoch that brings the run to ``epochs_done`` of ``epochs`` is saved."""
        return _due(epochs_done, epochs, self.checkpoint_every)

    def evaluation_due(self, epochs_done: int, epochs: int) -> bool:
        """Whether the epoch that brings the run to ``epochs_done`` of ``epochs`` is evaluated."""
        return _due(epochs_done, epochs, self.eval_every)


def _due(epochs_done: int, epochs: int, every: int) -> bool:
    """Every ``every``-th epoch, and the last one whatever the cadence."""
    return epochs_done % every == 0 or epochs_done == epochs
