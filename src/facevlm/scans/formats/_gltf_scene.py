"""The scene of a glTF file: which meshes it places where, counted before anything is placed.

Separate from :mod:`.gltf` (which reads each placed primitive into the surface) because this
part is only about the node graph: the default scene's root nodes (or every node no other node
holds), each node's transform accumulated down the hierarchy, and the meshes the nodes hold. A
node may be the child of several nodes, and each path to it places its mesh again; so the
nodes, parts, triangles and vertices a scene would place are counted per node, bottom-up, from
the counts its accessors declare, and refused above the read limits before a single transform is
applied or array read (:func:`mesh_instances`).
"""

from __future__ import annotations

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._gltf_container import Document
from facevlm.scans.formats.limits import ReadLimits

TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN = 4, 5, 6
#: Nodes deeper than this in the hierarchy: a file that nests this far is broken or hostile.
MAX_DEPTH = 256
#: Node placements (a node reached along several paths counts once per path) and mesh parts
#: one scene may place: a phone scan places a handful, an assembled head a few hundred.
MAX_NODE_INSTANCES = 100_000
MAX_PARTS = 1_000
#: Counts are summed no higher than this (a graph of shared nodes can place 2^256 meshes).
_CAP = 2**62


def _roots(doc: Document) -> list:
    """The nodes the scene starts from: the default scene's, or every node no other holds."""
    if doc.items("scenes"):
        scene = doc.item("scenes", doc.json.get("scene", 0), "the default scene")
        roots = scene.get("nodes", [])
    else:
        nodes = doc.items("nodes")
        held = set()
        for index in range(len(nodes)):
            held.update(_children(doc, doc.item("nodes", index, "the node list"), index))
        roots = [i for i in range(len(nodes)) if i not in held]
    if not isinstance(roots, list):
        raise ScanError(doc.path, "the scene's 'nodes' is not a list")
    return roots


def mesh_instances(doc: Document, limits: ReadLimits) -> list[tuple[int, np.ndarray]]:
    """``(mesh index, 4 x 4 world transform)`` of every mesh the scene places, once the
    placements were counted (:func:`_check_placements`) and found within the limits."""
    roots = _roots(doc)
    _check_placements(doc, roots, limits)
    instances: list[tuple[int, np.ndarray]] = []
    local: dict[int, np.ndarray] = {}  # a node placed along many paths is parsed once
    # depth first, each node with its parent's transform (the graph is known to be acyclic)
    stack = [(root, np.eye(4)) for root in reversed(roots)]
    while stack:
        index, parent = stack.pop()
        node = doc.item("nodes", index, "the scene")
        if index not in local:
            local[index] = _local_transform(doc, node, index)
        world = parent @ local[index]
        if "mesh" in node:
            instances.append((node["mesh"], world))
        for child in reversed(_children(doc, node, index)):
            stack.append((child, world))
    return instances


def _check_placements(doc: Document, roots: list, limits: ReadLimits) -> None:
    """Refuse a node graph that is cyclic, too deep, or places more than the limits allow.

    A node may be the child of several nodes (and a scene may list a node twice): each path to
    it places its mesh again. So the nodes, parts, triangles and vertices the scene would place
    are counted per node bottom-up, from the counts its accessors declare, before any
    transform is applied or any array read: 31 nodes that each hold the next one twice place
    2^30 meshes, refused here in microseconds.
    """
    done: dict[int, tuple[int, int, int, int, int]] = {}  # nodes, parts, triangles, vertices, depth
    active: set[int] = set()
    meshes: dict[int, tuple[int, int, int]] = {}
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        index, finished = stack.pop()
        node = doc.item("nodes", index, "the scene")
        children = _children(doc, node, index)
        if finished:
            active.discard(index)
            parts = triangles = vertices = 0
            if "mesh" in node:
                doc.item("meshes", node["mesh"], f"nodes[{index}]")  # an index, then a key
                if node["mesh"] not in meshes:
                    meshes[node["mesh"]] = _mesh_cost(doc, node["mesh"], f"nodes[{index}]", limits)
                parts, triangles, vertices = meshes[node["mesh"]]
            below = [done[child] for child in children]
            totals = [1, parts, triangles, vertices]
            totals = [min(_CAP, t + sum(b[k] for b in below)) for k, t in enumerate(totals)]
            done[index] = (*totals, 1 + max((b[4] for b in below), default=0))
            continue
        if index in done:
            continue
        if index in active:
            raise ScanError(doc.path, f"the node hierarchy has a cycle through nodes[{index}]")
        active.add(index)
        stack.append((index, True))
        stack.extend((child, False) for child in reversed(children))
    if any(done[root][4] > MAX_DEPTH for root in roots):
        raise ScanError(doc.path, f"the node hierarchy is deeper than {MAX_DEPTH}")
    nodes, parts, triangles, vertices = (
        min(_CAP, sum(done[root][k] for root in roots)) for k in range(4)
    )
    checks = (
        (triangles, "triangles", f"the limit of {limits.max_polygons} (limits.max_polygons)",
         limits.max_polygons),
        (vertices, "vertices before welding",
         f"3 x the limit of {limits.max_vertices} (limits.max_vertices)", 3 * limits.max_vertices),
        (parts, "mesh parts (primitives)", f"the {MAX_PARTS} a scene may place", MAX_PARTS),
        (nodes, "nodes", f"the {MAX_NODE_INSTANCES} a scene may place", MAX_NODE_INSTANCES),
    )  # fmt: skip
    repeated = nodes > len(done) or parts > sum(m[0] for m in meshes.values())
    why = ": nodes reached along many paths or parts repeated multiply the mesh" if repeated else ""
    for count, what, limit_words, limit in checks:
        if count > limit:
            raise ScanError(doc.path, f"the scene places {count} {what}, above {limit_words}{why}")


