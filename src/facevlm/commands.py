"""``facevlm``: check your own scans before pointing a pipeline at them.

    facevlm inspect F0001/F0001_HA04WH_F3D.wrl
    facevlm render  F0001/F0001_HA04WH_F3D.wrl --out renders/ --size 224 --modality texture

``inspect`` prints one JSON object (format, counts, UVs, texture, bounds, landmarks). ``render``
writes one PNG per view with the same renderer the pipelines use. A file that cannot be read gives
a one-line error naming the file and the reason, and a non-zero exit code, never a traceback.
(The Kedro pipelines themselves run with ``kedro run``; the module is not called ``cli.py``
because Kedro reserves that name for project commands.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facevlm.data.errors import ScanError
from facevlm.render.backend import RenderBackendError
from facevlm.render.views import View, parse_views

EXIT_BAD_INPUT = 2


def _inspect(args: argparse.Namespace) -> int:
    from facevlm.data.formats import inspect_mesh

    print(json.dumps(inspect_mesh(args.file), indent=2))
    return 0


def _render(args: argparse.Namespace) -> int:
    from PIL import Image

    from facevlm.data.formats import read_mesh

    mesh = read_mesh(args.file)
    # imported only now: VTK takes about a second to import, and a bad file should fail first
    from facevlm.render import MultiviewRenderer, RenderSettings

    settings = RenderSettings(size=args.size, modality=args.modality, views=args.views)
    renderer = MultiviewRenderer(settings)
    try:
        images = renderer.render(mesh)
    finally:
        renderer.close()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.file).stem
    for view, image in zip(settings.views, images, strict=True):
        target = args.out / f"{stem}_{args.modality}_{view.name}.png"
        Image.fromarray(image).save(target)
        print(target)
    return 0


def _pixels(text: str) -> int:
    """``--size``: an image side the renderer accepts, checked before any file is read."""
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of pixels") from None
    if not 8 <= size <= 4096:
        raise argparse.ArgumentTypeError(f"{size} is not between 8 and 4096 pixels")
    return size


def _views(text: str) -> tuple[View, ...]:
    """``--views``: ``0,20,-20`` or ``yaw:pitch`` pairs, parsed before any file is read."""
    try:
        return parse_views(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facevlm", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    inspect = commands.add_parser("inspect", help="print a scan's structure as JSON")
    inspect.add_argument("file", type=Path, help=".wrl, .obj, .ply or .bnt scan")
    inspect.set_defaults(handler=_inspect)

    render = commands.add_parser("render", help="render a scan's views to PNG files")
    render.add_argument("file", type=Path, help=".wrl, .obj, .ply or .bnt scan")
    render.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    render.add_argument("--size", type=_pixels, default=224, help="image side in pixels (224)")
    render.add_argument(
        "--modality",
        choices=("texture", "shaded", "depth"),
        default="texture",
        help="texture (RGB), shaded geometry or depth (texture)",
    )
    render.add_argument(
        "--views",
        type=_views,
        default="0,20,-20",
        help="yaw angles in degrees, or yaw:pitch pairs, comma-separated (0,20,-20)",
    )
    render.set_defaults(handler=_render)
    return parser


def _fail(message: str) -> int:
    """Report on exactly one line of stderr (reasons quoting VTK or PIL may span several)."""
    print(f"facevlm: error: {' '.join(message.splitlines())}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ScanError as error:
        return _fail(str(error))
    except FileNotFoundError as error:
        return _fail(f"{error.filename}: file not found")
    except (OSError, ValueError, RenderBackendError) as error:
        return _fail(f"{args.file}: {error}")


if __name__ == "__main__":
    sys.exit(main())
