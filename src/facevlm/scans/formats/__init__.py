"""Readers and writers for the mesh and landmark files of the 3D/4D face datasets.

Every reader returns the shared :class:`~facevlm.scans.mesh.FaceMesh` (or, for ``.bnt``, a
:class:`BntScan` grid) and raises only :class:`~facevlm.scans.errors.ScanError` for bad input, so
ingest can quarantine a file and carry on. The on-disk layouts follow
``docs/your-data.md``:

- BU-3DFE / BU-4DFE: VRML 2.0 ``.wrl`` (:mod:`.vrml`), ``.bnd``/``.landmark`` (:mod:`.landmarks`)
- laser scans of older face databases: VRML 1.0 ``.wrl`` (:mod:`.vrml1`, read by ``read_vrml``)
- Bosphorus: binary ``.bnt`` range grids (:mod:`.bnt`), ``.lm3`` labelled landmarks
- BP4D / 4DME: Wavefront ``.obj`` (:mod:`.obj`)
- interchange: PLY (:mod:`.ply`, per-vertex colours included), STL ascii and binary
  (:mod:`.stl`), OFF / COFF (:mod:`.off`), glTF 2.0 ``.glb`` / ``.gltf`` (:mod:`.gltf`: phone
  scanning apps)

:func:`read_mesh` dispatches by extension; :func:`inspect_mesh` summarises a file as JSON.
"""

from facevlm.scans.formats.bnt import BntScan, bnt_to_mesh, read_bnt, read_bnt_mesh, write_bnt
from facevlm.scans.formats.dispatch import inspect_mesh, read_mesh
from facevlm.scans.formats.gltf import read_gltf
from facevlm.scans.formats.landmarks import read_bnd, read_lm3, write_bnd, write_lm3
from facevlm.scans.formats.obj import read_obj, write_obj
from facevlm.scans.formats.off import read_off
from facevlm.scans.formats.ply import read_ply, write_ply
from facevlm.scans.formats.stl import read_stl
from facevlm.scans.formats.vrml import read_vrml, write_vrml
from facevlm.scans.formats.vrml1 import read_vrml1

__all__ = [
    "BntScan",
    "bnt_to_mesh",
    "inspect_mesh",
    "read_bnd",
    "read_bnt",
    "read_bnt_mesh",
    "read_gltf",
    "read_lm3",
    "read_mesh",
    "read_obj",
    "read_off",
    "read_ply",
    "read_stl",
    "read_vrml",
    "read_vrml1",
    "write_bnd",
    "write_bnt",
    "write_lm3",
    "write_obj",
    "write_ply",
    "write_vrml",
]