def _mesh_cost(doc: Document, mesh_index, what: str, limits: ReadLimits) -> tuple[int, int, int]:
    """``(parts, triangles, vertices)`` one instance of a mesh places, from the counts its
    accessors declare (nothing is read)."""
    parts = triangles = vertices = 0
    primitives = primitives_of(doc, mesh_index, what)
    if len(primitives) > MAX_PARTS:  # before each part's accessors are looked up
        raise ScanError(
            doc.path, f"meshes[{mesh_index}] holds {len(primitives)} parts (primitives), above "
            f"the {MAX_PARTS} a scene may place",
        )  # fmt: skip
    for p, primitive in enumerate(primitives):
        mode = mode_of(doc, primitive, f"meshes[{mesh_index}].primitives[{p}]")
        attributes = primitive.get("attributes")
        drawn = mode in (TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN)
        if not drawn or not isinstance(attributes, dict) or "POSITION" not in attributes:
            continue  # left out, or refused with its reason when the primitive is read
        label = f"meshes[{mesh_index}].primitives[{p}]"
        n_positions = doc.declared_count(
            attributes["POSITION"], f"{label} POSITION", limits.max_vertices, "max_vertices"
        )
        n_indices = n_positions
        if "indices" in primitive:
            n_indices = doc.declared_count(
                primitive["indices"], f"{label} indices", max_indices(limits), "max_polygons"
            )
        parts += 1
        vertices += n_positions
        triangles += n_indices // 3 if mode == TRIANGLES else max(n_indices - 2, 0)
    return parts, triangles, vertices


def max_indices(limits: ReadLimits) -> int:
    """Indices one primitive may hold: a strip of ``max_polygons`` triangles."""
    return 3 * limits.max_polygons + 2


def mode_of(doc: Document, primitive: dict, label: str) -> int:
    """A primitive's ``mode`` (triangles when absent), checked to be an integer."""
    mode = primitive.get("mode", TRIANGLES)
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise ScanError(doc.path, f"invalid {label}: mode must be an integer")
    return mode


def _children(doc: Document, node: dict, index: int) -> list[int]:
    children = node.get("children", [])
    if not isinstance(children, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in children
    ):
        raise ScanError(doc.path, f"invalid nodes[{index}]: children must be a list of indices")
    return children


def _local_transform(doc: Document, node: dict, index: int) -> np.ndarray:
    """A node's 4 x 4 transform: its column-major ``matrix``, else T * R * S."""
    if "matrix" in node:
        return _numbers(doc, node["matrix"], 16, f"nodes[{index}].matrix").reshape(4, 4).T
    transform = np.eye(4)
    if "scale" in node:
        transform = np.diag([*_numbers(doc, node["scale"], 3, f"nodes[{index}].scale"), 1.0])
    if "rotation" in node:
        from scipy.spatial.transform import Rotation

        quaternion = _numbers(doc, node["rotation"], 4, f"nodes[{index}].rotation")  # x y z w
        if not np.linalg.norm(quaternion) > 0:
            raise ScanError(doc.path, f"nodes[{index}].rotation is not a rotation (all zero)")
        rotation = np.eye(4)
        rotation[:3, :3] = Rotation.from_quat(quaternion).as_matrix()  # normalised first
        transform = rotation @ transform
    if "translation" in node:
        shift = np.eye(4)
        shift[:3, 3] = _numbers(doc, node["translation"], 3, f"nodes[{index}].translation")
        transform = shift @ transform
    return transform


def _numbers(doc: Document, value, n: int, what: str) -> np.ndarray:
    ok = isinstance(value, list) and len(value) == n
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    array = np.array([np.nan])
    if ok and all(isinstance(v, float) or abs(v) < 2**1000 for v in value):
        array = np.array([float(v) for v in value])  # an integer of 400 digits is no float
    if not np.isfinite(array).all():
        raise ScanError(doc.path, f"{what} must be {n} finite numbers")
    return array


def primitives_of(doc: Document, mesh_index: int, what: str = "a node") -> list[dict]:
    primitives = doc.item("meshes", mesh_index, what).get("primitives")
    if not isinstance(primitives, list) or not all(isinstance(p, dict) for p in primitives):
        raise ScanError(doc.path, f"meshes[{mesh_index}].primitives is not a list of objects")
    return primitives
