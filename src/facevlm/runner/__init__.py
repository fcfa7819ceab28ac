"""How a training run is run, outside Kedro: in one process, side by side on CPU, or on several
processes, GPUs or machines with PyTorch's own launcher.

- :mod:`facevlm.runner.identity`: what a run is (:func:`~facevlm.runner.identity.run_identity`),
  which names or checks its folder, bundle, fold results and checkpoints.
- :mod:`facevlm.runner.run`: the hand-off from the training nodes: the run's folder and bundle,
  and :func:`~facevlm.runner.run.train_jobs`, which trains a list of jobs (folds, the final fit)
  in this process, side by side, by torchrun workers, or takes a result trained elsewhere.
- :mod:`facevlm.runner.training_bundle`: the training bundle, the folder a Kedro run writes and
  workers train from (views on disk, samples and folds, prompts, resolved config).
- :mod:`facevlm.runner.bundle_training`: what every worker process runs: train the bundle's
  model fold by fold (DDP when torchrun started it), or its final fit; write checkpoints, fold
  results, models.
- :mod:`facevlm.runner.launch`: start ``torch.distributed.run`` on this machine, wait, and
  load the result.
- :mod:`facevlm.runner.side_by_side`: on CPU, train whole jobs in single-thread processes side
  by side, one per core.
- ``python -m facevlm.train``: the command line (also for ``torchrun ... -m facevlm.train``).

Nothing here imports Kedro.
"""
