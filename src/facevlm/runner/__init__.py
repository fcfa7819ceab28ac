"""How a training run is run, outside Kedro: in one process, or on several processes, GPUs or
machines with PyTorch's own launcher.

- :mod:`facevlm.runner.run`: the one hand-off from a training node: the run's keyed folder,
  its bundle, and training it in this process, by torchrun workers, or taking a result trained
  elsewhere.
- :mod:`facevlm.runner.training_bundle`: the training bundle, the folder a Kedro run writes and
  workers train from (views on disk, samples and folds, prompts, resolved config).
- :mod:`facevlm.runner.bundle_training`: what every worker process runs: train the bundle's
  model fold by fold (DDP when torchrun started it), write checkpoints, fold results, models.
- :mod:`facevlm.runner.launch`: start ``torch.distributed.run`` on this machine, wait, and
  load the result (what a Kedro node calls).
- :mod:`facevlm.runner.side_by_side`: on CPU, train whole folds and the final fit in
  single-thread processes side by side, one per core.
- ``python -m facevlm.train``: the command line (also for ``torchrun ... -m facevlm.train``).

Nothing here imports Kedro.
"""
