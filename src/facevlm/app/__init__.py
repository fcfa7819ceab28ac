"""The Streamlit app: drop a 3D scan or a 4D sequence, see its views and the predicted expression.

- :mod:`.page`     the page: model choice, input, results (``facevlm app`` serves it)
- :mod:`.display`  how one prediction is shown (views, chart, prompts, timings, frames)
- :mod:`.uploads`  checking and unpacking uploads into a per-session temporary folder
- :mod:`.samples`  the built-in samples from the project's scan index
- :mod:`.main`     the script ``streamlit run`` executes

Prediction itself is :mod:`facevlm.inference`, shared with ``facevlm predict``.
"""

from pathlib import Path

#: The file ``streamlit run`` is given.
SCRIPT = Path(__file__).with_name("main.py")
