"""Render one face scan into V images, one per camera view, with ONE reused offscreen plotter.

Why one plotter, reused: creating a VTK window and OpenGL context costs far more than rendering
a 224 px view, and software OpenGL (llvmpipe) recompiles its shaders per context. So a
:class:`MultiviewRenderer` owns one pyvista ``Plotter`` for its whole life; per mesh it swaps in
a fresh ``vtkPolyData`` (and texture image) under the same mapper and actor, and per view it only
moves the camera, renders and reads the pixels back. Everything a mesh sets (geometry, UVs,
normals, colours, texture, camera) is set again for the next one, so nothing leaks between meshes.

The scene is fixed in the face's canonical frame: with ``pose: estimate`` (the project's) the
face found on the scan (:mod:`facevlm.render.face_pose`, any orientation, units and crop) looks
along +z with y up and its face box has radius 1 at the origin, and only the face oval is drawn
(:mod:`facevlm.render.face_region`: no ears, skull, neck or shoulders); with
``pose: as_stored`` the scan's own axes are kept and its robust sphere
(:mod:`facevlm.render.normalize`) is framed instead. The camera
is a parallel projection showing a square of half-side ``1 / fill``, from
:class:`~facevlm.render.views.View` angles.

Modalities (``docs/methods.md``: texture default, shaded geometry, depth):

- ``texture``: the scan's texture (or its vertex colours), *unlit* by default: the photo already
  holds the light of the capture, and lighting it again darkens the sides of side views.
- ``shaded``: geometry only, uniform grey, smooth normals, one headlight that moves with the
  camera (so every view is lit the same way relative to the viewer).
- ``depth``: the z-buffer mapped to grey, linear in depth because the projection is parallel:
  255 at the front of the face's robust sphere, 1 at its back, 0 only for background (black,
  whatever ``background`` says). Fixed mapping, not stretched per image, so depth grey levels
  mean the same (relative) depth in every render.

A renderer draws one modality; a render setting may name several (``texture+shaded``,
:func:`~facevlm.render.settings.parse_modalities`), which the render pipeline renders one after
the other, so that one model can be trained on textured and on geometry-only renders of the same
scans. The settings themselves live in :mod:`facevlm.render.settings`, which needs no VTK.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkFloatArray, vtkPoints, vtkUnsignedCharArray
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkLight, vtkPolyDataMapper, vtkTexture

# registers the OpenGL implementations behind the vtkRenderingCore factories (mapper, texture)
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  isort: skip

from facevlm.render.arrays import render_arrays, smooth_normals
from facevlm.render.backend import check_render_backend
from facevlm.render.face_pose import FacePose, face_pose_of
from facevlm.render.face_region import in_face_region
from facevlm.render.settings import RenderSettings
from facevlm.render.texture import load_texture, to_vtk_image
from facevlm.render.views import View
from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh

#: Camera distance from the face centre, in robust radii. Irrelevant to the image under a
#: parallel projection; only the clipping range below depends on it.
CAMERA_DISTANCE = 10.0
#: Keep what lies within this many robust radii of the centre along the view axis; scanner
#: spikes further out are clipped away.
CLIP_HALF_DEPTH = 3.0
#: The depth grey ramp spans the robust sphere: +1 (front) -> 255, -1 (back) -> 1.
DEPTH_HALF_RANGE = 1.0
#: Material of the ``shaded`` modality (and of a lit ``texture``).
SHADED_GREY = 0.75
AMBIENT, DIFFUSE = 0.15, 0.85


def _polydata(points: np.ndarray, triangles: np.ndarray) -> vtkPolyData:
    """A fresh ``vtkPolyData`` of triangles (deep copies: VTK owns its memory)."""
    polydata = vtkPolyData()
    vtk_points = vtkPoints()
    vtk_points.SetData(numpy_to_vtk(np.ascontiguousarray(points, dtype=np.float32), deep=True))
    polydata.SetPoints(vtk_points)
    offsets = np.arange(0, 3 * len(triangles) + 1, 3, dtype=np.int64)
    cells = vtkCellArray()
    cells.SetData(
        numpy_to_vtkIdTypeArray(offsets, deep=True),
        numpy_to_vtkIdTypeArray(np.ascontiguousarray(triangles, dtype=np.int64).ravel(), deep=True),
    )
    polydata.SetPolys(cells)
    return polydata


class MultiviewRenderer:
    """Renders :class:`FaceMesh` scans into ``(V, H, W, 3)`` uint8 arrays, one plotter for life.

    >>> renderer = MultiviewRenderer(RenderSettings(modality="shaded"))  # doctest: +SKIP
    >>> images = renderer.render(mesh)  # (3, 224, 224, 3)                # doctest: +SKIP

    Not thread-safe (one OpenGL context); use one per process (see :mod:`.parallel`).
    """

    def __init__(self, settings: RenderSettings | None = None) -> None:
        self.settings = settings or RenderSettings()
        check_render_backend()  # raises a clear error where VTK would segfault
        import pyvista as pv  # after the check: importing is safe, rendering might not be

        size = int(self.settings.size)
        self._plotter = pv.Plotter(off_screen=True, window_size=[size, size], lighting="none")
        self._window = self._plotter.render_window
        self._window.SetMultiSamples(0)  # no MSAA: several times faster in software GL
        renderer = self._plotter.renderer
        background = (0, 0, 0) if self.settings.modality == "depth" else self.settings.background
        renderer.SetBackground(*(c / 255.0 for c in background))

        self._mapper = vtkPolyDataMapper()
        self._actor = vtkActor()
        self._actor.SetMapper(self._mapper)
        self._texture = vtkTexture()
        self._texture.InterpolateOn()
        self._texture.EdgeClampOn()  # no wrap-around bleeding at the atlas borders
        prop = self._actor.GetProperty()
        if self.settings.lit:
            prop.LightingOn()
            prop.SetAmbient(AMBIENT)
            prop.SetDiffuse(DIFFUSE)
            prop.SetSpecular(0.0)
            light = vtkLight()
            light.SetLightTypeToHeadlight()
            renderer.AddLight(light)
        else:
            prop.LightingOff()
        grey = SHADED_GREY if self.settings.modality == "shaded" else 1.0
        prop.SetColor(grey, grey, grey)
        self._plotter.add_actor(self._actor, reset_camera=False, pickable=False, render=False)

        self._camera = renderer.GetActiveCamera()
        self._camera.ParallelProjectionOn()
        self._camera.SetParallelScale(1.0 / self.settings.fill)
        self._pixels = vtkUnsignedCharArray()
        self._zbuffer = vtkFloatArray()

    # ------------------------------------------------------------------ public
    @property
    def views(self) -> tuple[View, ...]:
        return self.settings.views

    def render(
        self, mesh: FaceMesh, texture: np.ndarray | None = None, pose: FacePose | None = None
    ) -> np.ndarray:
        """All views of ``mesh``: ``(V, size, size, 3)`` uint8, in ``settings.views`` order.

        ``texture`` (``(H, W, 3)`` uint8, row 0 at the top) overrides ``mesh.texture_path``.
        ``pose`` (e.g. the one pose of a whole 4D sequence) overrides ``settings.pose``.
        Raises :class:`ScanError` for an unusable mesh or a missing/unreadable texture, and its
        :class:`~facevlm.render.face_pose.NotAFaceError` when no face is found on the mesh.
        """
        self._load(mesh, texture, pose)
        size = int(self.settings.size)
        images = np.empty((len(self.views), size, size, 3), dtype=np.uint8)
        for k, view in enumerate(self.views):
            self._point_camera(view)
            self._window.Render()
            images[k] = (
                self._read_depth() if self.settings.modality == "depth" else self._read_rgb()
            )
        return images

    def close(self) -> None:
        """Release the window and its OpenGL context."""
        if self._plotter is not None:
            self._plotter.close()
            self._plotter = None

    def __enter__(self) -> MultiviewRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ per mesh
    def _load(self, mesh: FaceMesh, texture: np.ndarray | None, pose: FacePose | None) -> None:
        """Swap ``mesh`` into the actor: fresh polydata, and texture or colours as needed."""
        if self._plotter is None:
            raise RuntimeError("this MultiviewRenderer is closed")
        mesh.validate()
        pose = pose or face_pose_of(mesh, self.settings.pose)
        arrays = render_arrays(mesh)
        points = pose.normalization().apply(arrays.points)
        triangles = arrays.triangles
        if pose.estimated:  # cut to the face oval, whatever crop the scanner made
            triangles = triangles[in_face_region(points)[triangles].all(axis=1)]
        polydata = _polydata(points, triangles)
        self._actor.SetTexture(None)
        self._mapper.ScalarVisibilityOff()
        if self.settings.modality == "texture":
            if arrays.tcoords is not None:
                image = texture if texture is not None else self._texture_of(mesh)
                try:
                    self._texture.SetInputData(to_vtk_image(image))
                except ValueError as exc:
                    raise ScanError(mesh.source, f"bad texture: {exc}") from exc
                tcoords = numpy_to_vtk(arrays.tcoords.astype(np.float32), deep=True)
                polydata.GetPointData().SetTCoords(tcoords)
                self._actor.SetTexture(self._texture)
            elif mesh.vertex_colors is not None:
                colours = np.ascontiguousarray(mesh.vertex_colors[arrays.point_vertex], np.uint8)
                polydata.GetPointData().SetScalars(numpy_to_vtk(colours, deep=True))
                self._mapper.SetColorModeToDirectScalars()
                self._mapper.SetScalarModeToUsePointData()
                self._mapper.ScalarVisibilityOn()
            else:
                raise ScanError(
                    mesh.source,
                    "texture modality needs UVs or vertex colours; the mesh has neither",
                )
        if self.settings.lit:
            normals = numpy_to_vtk(smooth_normals(arrays, points).astype(np.float32), deep=True)
            polydata.GetPointData().SetNormals(normals)
        self._mapper.SetInputData(polydata)

    @staticmethod
    def _texture_of(mesh: FaceMesh) -> np.ndarray:
        if mesh.texture_image is not None:  # embedded in the scan file, decoded by its reader
            return mesh.texture_image
        if mesh.texture_path is None:
            raise ScanError(mesh.source, "mesh has UVs but names no texture image")
        return load_texture(mesh.texture_path)

    # ------------------------------------------------------------------ per view
    def _point_camera(self, view: View) -> None:
        """Set the whole camera state (nothing inherited from the previous view or mesh)."""
        direction = np.asarray(view.direction()) * CAMERA_DISTANCE
        self._camera.SetFocalPoint(0.0, 0.0, 0.0)
        self._camera.SetPosition(*direction)
        self._camera.SetViewUp(*view.up())
        self._camera.SetParallelScale(1.0 / self.settings.fill)
        self._camera.SetClippingRange(
            CAMERA_DISTANCE - CLIP_HALF_DEPTH, CAMERA_DISTANCE + CLIP_HALF_DEPTH
        )

    def _read_rgb(self) -> np.ndarray:
        size = int(self.settings.size)
        self._window.GetPixelData(0, 0, size - 1, size - 1, 0, self._pixels, 0)
        return vtk_to_numpy(self._pixels).reshape(size, size, 3)[::-1]

    def _read_depth(self) -> np.ndarray:
        """Grey image of the z-buffer: linear in depth under the parallel projection."""
        size = int(self.settings.size)
        self._window.GetZbufferData(0, 0, size - 1, size - 1, self._zbuffer)
        z = vtk_to_numpy(self._zbuffer).reshape(size, size)[::-1]
        near = CAMERA_DISTANCE - CLIP_HALF_DEPTH
        distance = near + z * (2.0 * CLIP_HALF_DEPTH)  # from the camera, along the view axis
        height = CAMERA_DISTANCE - distance  # toward the camera from the face centre
        ramp = np.clip((height + DEPTH_HALF_RANGE) / (2.0 * DEPTH_HALF_RANGE), 0.0, 1.0)
        grey = np.where(z < 1.0, 1.0 + 254.0 * ramp, 0.0).round().astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
