"""``facevlm``: check your own scans, predict their expression, serve the app.

    facevlm inspect F0001/F0001_HA04WH_F3D.wrl
    facevlm render  F0001/F0001_HA04WH_F3D.wrl --out renders/ --size 224 --modality texture
    facevlm predict F0001/F0001_HA04WH_F3D.wrl F001/Happy/ --model affectvlm
    facevlm app --server.port 8600 --server.headless true

``inspect`` prints one JSON object (format, counts, UVs, texture, bounds, landmarks). ``render``
writes one PNG per view with the same renderer the pipelines use. ``predict`` prints one JSON
object per scan or 4D sequence with the project's trained model (the app's code path, run from
the project root); for a scan the model cannot tell (its face reader, a second reader grounded
in real faces, does not agree; for a model without one: unfamiliar, or too many plausible
expressions) its ``prediction`` is null and ``abstained`` true, unless ``--always-answer``. ``app`` starts the Streamlit app (its arguments go to ``streamlit run``).
A file that cannot be read gives a one-line error naming the file and the reason, and a non-zero
exit code, never a traceback; ``predict`` goes on with the other files and exits with 2. Results
go to stdout and failures to stderr, one line each, and nothing else: the libraries' logging is
silenced unless ``--verbose`` asks for it (:mod:`facevlm.command_output`). ``render`` picks the
modality as ``predict`` does: texture when the scan has one, shaded otherwise, with a note, and
renders the face turned face-forward and framed (``--pose as_stored`` keeps the scan's axes).
(The Kedro pipelines themselves run with ``kedro run``; the module is not called ``cli.py``
because Kedro reserves that name for project commands.) Every command computes on the project's
pinned numerical path (:mod:`facevlm.numerics`); ``FACEVLM_NATIVE_NUMERICS=1`` leaves each
library on its own choice.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from facevlm.command_output import CommandStreams, command_output
from facevlm.numerics import pin_process

if TYPE_CHECKING:  # the rest of the package is imported once main() has pinned the numerics
    from facevlm.render.views import View
    from facevlm.scans.errors import ScanError

EXIT_BAD_INPUT = 2


def _inspect(args: argparse.Namespace, streams: CommandStreams) -> int:
    from facevlm.scans.formats import inspect_mesh

    print(json.dumps(inspect_mesh(args.file), indent=2), file=streams.out)
    return 0


def _render(args: argparse.Namespace, streams: CommandStreams) -> int:
    from facevlm.scans.errors import ScanError

    try:
        return _render_scan(args, streams)
    except ScanError as error:
        raise _as_the_scans(error, args.file) from None


def _as_the_scans(error: ScanError, scan: Path) -> ScanError:
    """A refusal of a file the scan names (its texture) reported as the scan's, the way
    ``inspect`` lists that file's problem among the scan's warnings."""
    from facevlm.scans.errors import ScanError

    if error.path is None or os.path.realpath(error.path) == os.path.realpath(scan):
        return error
    reason = error.reason
    if error.path.name not in reason:
        reason = f"{error.path.name}: {reason}"
    return ScanError(scan, reason)


def _render_scan(args: argparse.Namespace, streams: CommandStreams) -> int:
    from PIL import Image

    from facevlm.inference.scan_files import modality_for, read_scan

    mesh = read_scan(args.file)
    modality, note = modality_for(mesh, args.modality or "texture", str(args.file))
    # imported only now: VTK takes about a second to import, and a bad file should fail first
    from facevlm.render import MultiviewRenderer, RenderSettings

    settings = RenderSettings(size=args.size, modality=modality, views=args.views, pose=args.pose)
    renderer = MultiviewRenderer(settings)
    try:
        images = renderer.render(mesh)
    finally:
        renderer.close()
    if note:  # only for a scan that rendered: a refused one gets its one error line
        print(f"facevlm: note: {note}", file=streams.err)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.file).stem
    for view, image in zip(settings.views, images, strict=True):
        target = args.out / f"{stem}_{modality}_{view.name}.png"
        Image.fromarray(image).save(target)
        print(target, file=streams.out)
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


def _coverage(text: str) -> float:
    """``--coverage``: a probability strictly between 0 and 1, checked before any file is read."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not strictly between 0 and 1")
    return value


