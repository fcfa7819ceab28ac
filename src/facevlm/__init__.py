"""facevlm: facial-expression recognition from 3D/4D face scans with vision-language models.

The package follows the data flow of the project, one layer a folder, each importing only
itself and the layers listed before it (``tests/test_layers.py`` holds it to this order):

- ``facevlm.scans``        the mesh type, file formats, dataset layouts, labels and protocols
- ``facevlm.render``       the face pose and offscreen multiview rendering of scans into images
- ``facevlm.synthetic``    the built-in face set, written in the real datasets' formats
- ``facevlm.prompts``      textual prompts (augmented and pseudo-labelled)
- ``facevlm.models``       torch-only models, losses and augmentation (no Kedro)
- ``facevlm.trainer``      the training loop, launched alone or by torchrun (no Kedro)
- ``facevlm.evaluation``   metrics, calibration, familiarity, answer sets and report figures
- ``facevlm.experiments``  AffectVLM and SMILE-VLM as recipes of one cross-validation loop
- ``facevlm.runner``       a training run in one process or on several (torchrun), resumable
- ``facevlm.datasets``     Kedro catalog datasets of our own
- ``facevlm.inference``    a trained model's prediction of a scan or sequence
- ``facevlm.app``          the Streamlit app
- ``facevlm.pipelines``    Kedro pipelines: thin nodes around the layers before them

Importing it, or any of its modules, changes nothing in the process: the numerical path the
project's runs compute on is set by the commands that start them (``facevlm.numerics``).
"""

__version__ = "0.1.0"
