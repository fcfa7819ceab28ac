"""Builders of tiny but format-faithful scan files and dataset trees for the layout and index tests.

The files are written by hand from the format descriptions in ``shared/reference/datasets.md``
(VRML 2.0 with a separate ``texCoordIndex`` and mixed polygon arities, OBJ with ``vt``, the
little-endian ``.bnt`` layout, ``.bnd``/``.lm3`` landmarks, a real ``.xlsx``), so these tests also
check that the readers accept what the real datasets contain — not just what our writers emit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# ---------------------------------------------------------------------------------- mesh text
# A 3×3 vertex grid (9 vertices, 20 mm apart) covered by 2 quads and 4 triangles; UVs are
# face-varying: 10 texture coordinates, the seam vertex 4 carries two.
_GRID = [
    (x * 20.0 - 20.0, y * 20.0 - 20.0, 50.0 - abs(x - 1) * 5.0) for y in range(3) for x in range(3)
]
_POLYGONS = [[0, 1, 4, 3], [1, 2, 5, 4], [3, 4, 7], [3, 7, 6], [4, 5, 8], [4, 8, 7]]
_UV = [((i % 3) / 2, (i // 3) / 2) for i in range(9)] + [(0.55, 0.5)]
_UV_POLYGONS = [[0, 1, 4, 3], [1, 2, 5, 9], [3, 4, 7], [3, 7, 6], [9, 5, 8], [9, 8, 7]]
N_VERTICES = len(_GRID)
N_POLYGONS = len(_POLYGONS)


def vrml_text(texture_url: str | None = None, *, nan: bool = False) -> str:
    """A BU-style VRML 2.0 file: Transform > Shape > IndexedFaceSet, then texture, viewpoints."""
    points = [" ".join(f"{c:g}" for c in p) for p in _GRID]
    if nan:
        points[4] = "nan 0 50"
    poly = ", ".join(" ".join(map(str, p)) + " -1" for p in _POLYGONS)
    uv_poly = ", ".join(" ".join(map(str, p)) + " -1" for p in _UV_POLYGONS)
    uv = ", ".join(f"{u:g} {v:g}" for u, v in _UV)
    appearance = (
        f'      appearance Appearance {{ texture ImageTexture {{ url "{texture_url}" }} }}\n'
        if texture_url
        else ""
    )
    viewpoints = "".join(
        f'Viewpoint {{ position 0 0 {d} description "{n}" }}\n'
        for n, d in [
            ("Front", 500),
            ("Back", -500),
            ("Left", 500),
            ("Right", 500),
            ("Top", 500),
            ("Bottom", 500),
        ]
    )
    return (
        "#VRML V2.0 utf8\n\nTransform {\n  children [\n    Shape {\n"
        "      geometry IndexedFaceSet {\n"
        f"        coord Coordinate {{ point [ {', '.join(points)} ] }}\n"
        f"        coordIndex [ {poly} ]\n"
        f"        texCoord TextureCoordinate {{ point [ {uv} ] }}\n"
        f"        texCoordIndex [ {uv_poly} ]\n"
        "      }\n" + appearance + "    }\n  ]\n}\n" + viewpoints
    )


def obj_text(*, nan: bool = False, mtl: str | None = None) -> str:
    """A BP4D-style OBJ frame: ``v``, ``vt`` and ``f v/vt`` polygons."""
    lines = [f"mtllib {mtl}"] if mtl else []
    for i, p in enumerate(_GRID):
        lines.append("v nan 0 50" if nan and i == 4 else "v " + " ".join(f"{c:g}" for c in p))
    lines += [f"vt {u:g} {v:g}" for u, v in _UV]
    if mtl:
        lines.append("usemtl material0")
    for poly, uvp in zip(_POLYGONS, _UV_POLYGONS, strict=True):
        lines.append("f " + " ".join(f"{a + 1}/{b + 1}" for a, b in zip(poly, uvp, strict=True)))
    return "\n".join(lines) + "\n"


def _corrupt(text: str, corrupt: str | None) -> str:
    if corrupt == "truncated":  # cut inside the vertex list, as an interrupted copy does
        return text[: text.index("v " if text.lstrip().startswith(("v", "m")) else "point [") + 40]
    if corrupt == "empty":
        return ""
    return text


def write_wrl(path: Path, texture_url: str | None = None, corrupt: str | None = None) -> Path:
    """``corrupt``: None, ``truncated``, ``nan`` or ``empty``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_corrupt(vrml_text(texture_url, nan=corrupt == "nan"), corrupt))
    return path