def _views(text: str) -> tuple[View, ...]:
    """``--views``: ``0,20,-20`` or ``yaw:pitch`` pairs, parsed before any file is read."""
    from facevlm.render.views import parse_views

    try:
        return parse_views(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def _predict(args: argparse.Namespace, streams: CommandStreams) -> int:
    from facevlm.inference import (
        ModelChoice,
        ModelLoadError,
        Project,
        ProjectError,
        find_inputs,
        load_bundle,
    )
    from facevlm.render.backend import RenderBackendError
    from facevlm.scans.errors import ScanError

    try:
        project = Project.open(args.project)
        bundle = load_bundle(project, ModelChoice(args.model, args.version, args.run))
        # the predictor pulls in open_clip and the renderer (seconds): only once there is a
        # model to predict with, so that a project without one is told so at once
        from facevlm.inference import Predictor

        predictor = Predictor(
            bundle,
            project.render_params,
            modality=args.modality,
            name=args.model,
            coverage=args.coverage,
        )
        predictor.warm_up()  # the OpenGL context and first inference: not one scan's time
    except (ModelLoadError, ProjectError, RenderBackendError) as error:
        return _fail(str(error), streams)
    failed = False
    try:
        for target in args.paths:
            try:
                items = find_inputs(target)
            except ScanError as error:
                failed = bool(_fail(str(error), streams))
                continue
            for item in items:
                try:
                    record = predictor.predict(item).to_json(args.always_answer)
                    print(json.dumps(record), file=streams.out, flush=True)
                except (ScanError, OSError, ValueError, RenderBackendError) as error:
                    reason = str(error)
                    failed = bool(
                        _fail(reason if item.name in reason else f"{item.name}: {reason}", streams)
                    )
    finally:
        predictor.close()
    return EXIT_BAD_INPUT if failed else 0


def _app(args: argparse.Namespace, streams: CommandStreams | None = None) -> int:
    from streamlit.web import cli as streamlit_cli

    from facevlm.app import SCRIPT

    sys.argv = ["streamlit", "run", str(SCRIPT), *args.streamlit_args]
    return streamlit_cli.main()


def build_parser() -> argparse.ArgumentParser:
    from facevlm.model_namespaces import MODEL_NAMESPACES

    parser = argparse.ArgumentParser(prog="facevlm", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    chatter = argparse.ArgumentParser(add_help=False)
    chatter.add_argument(
        "--verbose",
        action="store_true",
        help="also show the libraries' logging and warnings on stderr (default: only errors)",
    )
    one_scan = argparse.ArgumentParser(add_help=False, parents=[chatter])
    one_scan.add_argument(
        "file",
        type=Path,
        help="a scan: .wrl/.vrml (VRML 1.0 or 2.0), .obj, .ply, .stl, .off, .glb/.gltf or .bnt",
    )

    inspect = commands.add_parser(
        "inspect", parents=[one_scan], help="print a scan's structure as JSON"
    )
    inspect.set_defaults(handler=_inspect)

    render = commands.add_parser(
        "render", parents=[one_scan], help="render a scan's views to PNG files"
    )
    render.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    render.add_argument("--size", type=_pixels, default=224, help="image side in pixels (224)")
    render.add_argument(
        "--modality",
        choices=("texture", "shaded", "depth"),
        help="texture (RGB), shaded geometry or depth (default: texture when the scan has one, "
        "shaded otherwise, as predict chooses)",
    )
    render.add_argument(
        "--pose",
        choices=("estimate", "as_stored"),
        default="estimate",
        help="estimate: find the face and turn it face-forward and framed, as the pipelines and "
        "predict do, and refuse a mesh without a face (default); as_stored: the scan's own axes",
    )
    render.add_argument(
        "--views",
        type=_views,
        default="0,20,-20",
        help="yaw angles in degrees, or yaw:pitch pairs, comma-separated (0,20,-20)",
    )
    render.set_defaults(handler=_render)

    predict = commands.add_parser(
        "predict",
        parents=[chatter],
        help="predict the expression of scans and 4D sequences (one JSON line each)",
    )
    predict.add_argument(
        "paths",
        nargs="+",
        metavar="FILE_OR_FOLDER",
        help="a mesh file, or a folder: its numbered frames are a 4D sequence, other meshes scans",
    )
    predict.add_argument(
        "--model",
        choices=MODEL_NAMESPACES,
        default="affectvlm",
        help="the trained model: a 3D one, or that of a 4D or micro-expression pipeline "
        "(affectvlm_4d, smile_4d, smile_mer)",
    )
    predict.add_argument("--version", help="catalog version of <model>.model (default: newest)")
    predict.add_argument("--run", help="an MLflow run id that logged a model, instead of --version")
    predict.add_argument(
        "--modality",
        choices=("texture", "shaded", "depth"),
        help="render modality (default: the one the model was trained with)",
    )
    predict.add_argument(
        "--coverage",
        type=_coverage,
        help="probability that the set of answers (prediction_set) holds the true expression "
        "(default: the model's, 0.9)",
    )
    predict.add_argument(
        "--always-answer",
        action="store_true",
        help="always give an expression as the prediction, even for a scan the model cannot "
        "tell (its face reader disagrees, or for a model without one: unfamiliar, or more than "
        'three plausible expressions), which otherwise gets "prediction": null and '
        '"abstained": true; with a face reader, the best guess of the two readings combined',
    )
    predict.add_argument("--project", type=Path, help="project folder (default: current folder)")
    predict.set_defaults(handler=_predict)

    app = commands.add_parser(
        "app",
        help="start the Streamlit app; further arguments go to `streamlit run`",
        description="Start the Streamlit app from the project root, e.g. "
        "`facevlm app --server.port 8600 --server.headless true`.",
    )
    app.add_argument("streamlit_args", nargs=argparse.REMAINDER, help="passed to streamlit run")
    app.set_defaults(handler=_app)
    return parser


def _fail(message: str, streams: CommandStreams | None = None) -> int:
    """Report on exactly one line of stderr (reasons quoting VTK or PIL may span several)."""
    err = sys.stderr if streams is None else streams.err
    print(f"facevlm: error: {' '.join(message.splitlines())}", file=err, flush=True)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    # every command computes (a render, a prediction, the app's): on the numerical path of the
    # project's runs, set before the imports below load numpy and torch; the module's own
    # imports load neither, so that importing it changes nothing
    pin_process()
    from facevlm.render.backend import RenderBackendError
    from facevlm.scans.errors import ScanError

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["app"]:  # everything after `app` is Streamlit's, options included
        return _app(argparse.Namespace(streamlit_args=argv[1:]))
    args = build_parser().parse_args(argv)
    with command_output(verbose=args.verbose) as streams:
        try:
            return args.handler(args, streams)
        except ScanError as error:
            return _fail(str(error), streams)
        except FileNotFoundError as error:
            return _fail(f"{error.filename}: file not found", streams)
        except (OSError, ValueError, RenderBackendError) as error:
            return _fail(f"{getattr(args, 'file', 'facevlm')}: {error}", streams)
        except MemoryError:  # whatever the readers' limits missed: still one line, no traceback
            return _fail(f"{getattr(args, 'file', 'facevlm')}: out of memory", streams)


if __name__ == "__main__":
    sys.exit(main())
