"""The built-in synthetic 3D/4D face set: procedural heads, FACS-style expressions, real formats.

Why built in: the real benchmarks are licence-restricted, yet every stage of the project (readers,
layouts, renderer, models, the Streamlit app) must run end to end on a fresh checkout and in CI.
This package makes face scans that *look like faces* and *differ by expression* — so a model can
actually learn something — and writes them in the exact on-disk formats and folder grammars of
BU-3DFE, BU-4DFE, Bosphorus, BP4D-Spontaneous and 4DME.

Laid out by what each part makes:

- :mod:`.procedural`    the generator's own parametric faces (identity, mesh, landmarks, texture)
- :mod:`.ict_facekit`   faces of the ICT-FaceKit morphable model, the second face source
- :mod:`.expressions`   action-unit displacement fields and emotion recipes
- :mod:`.face_openings` what either source's face shows through the mouth and the eyes
- :mod:`.sequences`     4D profiles, per-frame jitter, micro-expression clips
- :mod:`.scanner_variety` what real scanners do to a face: crops, holes, remeshing, moves
- :mod:`.raster`        range-grid rasterisation for Bosphorus ``.bnt``
- :mod:`.layout_writers` one subject of one dataset layout on disk
- :mod:`.writer`        the whole set, manifest and reuse; :mod:`.config` its settings;
  :mod:`.files` byte-exact images, spreadsheets, meshes and JSON
"""

from facevlm.synthetic.config import ALL_LAYOUTS, LAYOUT_FOLDERS, SyntheticConfig
from facevlm.synthetic.expressions import (
    ACTION_UNITS,
    EMOTION_RECIPES,
    INTENSITY_SCALE,
    au_displacement,
    expression_vertices,
    subject_recipe,
)
from facevlm.synthetic.procedural.head import SyntheticHead, build_head
from facevlm.synthetic.procedural.identity import RACE_CODES, Identity, sample_identity
from facevlm.synthetic.procedural.texture import paint_texture
from facevlm.synthetic.sequences import MicroClip, make_micro_clip, sequence_profile
from facevlm.synthetic.writer import MANIFEST, generate_synthetic_dataset, read_manifest

__all__ = [
    "ACTION_UNITS",
    "ALL_LAYOUTS",
    "EMOTION_RECIPES",
    "INTENSITY_SCALE",
    "LAYOUT_FOLDERS",
    "MANIFEST",
    "RACE_CODES",
    "Identity",
    "MicroClip",
    "SyntheticConfig",
    "SyntheticHead",
    "au_displacement",
    "build_head",
    "expression_vertices",
    "generate_synthetic_dataset",
    "make_micro_clip",
    "paint_texture",
    "read_manifest",
    "sample_identity",
    "sequence_profile",
    "subject_recipe",
]
