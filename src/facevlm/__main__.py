"""``python -m facevlm`` runs the project like ``kedro run``, on the numerical path ``kedro run``
computes on (:mod:`facevlm.numerics`)."""

import sys
from pathlib import Path


def main(*args, **kwargs):
    # before Kedro imports numpy, as the `kedro` command's `kedro.init` entry point pins: the
    # project's hook then honours `numerics.pin` as it does for `kedro run`
    from facevlm.numerics import pin_process

    pin_process()
    from kedro.framework.cli.utils import find_run_command
    from kedro.framework.project import configure_project

    package_name = Path(__file__).parent.name
    configure_project(package_name)
    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
