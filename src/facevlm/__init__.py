"""facevlm: facial-expression recognition from 3D/4D face scans with vision-language models.

The package follows the data flow of the project:

- ``facevlm.scans``      read and write scans (formats), synthesise them, index dataset layouts
- ``facevlm.render``    offscreen multiview rendering of scans into images
- ``facevlm.prompts``   textual prompts (augmented and pseudo-labelled)
- ``facevlm.models``    torch-only models, losses, augmentation and training loop (no Kedro)
- ``facevlm.evaluation`` metrics and reports
- ``facevlm.app``       the Streamlit app
- ``facevlm.datasets``  Kedro catalog datasets
- ``facevlm.pipelines`` Kedro pipelines: thin nodes around the modules above
"""

__version__ = "0.1.0"

# Before anything imports torch or numpy: every CPU on the same numerical path, so that a run's
# figures do not depend on the machine (why and what it costs: facevlm/numerics.py).
from facevlm.numerics import loaded_before_pin as _loaded_before_pin  # noqa: E402
from facevlm.numerics import pin_code_paths as _pin_code_paths  # noqa: E402

PINNED_AT_IMPORT: list[str] = _pin_code_paths()
#: The libraries already loaded, on their own code path, when the package pinned theirs.
LOADED_BEFORE_PIN: list[str] = _loaded_before_pin(PINNED_AT_IMPORT)