def write_obj(path: Path, corrupt: str | None = None, mtl: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_corrupt(obj_text(nan=corrupt == "nan", mtl=mtl), corrupt))
    return path


def write_bnt(path: Path, corrupt: str | None = None, rows: int = 4, cols: int = 3) -> Path:
    """Bosphorus ``.bnt``: header, image name, then planar float64 x, y, z, u, v arrays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = rows * cols
    r, c = np.divmod(np.arange(n), cols)
    x, y = c * 0.75 - 1.0, r * 0.75 - 1.0
    z = 40.0 - (x**2 + y**2)
    if corrupt == "nan":
        z[5] = np.nan
    u, v = c / (cols - 1), 1.0 - r / (rows - 1)
    name = (path.stem + ".png").encode()
    data = np.concatenate([x, y, z, u, v]).astype("<f8").tobytes()
    blob = (
        struct.pack("<HHd", rows, cols, -1e9)
        + struct.pack("<H", len(name))
        + name
        + struct.pack("<I", 5 * n)
        + data
    )
    if corrupt == "truncated":
        blob = blob[: len(blob) - 40]
    path.write_bytes(blob)
    return path


def write_image(path: Path, size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 150, 120)).save(path)
    return path


def write_bnd(path: Path, n_vertices: int = N_VERTICES, *, bad_index: bool = False) -> Path:
    """83 ``<vertex index> <x> <y> <z>`` lines, tab separated like some real files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(83):
        index = n_vertices + 100 if bad_index and i == 0 else i % n_vertices
        x, y, z = _GRID[i % N_VERTICES]
        lines.append(f"{index}\t{x:.4f}\t{y:.4f}\t{z:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


LM3_LABELS = ["Outer left eyebrow", "Middle left eyebrow", "Inner left eyebrow", "Nose tip"]


def write_lm3(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = [f"# generated\n\n{len(LM3_LABELS)} landmarks:"]
    for i, label in enumerate(LM3_LABELS):
        body += [label, f"{i * 1.5:.6f} {i * -2.0:.6f} {40 + i:.6f}"]
    path.write_text("\n".join(body) + "\n")
    return path


def write_strays(folder: Path, scan_like: str = "x.wrl") -> list[Path]:
    """OS and viewer litter that must be ignored without a report."""
    folder.mkdir(parents=True, exist_ok=True)
    strays = [folder / ".DS_Store", folder / "Thumbs.db", folder / f"._{scan_like}"]
    for p in strays:
        p.write_bytes(b"\x00\x05\x16\x07junk")
    strays.append(write_image(folder / "preview_thumb.jpg"))
    return strays


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


# ---------------------------------------------------------------------------------- trees
@dataclass
class Tree:
    """A dataset folder written for a test, and what a correct ingest must find in it."""

    root: Path
    good: list[Path] = field(default_factory=list)  # scans that must be indexed
    bad: dict[Path, str] = field(
        default_factory=dict
    )  # scans that must be quarantined: reason part
    strays: list[Path] = field(default_factory=list)  # must be ignored silently


def bu3dfe_tree(root: Path, *, corrupt: bool = False) -> Tree:
    """Two subjects with neutral and two expressions each, RAW twins, landmarks, 2D photos,
    a viewer folder and strays; with ``corrupt``, also broken scans of every kind."""
    tree = Tree(root)
    for subject, race in [("F0001", "WH"), ("M0002", "AE")]:
        for code in ["NE00", "AN03", "HA04"]:
            prefix = f"{subject}_{code}{race}"
            tree.good.append(write_wrl(root / subject / f"{prefix}_F3D.wrl", f"{prefix}_F3D.bmp"))
            write_wrl(root / subject / f"{prefix}_RAW.wrl", f"{prefix}_F3D.bmp")
            write_image(root / subject / f"{prefix}_F3D.bmp", (16, 8))
            write_image(root / subject / f"{prefix}_F2D.bmp")
            write_bnd(root / subject / f"{prefix}_F3D.bnd")
            (root / subject / f"{prefix}_RAW.pse").write_text("1 2 3\n")
        tree.strays += write_strays(root / subject, f"{subject}_NE00{race}_F3D.wrl")
    write_wrl(root / "BU_WrlViewer_V2" / "sample.wrl")  # viewer folder: not a subject
    (root / "BU_WrlViewer_V2" / "viewer.exe").write_bytes(b"MZ")
    tree.strays.append(root / "BU_WrlViewer_V2" / "sample.wrl")
    tree.strays += write_strays(root)
    if corrupt:
        s = root / "F0001"
        for code, kind in [("DI02", "truncated"), ("FE01", "nan"), ("SA02", "empty")]:
            prefix = f"F0001_{code}WH"
            tree.bad[write_wrl(s / f"{prefix}_F3D.wrl", f"{prefix}_F3D.bmp", corrupt=kind)] = ""
            write_image(s / f"{prefix}_F3D.bmp")
        tree.bad[write_wrl(s / "F0001_SU01WH_F3D.wrl", "F0001_SU01WH_F3D.bmp")] = "texture"
        tree.bad[write_wrl(s / "F0001_XX01WH_F3D.wrl")] = "expression code"
        tree.bad[write_wrl(s / "F0001_AN01WH.wrl")] = "name does not follow"
    return tree


def bu4dfe_tree(root: Path, *, landmarks: bool = True) -> Tree:
    """F001/Happy (12 frames, textures named in the file), F001/Sad (no url: NNN.jpg fallback),
    M002/Surprise (3 frames, landmarks as ``.landmark``), a viewer folder, a landmark release."""
    tree = Tree(root)
    sequences = [
        ("F001", "Happy", 12, True),
        ("F001", "Sad", 3, False),
        ("M002", "Surprise", 3, True),
    ]
    for subject, expr, n, with_url in sequences:
        for f in reversed(range(n)):  # written out of order on purpose
            name = f"{f:03d}"
            url = f"{name}.jpg" if with_url else None
            tree.good.append(write_wrl(root / subject / expr / f"{name}.wrl", url))
            write_image(root / subject / expr / f"{name}.jpg")
            if landmarks:
                suffix = ".landmark" if subject == "M002" else ".bnd"
                write_bnd(root / "BU4DFE_BND_V1.1" / subject / expr / f"{name}{suffix}")
        tree.strays += write_strays(root / subject / expr, "000.wrl")
    tree.strays.append(write_wrl(root / "BU_WrlViewer_V2" / "000.wrl"))
    return tree


BOSPHORUS_SCANS = {
    # stem: (expression, label_set, token, in the default 'emotions' subset)
    "N_N_0": ("neutral", "basic", "N", True),
    "E_ANGER_0": ("anger", "basic", "E", True),
    "E_HAPPY_0": ("happiness", "basic", "E", True),
    "LFAU_12_0": ("AU12", "au", "LFAU", False),
    "CAU_A22_0": ("CAU_A22", "au", "CAU", False),
    "YR_R10_0": (None, "pose", "YR", False),
    "O_GLASSES_0": (None, "occlusion", "O", False),
}


def bosphorus_tree(root: Path, *, corrupt: bool = False) -> Tree:
    tree = Tree(root)
    for subject in ["bs000", "bs001"]:
        for suffix in BOSPHORUS_SCANS:
            stem = f"{subject}_{suffix}"
            tree.good.append(write_bnt(root / subject / f"{stem}.bnt"))
            write_image(root / subject / f"{stem}.png", (12, 9))
            write_lm3(root / subject / f"{stem}.lm3")
            (root / subject / f"{stem}.lm2").write_text("# 2d\n")
        tree.strays += write_strays(root / subject, f"{subject}_N_N_0.bnt")
    tree.strays += write_strays(root)
    if corrupt:
        s = root / "bs000"
        tree.bad[write_bnt(s / "bs000_E_FEAR_0.bnt", corrupt="truncated")] = ""
        write_image(s / "bs000_E_FEAR_0.png")
        tree.bad[write_bnt(s / "bs000_E_SADNESS_0.bnt", corrupt="nan")] = ""
        write_image(s / "bs000_E_SADNESS_0.png")
        tree.bad[write_bnt(s / "bs000_E_JOY_0.bnt")] = "unknown emotion"
        tree.bad[write_bnt(s / "bs000_Q_X_0.bnt")] = "unknown token"
    return tree


AU_HEADER = ["frame", "1", "2", "4"]


def bp4d_tree(root: Path) -> Tree:
    """F001/T1 with 4-digit frames 0001-0004 (AU CSV codes frames 1-3, one 9 = not coded),
    M002/T8 with 3-digit frames 001-003, F001/T4 (not a basic task), AUCoding folder."""
    tree = Tree(root)
    seq = root / "Sequences(2D+3D)"
    for subject, task, frames, pad in [
        ("F001", "T1", 4, 4),
        ("M002", "T8", 3, 3),
        ("F001", "T4", 2, 4),
    ]:
        for f in range(1, frames + 1):
            name = f"{f:0{pad}d}"
            path = write_obj(seq / subject / task / f"{name}.obj")
            write_image(seq / subject / task / f"{name}.jpg")
            if task != "T4":
                tree.good.append(path)
        tree.strays += write_strays(seq / subject / task, "0001.obj")
    au = root / "AUCoding" / "AU_OCC"
    au.mkdir(parents=True)
    rows = [AU_HEADER, ["1", "0", "1", "0"], ["2", "1", "9", "0"], ["3", "1", "1", "1"]]
    (au / "F001_T1.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    return tree


FOURDME_HEADER = ["sub_ID", "fold_name", "Onset", "Apex", "Offset", "AUs", "AU4", "AU12",
                  "Positive", "Negative", "Surprise", "Repression", "Others"]  # fmt: skip


def fourdme_tree(root: Path) -> Tree:
    """Clips S01/S01_0101 (OBJ), S01/S01_0102 (WRL, two classes), S02/S02_0201 (OBJ, nested
    folder, 1-based names, onset 0 labelled 0-based); a row without a folder (S02_0299), a
    folder without a row (S02/S02_0300), a non-subject folder."""
    tree = Tree(root)
    rows = [
        ["S01", "S01_0101", 1, 2, 3, "AU4+AU7(k)", 1, None, 0, 1, 0, 0, 0],
        ["S01", "S01_0102", 0, 1, 2, "AU12", None, 1, 1, 0, 1, 0, 0],
        ["S02", "S02_0201", 0, 2, 3, "AU1", None, None, None, None, None, None, 1],
        ["S02", "S02_0299", 1, 2, 3, "AU2", None, None, 0, 0, 0, 1, 0],
    ]
    write_xlsx(root / "4DME_Labelling_Micro_release v1.xlsx", FOURDME_HEADER, rows)
    for f in range(4):
        tree.good.append(write_obj(root / "S01" / "S01_0101" / f"frame_{f:03d}.obj"))
        write_image(root / "S01" / "S01_0101" / f"frame_{f:03d}.jpg")
    for f in range(3):
        tree.good.append(write_wrl(root / "S01" / "S01_0102" / f"{f:04d}.wrl", f"{f:04d}.png"))
        write_image(root / "S01" / "S01_0102" / f"{f:04d}.png")
    for f in range(1, 4):
        tree.good.append(write_obj(root / "S02" / "S02_0201" / "3D" / f"{f}.obj"))
        write_image(root / "S02" / "S02_0201" / "3D" / f"{f}.jpg")
    tree.bad[root / "S02" / "S02_0299"] = "no clip folder"
    write_obj(root / "S02" / "S02_0300" / "000.obj")
    tree.bad[root / "S02" / "S02_0300"] = "no row"
    write_image(root / "videos" / "S01_0101.jpg")
    tree.strays += write_strays(root / "S01" / "S01_0101", "frame_000.obj")
    return tree
