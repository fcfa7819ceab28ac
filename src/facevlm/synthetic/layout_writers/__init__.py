"""One subject of one dataset layout, written in that dataset's real formats and folder grammar.

Why per subject: a subject is the natural unit of work — one identity, one head, one texture,
reused by all of its scans or frames — and subjects are independent, so they can be written in
parallel. Each subject draws its randomness from its own seed stream
(``SeedSequence([seed, layout, index])``), so the bytes do not depend on which process writes
it, or in which order.

Every writer returns a JSON-ready record for the manifest (metadata, labels, counts). Names and
folders follow ``docs/your-data.md``:

- BU-3DFE   ``BU-3DFE/F0001/F0001_HA04WH_F3D.{wrl,bmp,bnd}``
- BU-4DFE   ``BU-4DFE/F001/Happy/000.{wrl,jpg}``, ``BU-4DFE/BU4DFE_BND_V1.1/F001/Happy/000.bnd``
- Bosphorus ``Bosphorus/bs000/bs000_E_HAPPY_0.{bnt,png,lm3}``
- BP4D      ``BP4D/Sequences(2D+3D)/F001/T1/0000.{obj,mtl,jpg}``,
            ``BP4D/AUCoding/AU_OCC/F001_T1.csv``
- 4DME      ``4DME/S01/S01_01/000.{obj,mtl,jpg}`` (the spreadsheet is written by the caller)

The package, one job a module (this module: :data:`WRITERS`, the writer of each layout, and
:func:`run_task`):

- :mod:`.subjects`   the subject tasks of a config, their ids and seed streams
- :mod:`.faces`      a subject's face, skin photographs, rounded meshes and manifest record
- :mod:`.bu3dfe`, :mod:`.bu4dfe`, :mod:`.bosphorus`, :mod:`.bp4d`, :mod:`.fourdme`: one
  layout each
"""

from __future__ import annotations

from pathlib import Path

from facevlm.synthetic.config import SyntheticConfig
from facevlm.synthetic.layout_writers.bosphorus import write_bosphorus_subject
from facevlm.synthetic.layout_writers.bp4d import write_bp4d_subject
from facevlm.synthetic.layout_writers.bu3dfe import BU3DFE_CODES, write_bu3dfe_subject
from facevlm.synthetic.layout_writers.bu4dfe import BU4DFE_BND_FOLDER, write_bu4dfe_subject
from facevlm.synthetic.layout_writers.fourdme import write_4dme_subject
from facevlm.synthetic.layout_writers.subjects import SubjectTask, plan

__all__ = [
    "BU3DFE_CODES",
    "BU4DFE_BND_FOLDER",
    "WRITERS",
    "SubjectTask",
    "plan",
    "run_task",
    "write_4dme_subject",
    "write_bosphorus_subject",
    "write_bp4d_subject",
    "write_bu3dfe_subject",
    "write_bu4dfe_subject",
]

WRITERS = {
    "bu3dfe": write_bu3dfe_subject,
    "bu4dfe": write_bu4dfe_subject,
    "bosphorus": write_bosphorus_subject,
    "bp4d": write_bp4d_subject,
    "4dme": write_4dme_subject,
}


def run_task(root: str, config: SyntheticConfig, task: SubjectTask) -> dict:
    """Write one subject (the unit a worker process runs); returns its manifest record."""
    return WRITERS[task.layout](Path(root), config, task)
