"""Upload checks and safe zip extraction (``facevlm.app.uploads``), on real archives.

Specification:

- accepted files are written under the upload folder only, by their last name component; a
  mesh finds the texture uploaded with it; a zip of a scan folder gives that scan, a zip of a
  4D sequence gives one sequence in frame order;
- refused, with the file (and member) named: unsupported extensions, files over the size limit,
  zips with ``..`` or absolute member paths, symlinks, encrypted members, too many members,
  declared sizes over the limit, and archives whose bytes exceed the limit while extracting
  though their headers say otherwise; nothing is written outside the folder;
- one bad file does not stop the others; the folder is removed on exit.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest
from tiny_project import (
    write_scan,
    write_sequence,
    zip_absolute,
    zip_bomb,
    zip_folder,
    zip_images_only,
    zip_many,
    zip_slip,
    zip_symlink,
)

from facevlm.app.uploads import (
    Upload,
    UploadError,
    UploadFolder,
    UploadLimits,
    extract_zip,
    stage_uploads,
)
from facevlm.inference import ScanInput, SequenceInput

LIMITS = UploadLimits(
    max_upload_bytes=8 * 1024 * 1024, max_members=50, max_uncompressed_bytes=10**8
)


def _files(folder: Path) -> list[Upload]:
    return [Upload(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def _everything_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_loose_scan_with_its_texture(tmp_path):
    write_scan(tmp_path / "in")
    with UploadFolder() as folder:
        staged = stage_uploads(_files(tmp_path / "in"), folder, LIMITS)
        assert not staged.errors
        (item,) = staged.inputs
        assert isinstance(item, ScanInput) and item.name == "F0001_HA04WH_F3D.wrl"
        assert item.path.is_relative_to(folder) and item.path.with_suffix(".bmp").is_file()
    assert not folder.exists()


def test_zip_of_a_sequence_gives_frames_in_numeric_order(tmp_path):
    seq = write_sequence(tmp_path / "F001" / "Happy", n_frames=11, n_side=10)
    (seq / "010.wrl").rename(seq / "10.wrl")  # unpadded: must come after 009, not after 000
    (tmp_path / "F001" / "__MACOSX").mkdir()
    (tmp_path / "F001" / "__MACOSX" / "._000.wrl").write_bytes(b"junk")
    archive = zip_folder(tmp_path / "F001", tmp_path / "seq.zip", prefix="F001/")
    with UploadFolder() as folder:
        staged = stage_uploads([Upload("seq.zip", archive.read_bytes())], folder, LIMITS)
        (item,) = staged.inputs
        assert isinstance(item, SequenceInput) and item.name == "seq.zip/F001/Happy"
        assert [p.name for p in item.frames][-2:] == ["009.wrl", "10.wrl"]
        assert len(item.frames) == 11


def test_names_are_reduced_to_their_last_component(tmp_path):
    with UploadFolder() as folder:
        staged = stage_uploads([Upload("../../escape.wrl", b"#VRML V2.0 utf8\n")], folder, LIMITS)
        written = _everything_under(folder)
    assert [i.path.name for i in staged.inputs] == ["escape.wrl"]
    assert all(p.is_relative_to(folder) for p in written)
    assert not (tmp_path.parent / "escape.wrl").exists()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (zip_slip, "'..' path"),
        (zip_absolute, "absolute path"),
        (zip_symlink, "symbolic link"),
        (lambda p: zip_many(p, 51), "51 members, more than the 50 allowed"),
        (lambda p: zip_bomb(p, declared=2 * 10**8), "zip bomb"),
        (zip_images_only, "no scan or 4D frame found"),
    ],
)
def test_unsafe_or_empty_zips_are_refused_whole(tmp_path, make, expected):
    archive = make(tmp_path / "bad.zip")
    with UploadFolder() as folder:
        staged = stage_uploads([Upload("bad.zip", archive.read_bytes())], folder, LIMITS)
        (error,) = staged.errors
        assert error.name == "bad.zip" and expected in error.reason
        assert not staged.inputs
        assert not [p for p in _everything_under(folder) if p.is_file() and "evil" in p.name]
    assert not (tmp_path.parent.parent / "evil.wrl").exists()


def test_an_archive_that_understates_its_size_is_refused_without_inflating_it(tmp_path):
    """The headers say 1 KB; the data inflates to 3 MB. Extraction never writes more than the
    declared size (zipfile stops there, then the checksum fails; our byte count is a second
    guard), and the archive is refused."""
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x/000.wrl", bytes(3 * 1024 * 1024))
    data = bytearray(archive.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 1024)
    limits = UploadLimits(max_uncompressed_bytes=2 * 1024 * 1024)
    with UploadFolder() as folder:
        with pytest.raises(UploadError, match="liar.zip: member 'x/000.wrl'"):
            extract_zip(bytes(data), "liar.zip", folder / "z", limits)
        written = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert written <= 1024


def test_encrypted_members_are_refused(tmp_path):
    archive = tmp_path / "secret.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/000.wrl", b"x")
    data = bytearray(archive.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 8] |= 0x1  # general purpose flag bit 0: encrypted (zipfile cannot write it)
    with UploadFolder() as folder, pytest.raises(UploadError, match="encrypted"):
        extract_zip(bytes(data), "secret.zip", folder / "z", LIMITS)


def test_bad_files_are_reported_and_the_others_staged(tmp_path):
    write_scan(tmp_path / "in")
    uploads = [
        Upload("notes.txt", b"hi"),
        Upload("huge.ply", bytes(LIMITS.max_upload_bytes + 1)),
        Upload("broken.zip", b"PK\x03\x04 not really"),
        *_files(tmp_path / "in"),
    ]
    with UploadFolder() as folder:
        staged = stage_uploads(uploads, folder, LIMITS)
    reasons = {e.name: e.reason for e in staged.errors}
    assert "unsupported file type '.txt'" in reasons["notes.txt"]
    assert "over the upload limit of 8 MB" in reasons["huge.ply"]
    assert "not a readable zip archive" in reasons["broken.zip"]
    assert [i.name for i in staged.inputs] == ["F0001_HA04WH_F3D.wrl"]


def test_textures_without_a_mesh_are_refused(tmp_path):
    with UploadFolder() as folder:
        staged = stage_uploads([Upload("000.jpg", b"\xff\xd8")], folder, LIMITS)
    (error,) = staged.errors
    assert error.name == "000.jpg" and "no scan among the uploaded files" in error.reason
