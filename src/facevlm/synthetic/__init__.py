"""The built-in synthetic 3D/4D face set: procedural heads, FACS-style expressions, real formats.

Why built in: the real benchmarks are licence-restricted, yet every stage of the project (readers,
layouts, renderer, models, the Streamlit app) must run end to end on a fresh checkout and in CI.
This package makes face scans that *look like faces* and *differ by expression* — so a model can
actually learn something — and writes them in the exact on-disk formats and folder grammars of
BU-3DFE, BU-4DFE, Bosphorus, BP4D-Spontaneous and 4DME.

Modules, in the order the data flows:

- :mod:`.identity`    who a subject is (metadata, proportions, colours), from a seeded RNG
- :mod:`.shapes`      feature outlines shared by mesh, texture and landmarks
- :mod:`.head`        the neutral face mesh (lips cut, eye openings, inner patches)
- :mod:`.head_surface` the face surface over the sheet (cylinder and relief)
- :mod:`.landmarks`   the 83 BU-3DFE landmarks and Bosphorus' labelled ones
- :mod:`.texture`     face-varying UV atlas and the atlas image; :mod:`.painting` paints it
- :mod:`.expressions` action-unit displacement fields and emotion recipes
- :mod:`.sequences`   4D profiles, per-frame jitter, micro-expression clips
- :mod:`.raster`      range-grid rasterisation for Bosphorus ``.bnt``
- :mod:`.layout_writers` one subject of one dataset layout on disk
- :mod:`.writer`      the whole set, manifest and reuse; :mod:`.config` its settings
- :mod:`.pose_fixtures` faces in known poses and non-faces, for the face pose's tests and benchmark
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
from facevlm.synthetic.head import SyntheticHead, build_head
from facevlm.synthetic.identity import RACE_CODES, Identity, sample_identity
from facevlm.synthetic.sequences import MicroClip, make_micro_clip, sequence_profile
from facevlm.synthetic.texture import paint_texture
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
