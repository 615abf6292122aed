"""Scenes for the simulator: triangle meshes with solid procedural textures, ray cast with
Open3D's ``RaycastingScene``.

World frame: metres, z up.  Cameras follow OpenCV (x right, y down, z forward); poses are 4x4
``cam2world`` matrices (see :func:`look_at`).

Example
-------
>>> from depthkit.sim import make_scene, camera_rays
>>> from depthkit.types import Intrinsics
>>> scene = make_scene("tabletop", seed=1)
>>> o, d = camera_rays(Intrinsics(32, 24, 25.0, 25.0, 15.5, 11.5), scene.default_pose)
>>> hits = scene.raycast(o, d)
>>> sorted(hits)
['albedo', 'geometry_ids', 'normals', 'points', 'rgb', 'shading', 't_hit']
>>> bool(0.5 < hits["t_hit"].min() and hits["t_hit"].max() < 2.6)
True
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass

import numpy as np

from .._optional import require
from ..errors import ParameterError
from ..types import Intrinsics
from . import _kernels, textures

log = logging.getLogger(__name__)

__all__ = ["Scene", "SceneObject", "make_scene", "SCENES", "camera_rays", "look_at",
           "box", "sphere", "cylinder", "quad"]

_TEXTURES = ("noise", "checker", "plain", "image")
#: Contrast stretch of the fine noise and of the colour tint (value noise clusters near 0.5).
FINE_GAIN = 3.2
TINT_GAIN = 2.5
#: Texturing runs multi-threaded from this many rays on.
PARALLEL_MIN_RAYS = 100_000
#: Ray casts of at least this many rays are split across threads (Open3D casts one batch on
#: one thread here, and releases the GIL while it casts).
CAST_SPLIT_MIN_RAYS = 50_000
#: Albedo of the chessboard's black and white squares.
CHECKER_BLACK, CHECKER_WHITE = 0.06, 0.9


def _cast_threads() -> int:
    import numba

    return max(1, int(numba.get_num_threads()))


_POOL: list = [None, None]          # [pid, ThreadPoolExecutor]


def _cast_pool():
    """The worker threads of split casts (one pool per process: a forked child gets its own,
    the parent's threads do not exist there)."""
    if _POOL[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        _POOL[1] = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                      thread_name_prefix="depthkit-cast")
        _POOL[0] = os.getpid()
    return _POOL[1]


# --------------------------------------------------------------------------------------------
# geometry helpers
# --------------------------------------------------------------------------------------------
def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """``cam2world`` (4x4) of a camera at `eye` looking at `target` (OpenCV axes).

    Parameters
    ----------
    eye, target : (3,) arrays
        Camera centre and a point on its optical axis, world metres.
    up : (3,) array
        World up; the image's y axis points the other way.

    Examples
    --------
    >>> T = look_at((0, 0, 1), (0, 5, 1))
    >>> T[:3, 2].tolist(), T[:3, 1].tolist()       # looks along +y, image down = world -z
    ([0.0, 1.0, 0.0], [0.0, 0.0, -1.0])
    """
    eye = np.asarray(eye, np.float64)
    z = np.asarray(target, np.float64) - eye
    if np.linalg.norm(z) == 0:
        raise ParameterError("look_at: eye and target are the same point.")
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, np.float64))
    if np.linalg.norm(x) < 1e-9:
        raise ParameterError(
            "look_at: the viewing direction is parallel to `up`; choose another up.")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def _rot_z(yaw):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


@functools.lru_cache(maxsize=32)
def _camera_dirs(intr: Intrinsics) -> np.ndarray:
    """Unit ray directions (H*W, 3) float64 in the camera frame, row-major pixel order.

    Pixel centres sit at integer coordinates (OpenCV).  Distorted cameras use the exact
    inverse of OpenCV's distortion model (``cv2.undistortPointsIter``).
    """
    u, v = np.meshgrid(np.arange(intr.width, dtype=np.float64),
                       np.arange(intr.height, dtype=np.float64))
    if intr.distortion and any(intr.distortion):
        import cv2

        pts = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-12)
        xy = cv2.undistortPointsIter(pts, intr.K, intr.D, None, None, crit).reshape(-1, 2)
        x, y = xy[:, 0], xy[:, 1]
    else:
        x = (u.ravel() - intr.cx) / intr.fx
        y = (v.ravel() - intr.cy) / intr.fy
    d = np.stack([x, y, np.ones_like(x)], axis=1)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d.flags.writeable = False
    return d


def camera_rays(intrinsics: Intrinsics, cam2world) -> tuple[np.ndarray, np.ndarray]:
    """Rays through every pixel centre of a (possibly distorted) pinhole camera.

    Parameters
    ----------
    intrinsics : Intrinsics
        Camera; with distortion, the rays are those of the *distorted* (raw) pixels.
    cam2world : (4, 4) array
        Camera pose.

    Returns
    -------
    origins, directions : (H*W, 3) float32 arrays
        Row-major pixel order; directions are unit vectors in world coordinates, so a ray's
        ``t_hit`` is the distance in metres.  z-depth = ``t_hit * dirs_cam[:, 2]``.

    Examples
    --------
    >>> import numpy as np
    >>> from depthkit.types import Intrinsics
    >>> o, d = camera_rays(Intrinsics(4, 3, 2.0, 2.0, 1.5, 1.0), np.eye(4))
    >>> d.shape, [round(float(v), 3) for v in d[5]]   # pixel (x=1, y=1): left of the axis
    ((12, 3), [-0.243, 0.0, 0.97])
    """
    T = np.asarray(cam2world, np.float64)
    if T.shape != (4, 4):
        raise ParameterError(f"cam2world must be 4x4; got shape {T.shape}.")
    d = _camera_dirs(intrinsics) @ T[:3, :3].T
    o = np.broadcast_to(T[:3, 3], d.shape)
    return o.astype(np.float32), d.astype(np.float32)


def box(size, center, yaw=0.0):
    """Vertices and triangles of an axis-aligned (then yawed about z) box."""
    o3d = require("open3d")
    sx, sy, sz = size
    m = o3d.geometry.TriangleMesh.create_box(sx, sy, sz)
    v = np.asarray(m.vertices) - np.array([sx, sy, sz]) / 2
    return v @ _rot_z(yaw).T + np.asarray(center, np.float64), np.asarray(m.triangles)


def sphere(radius, center, resolution=32):
    o3d = require("open3d")
    m = o3d.geometry.TriangleMesh.create_sphere(radius, resolution)
    return np.asarray(m.vertices) + np.asarray(center, np.float64), np.asarray(m.triangles)


def cylinder(radius, height, center, resolution=40):
    """Upright (z axis) cylinder centred at `center`."""
    o3d = require("open3d")
    m = o3d.geometry.TriangleMesh.create_cylinder(radius, height, resolution, 2)
    return np.asarray(m.vertices) + np.asarray(center, np.float64), np.asarray(m.triangles)


def quad(corner, edge_u, edge_v):
    """A parallelogram ``corner + a*edge_u + b*edge_v``, a, b in [0, 1] (two triangles)."""
    c, eu, ev = (np.asarray(a, np.float64) for a in (corner, edge_u, edge_v))
    v = np.array([c, c + eu, c + eu + ev, c + ev])
    return v, np.array([[0, 1, 2], [0, 2, 3]])


# --------------------------------------------------------------------------------------------
# scene
# --------------------------------------------------------------------------------------------
@dataclass
class SceneObject:
    """One mesh with its surface.

    ``texture``: ``"noise"`` (colour between `color` and `color2`, fine grey noise on top),
    ``"checker"`` (a chessboard; ``board`` = dict(world2board 4x4, square, cols, rows)),
    ``"plain"`` (uniform `color`), or ``"image"`` (a printed grey image, e.g. a ChArUco board;
    ``board`` = dict(world2board 4x4, image (H, W) float in [0, 1], pixel_m); image pixel
    (i, j) covers board x in [j, j+1)·pixel_m, y in [i, i+1)·pixel_m; white outside).
    """

    name: str
    vertices: np.ndarray
    triangles: np.ndarray
    color: tuple = (0.7, 0.7, 0.7)
    color2: tuple = (0.5, 0.5, 0.5)
    texture: str = "noise"
    seed: int = 0
    board: dict | None = None

    def __post_init__(self):
        self.vertices = np.ascontiguousarray(self.vertices, np.float32).reshape(-1, 3)
        self.triangles = np.ascontiguousarray(self.triangles, np.uint32).reshape(-1, 3)
        if self.texture not in _TEXTURES:
            raise ParameterError(f"unknown texture {self.texture!r}; use one of {_TEXTURES}.")
        need = {"checker": ("world2board", "square", "cols", "rows"),
                "image": ("world2board", "image", "pixel_m")}.get(self.texture, ())
        missing = [k for k in need if k not in (self.board or {})]
        if missing:
            raise ParameterError(
                f"a {self.texture!r} texture needs board={{{', '.join(need)}}}; "
                f"missing {', '.join(missing)}.")


class Scene:
    """A set of textured meshes that can be ray cast.

    Parameters
    ----------
    objects : list of SceneObject
    name : str
    seed : int
    default_pose : (4, 4) array
        A good ``cam2world`` for the left camera.
    light_dir : (3,) array
        Direction *towards* a distant light (world); shading is Lambertian and view-independent.
    ambient : float
        Share of the light that reaches every surface whatever its orientation (0-1).
    depth_range : (float, float)
        Typical near/far distances from the default pose, metres (for disparity ranges).
    """

    def __init__(self, objects, *, name="custom", seed=0, default_pose=None,
                 light_dir=(0.3, -0.5, 0.8), ambient=0.4, depth_range=(0.3, 10.0)):
        self.objects: list[SceneObject] = list(objects)
        self.name = name
        self.seed = int(seed)
        self.default_pose = np.eye(4) if default_pose is None else np.asarray(default_pose, float)
        ld = np.asarray(light_dir, np.float64)
        self.light_dir = ld / np.linalg.norm(ld)
        self.ambient = float(ambient)
        self.depth_range = tuple(float(x) for x in depth_range)
        self._o3d_scene = None

    def add(self, obj: SceneObject) -> int:
        """Add an object; returns its geometry id."""
        self.objects.append(obj)
        self._o3d_scene = None
        return len(self.objects) - 1

    def add_mesh(self, mesh, *, name="mesh", color=(0.7, 0.7, 0.7), color2=None,
                 texture="noise", seed=None) -> int:
        """Add an Open3D ``TriangleMesh`` (legacy or tensor) or a ``(vertices, triangles)`` pair."""
        if isinstance(mesh, tuple):
            v, t = mesh
        elif hasattr(mesh, "vertex") and hasattr(mesh, "triangle"):  # tensor mesh
            v, t = mesh.vertex.positions.numpy(), mesh.triangle.indices.numpy()
        else:
            v, t = np.asarray(mesh.vertices), np.asarray(mesh.triangles)
        c2 = tuple(0.6 * np.asarray(color)) if color2 is None else color2
        s = len(self.objects) + 1000 * self.seed if seed is None else seed
        return self.add(SceneObject(name, v, t, tuple(color), c2, texture, s))

    # ----------------------------------------------------------------------------------------
    def _build(self):
        o3d = require("open3d")
        sc = o3d.t.geometry.RaycastingScene()
        for obj in self.objects:
            sc.add_triangles(o3d.core.Tensor(obj.vertices), o3d.core.Tensor(obj.triangles))
        # commit the BVH now (Open3D does so lazily on the first cast, which must not race
        # between the threads of a split cast)
        sc.cast_rays(o3d.core.Tensor(np.array([[0, 0, 0, 0, 0, 1]], np.float32)))
        self._o3d_scene = sc
        self._kind = np.array([_TEXTURES.index(o.texture) for o in self.objects], np.int8)
        self._seeds = np.array([o.seed for o in self.objects], np.int64)
        self._c1 = np.array([o.color for o in self.objects], np.float32).reshape(-1, 3)
        self._c2 = np.array([o.color2 for o in self.objects], np.float32).reshape(-1, 3)
        self._has_checker = bool(np.any((self._kind == 1) | (self._kind == 3)))
        self._mips = {}
        for g in np.flatnonzero(self._kind == 3):
            self._mips[int(g)] = _mipmap(self.objects[g].board["image"])
        log.debug("built scene %s with %d objects", self.name, len(self.objects))
        return sc

    def raycast(self, origins, directions, *, pixel_angle_rad=None, texture=True) -> dict:
        """Cast rays and shade the hits with the solid textures.

        Parameters
        ----------
        origins, directions : (N, 3) float arrays
            Ray origins and **unit** directions (world), e.g. from :func:`camera_rays`.
        pixel_angle_rad : float or (N,) array, optional
            Angular pixel size (about ``1/f``); texture detail finer than ~2 pixels is faded
            out (anti-aliasing).  ``None``: the texture as it is at the point.
        texture : bool
            False skips the colour evaluation (geometry only; faster).

        Returns
        -------
        dict with
            ``t_hit`` (N,) float32 distance along the ray, ``inf`` on a miss;
            ``points`` (N, 3) float64 world hit points (NaN on a miss);
            ``normals`` (N, 3) float32 world unit normals facing the ray origin (0 on a miss);
            ``geometry_ids`` (N,) int32 object index, -1 on a miss;
            ``rgb`` (N, 3) float32 albedo colour in [0, 1] (0 on a miss);
            ``albedo`` (N,) float32 grey albedo in [0, 1] (mean of rgb);
            ``shading`` (N,) float32 Lambertian light factor in [0, 1] (``ambient`` +
            diffuse from ``light_dir``; view-independent).
        """
        o = np.asarray(origins, np.float32).reshape(-1, 3)
        d = np.asarray(directions, np.float32).reshape(-1, 3)
        if o.shape != d.shape:
            raise ParameterError(f"origins {o.shape} and directions {d.shape} differ in shape.")
        rays = np.empty((o.shape[0], 6), np.float32)
        rays[:, :3] = o
        rays[:, 3:] = d
        return self._cast(rays, pixel_angle_rad, texture)

    def _t_hit(self, rays) -> np.ndarray:
        """Distances only (N,) float32, inf on a miss, for a prepared (N, 6) float32 ray array
        (visibility and shadow tests)."""
        return self._cast_rays(rays, ("t_hit",))["t_hit"]

    def _cast_rays(self, rays, keys=("t_hit", "geometry_ids", "primitive_normals")) -> dict:
        """Open3D's ``cast_rays`` on (N, 6) float32 rays -> dict of numpy arrays (`keys`).

        Large batches are cast in parallel, one chunk per thread (numba's thread count), each
        on one Open3D thread so that nothing is oversubscribed; small ones on at most that many
        Open3D threads (its default, every core, made two single-threaded worker processes
        fight over the cores: local:2 ran at 1.55x local:1). Results do not depend on the
        split (every ray is cast on its own).
        """
        o3d = require("open3d")
        sc = self._o3d_scene if self._o3d_scene is not None else self._build()
        rays = np.ascontiguousarray(rays, np.float32)
        n = rays.shape[0]
        k = min(_cast_threads(), max(1, n // CAST_SPLIT_MIN_RAYS))
        if k <= 1:
            # Open3D would use every core: keep to the thread budget (a worker process of
            # `--workers` or a Dask cluster has one thread, and N of them share N cores)
            res = sc.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=_cast_threads())
            return {key: res[key].numpy() for key in keys}
        bounds = np.linspace(0, n, k + 1).astype(int)
        parts = list(_cast_pool().map(
            lambda ab: sc.cast_rays(o3d.core.Tensor.from_numpy(rays[ab[0]:ab[1]]), nthreads=1),
            zip(bounds[:-1], bounds[1:])))
        out = {}
        for key in keys:
            first = parts[0][key].numpy()
            arr = np.empty((n,) + first.shape[1:], first.dtype)
            for (a, b), part in zip(zip(bounds[:-1], bounds[1:]), parts):
                arr[a:b] = part[key].numpy()
            out[key] = arr
        return out

    def _cast(self, rays, pixel_angle_rad, texture) -> dict:
        """:meth:`raycast` on a prepared (N, 6) float32 ray array."""
        n = rays.shape[0]
        res = self._cast_rays(rays)
        t = res["t_hit"]
        pa = np.ascontiguousarray(np.broadcast_to(
            np.asarray(0.0 if pixel_angle_rad is None else pixel_angle_rad, np.float64), (n,)))
        points = np.empty((n, 3), np.float64)
        normals = np.empty((n, 3), np.float32)
        gid = np.empty(n, np.int32)
        shading = np.empty(n, np.float32)
        rgb = np.empty((n, 3) if texture else (1, 3), np.float32)
        albedo = np.empty(n if texture else 1, np.float32)
        fine, tint = (np.asarray(o, np.float64) for o in (textures.NOISE_OCTAVES,
                                                            textures.TINT_OCTAVES))
        kernel = (_kernels.shade_hits if texture and n >= PARALLEL_MIN_RAYS
                  else _kernels.shade_hits_serial)
        kernel(
            rays, np.ascontiguousarray(t), np.ascontiguousarray(res["geometry_ids"]),
            np.ascontiguousarray(res["primitive_normals"]), self.light_dir,
            self.ambient, self._kind, self._seeds, self._c1, self._c2,
            np.ascontiguousarray(fine[:, 0]), np.ascontiguousarray(fine[:, 1]),
            np.ascontiguousarray(tint[:, 0]), np.ascontiguousarray(tint[:, 1]),
            FINE_GAIN, TINT_GAIN, pa, bool(texture), points, normals, gid, shading, rgb, albedo)
        out = {"t_hit": t, "points": points, "normals": normals, "geometry_ids": gid,
               "shading": shading}
        if texture:
            if self._has_checker:
                self._checker(points, gid, t * pa, rgb, albedo)
            out["rgb"] = rgb
            out["albedo"] = albedo
        return out

    def _checker(self, p, gid, fp, rgb, albedo):
        """Fill the rgb of hits on chessboard and image objects (few pixels; plain numpy)."""
        for g in np.flatnonzero((self._kind == 1) | (self._kind == 3)):
            s = np.flatnonzero(gid == g)
            if not s.size:
                continue
            b = self.objects[g].board
            q = p[s] @ b["world2board"][:3, :3].T + b["world2board"][:3, 3]
            if self._kind[g] == 3:
                a = _sample_mipmap(self._mips[int(g)], q[:, 0] / b["pixel_m"],
                                   q[:, 1] / b["pixel_m"], fp[s] / b["pixel_m"])
                a = CHECKER_BLACK + (CHECKER_WHITE - CHECKER_BLACK) * a
                rgb[s] = a[:, None]
                albedo[s] = a
                continue
            sq = b["square"]
            c = textures.checker(q[:, 0], q[:, 1], sq, footprint=fp[s])
            inside = ((q[:, 0] >= 0) & (q[:, 0] <= b["cols"] * sq)
                      & (q[:, 1] >= 0) & (q[:, 1] <= b["rows"] * sq))
            c = np.where(inside, c, 1.0)
            a = CHECKER_BLACK + (CHECKER_WHITE - CHECKER_BLACK) * c
            rgb[s] = a[:, None]
            albedo[s] = a

    def __repr__(self):
        return f"<Scene {self.name!r} seed={self.seed} objects={len(self.objects)}>"


# --------------------------------------------------------------------------------------------
# built-in scenes
# --------------------------------------------------------------------------------------------
def _palette(rng, n):
    """n pleasant base colours (HSV with moderate saturation)."""
    import colorsys

    hues = rng.uniform(0, 1, n)
    return [colorsys.hsv_to_rgb(h, rng.uniform(0.25, 0.7), rng.uniform(0.55, 0.95)) for h in hues]


def _add(objs, name, mesh, rng, texture="noise", color=None):
    c = _palette(rng, 2) if color is None else [color, tuple(0.6 * np.asarray(color))]
    objs.append(SceneObject(name, mesh[0], mesh[1], c[0], c[1], texture,
                            int(rng.integers(0, 2**31 - 1))))


def _random_props(objs, rng, n, xlim, ylim, z0, scale, avoid=()):
    """Boxes, spheres and cylinders standing on the plane z = z0 inside xlim x ylim."""
    placed = list(avoid)
    for i in range(n):
        for _ in range(50):
            x, y = rng.uniform(*xlim), rng.uniform(*ylim)
            r = scale * rng.uniform(0.5, 1.0)
            if all(np.hypot(x - px, y - py) > r + pr for px, py, pr in placed):
                break
        placed.append((x, y, r))
        kind = ("box", "sphere", "cylinder")[i % 3]
        if kind == "box":
            h = scale * rng.uniform(0.6, 2.2)
            mesh = box((1.3 * r, 1.3 * r * rng.uniform(0.6, 1.2), h), (x, y, z0 + h / 2),
                       rng.uniform(0, np.pi))
        elif kind == "sphere":
            mesh = sphere(0.8 * r, (x, y, z0 + 0.8 * r))
        else:
            h = scale * rng.uniform(0.8, 2.5)
            mesh = cylinder(0.6 * r, h, (x, y, z0 + h / 2))
        _add(objs, f"{kind}{i}", mesh, rng)


def _tabletop(seed):
    rng = np.random.default_rng([seed, 1])
    objs = []
    _add(objs, "floor", quad((-3, -3, 0), (6, 0, 0), (0, 6, 0)), rng)
    _add(objs, "wall", quad((-3, 1.1, 0), (6, 0, 0), (0, 0, 2.6)), rng)
    top = 0.72
    _add(objs, "table", box((1.5, 1.0, 0.04), (0, 0.2, top - 0.02)), rng)
    for sx in (-1, 1):
        for sy in (-1, 1):
            _add(objs, "leg", box((0.05, 0.05, top - 0.04), (0.68 * sx, 0.2 + 0.43 * sy,
                                                            (top - 0.04) / 2)), rng)
    _random_props(objs, rng, 6, (-0.6, 0.6), (-0.15, 0.6), top, 0.14)
    pose = look_at((0.0, -0.75, 1.3), (0.0, 0.35, 0.72))
    return Scene(objs, name="tabletop", seed=seed, default_pose=pose, depth_range=(0.5, 2.5))


def _room(seed):
    rng = np.random.default_rng([seed, 2])
    objs = []
    X, Y, Z = 3.0, 2.5, 2.7
    _add(objs, "floor", quad((-X, -Y, 0), (2 * X, 0, 0), (0, 2 * Y, 0)), rng)
    _add(objs, "ceiling", quad((-X, -Y, Z), (2 * X, 0, 0), (0, 2 * Y, 0)), rng)
    _add(objs, "wall_n", quad((-X, Y, 0), (2 * X, 0, 0), (0, 0, Z)), rng)
    _add(objs, "wall_s", quad((-X, -Y, 0), (2 * X, 0, 0), (0, 0, Z)), rng)
    _add(objs, "wall_e", quad((X, -Y, 0), (0, 2 * Y, 0), (0, 0, Z)), rng)
    _add(objs, "wall_w", quad((-X, -Y, 0), (0, 2 * Y, 0), (0, 0, Z)), rng)
    _random_props(objs, rng, 8, (-2.4, 2.4), (-0.6, 2.0), 0.0, 0.55, avoid=[(0, -1.7, 0.6)])
    pose = look_at((0.0, -1.7, 1.5), (0.0, 1.0, 0.8))
    return Scene(objs, name="room", seed=seed, default_pose=pose, depth_range=(1.0, 6.0))


def _corridor(seed):
    rng = np.random.default_rng([seed, 3])
    objs = []
    W, L, H = 1.1, 14.0, 2.5
    _add(objs, "floor", quad((-W, -1, 0), (2 * W, 0, 0), (0, L, 0)), rng)
    _add(objs, "ceiling", quad((-W, -1, H), (2 * W, 0, 0), (0, L, 0)), rng)
    _add(objs, "wall_l", quad((-W, -1, 0), (0, L, 0), (0, 0, H)), rng)
    _add(objs, "wall_r", quad((W, -1, 0), (0, L, 0), (0, 0, H)), rng)
    _add(objs, "end", quad((-W, L - 1, 0), (2 * W, 0, 0), (0, 0, H)), rng)
    for i in range(7):
        y = 1.2 + i * 1.6 + rng.uniform(-0.3, 0.3)
        side = 1 if i % 2 else -1
        if i % 3 == 2:
            _add(objs, f"pillar{i}", cylinder(0.15, H, (side * (W - 0.2), y, H / 2)), rng)
        else:
            s = rng.uniform(0.3, 0.6, 3)
            _add(objs, f"crate{i}", box(s, (side * (W - s[0] / 2 - 0.02), y, s[2] / 2)), rng)
    pose = look_at((0.0, 0.0, 1.5), (0.0, 6.0, 1.2))
    return Scene(objs, name="corridor", seed=seed, default_pose=pose, depth_range=(0.8, 13.0))


def _mipmap(image) -> list[np.ndarray]:
    """Box-filtered pyramid of a grey image in [0, 1] (each level half the size)."""
    import cv2

    lev = [np.ascontiguousarray(image, np.float32)]
    while min(lev[-1].shape) > 8:
        a = lev[-1]
        lev.append(cv2.resize(a, (max(1, a.shape[1] // 2), max(1, a.shape[0] // 2)),
                              interpolation=cv2.INTER_AREA))
    return lev


def _sample_mipmap(levels, x, y, footprint_px) -> np.ndarray:
    """Bilinear sample at image coordinates (x right, y down; pixel i covers [i, i+1)) from the
    pyramid level whose pixels match the footprint (in level-0 pixels); white outside."""
    out = np.empty(x.shape[0], np.float32)
    lvl = np.clip(np.floor(np.log2(np.maximum(footprint_px, 1e-9))), 0, len(levels) - 1)
    for L in np.unique(lvl).astype(int):
        sel = np.flatnonzero(lvl == L)
        img = np.pad(levels[L], 1, constant_values=1.0)       # white border, 1 px
        h, w = img.shape
        sx = levels[0].shape[1] / levels[L].shape[1]
        sy = levels[0].shape[0] / levels[L].shape[0]
        mx = np.clip(x[sel] / sx - 0.5 + 1.0, 0.0, w - 1.001)    # +1: the padding
        my = np.clip(y[sel] / sy - 0.5 + 1.0, 0.0, h - 1.001)
        x0, y0 = np.floor(mx).astype(np.int64), np.floor(my).astype(np.int64)
        fx, fy = (mx - x0).astype(np.float32), (my - y0).astype(np.float32)
        flat = img.ravel()
        i00 = y0 * w + x0
        top = flat[i00] * (1 - fx) + flat[i00 + 1] * fx
        bot = flat[i00 + w] * (1 - fx) + flat[i00 + w + 1] * fx
        out[sel] = top * (1 - fy) + bot * fy
    return out


def charuco_image(cols, rows, square_m, marker_m, dictionary="DICT_4X4_50", px_per_square=64):
    """Grey image (float32 in [0, 1]) of OpenCV's ChArUco board and its metres per pixel."""
    import cv2

    if not hasattr(cv2.aruco, dictionary):
        raise ParameterError(f"unknown ArUco dictionary {dictionary!r}; e.g. DICT_4X4_50.")
    if not 0 < marker_m < square_m:
        raise ParameterError(f"marker_m must be in (0, square_m); got {marker_m!r}.")
    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    board = cv2.aruco.CharucoBoard((cols, rows), square_m, marker_m, d)
    img = board.generateImage((cols * px_per_square, rows * px_per_square), marginSize=0,
                              borderBits=1)
    return img.astype(np.float32) / 255.0, square_m / px_per_square


def board_scene(seed=0, *, cols=9, rows=6, square_m=0.04, charuco=None):
    """A chessboard of ``cols x rows`` squares (``(cols-1, rows-1)`` inner corners, OpenCV's
    pattern size) in the plane y = 0, facing -y, in front of a textured wall.

    Board frame: origin at the outer corner of the first (black) square, x to the right, y
    downwards (world -z), z into the board.  The board object's ``board`` dict holds
    ``world2board``, ``board2world``, ``square``, ``cols``, ``rows`` and ``corners_board``
    ((cols-1)*(rows-1), 3) inner-corner positions in the board frame, row-major as OpenCV's
    ``findChessboardCorners`` orders them for an upright board (and as ChArUco numbers them).

    ``charuco=(marker_m, dictionary)`` prints OpenCV's ChArUco board of the same squares
    instead (e.g. ``(0.03, "DICT_4X4_50")``).
    """
    rng = np.random.default_rng([seed, 4])
    w, h = cols * square_m, rows * square_m
    b2w = np.eye(4)
    b2w[:3, 0], b2w[:3, 1], b2w[:3, 2] = (1, 0, 0), (0, 0, -1), (0, 1, 0)
    b2w[:3, 3] = (-w / 2, 0.0, h / 2)
    m = square_m
    corner = b2w[:3, :3] @ np.array([-m, -m, 0]) + b2w[:3, 3]
    mesh = quad(corner, b2w[:3, 0] * (w + 2 * m), b2w[:3, 1] * (h + 2 * m))
    jj, ii = np.mgrid[1:rows, 1:cols]
    cb = np.stack([ii.ravel() * square_m, jj.ravel() * square_m, np.zeros(ii.size)], 1)
    board = {"world2board": np.linalg.inv(b2w), "board2world": b2w, "square": square_m,
             "cols": cols, "rows": rows, "corners_board": cb}
    if charuco is None:
        objs = [SceneObject("board", mesh[0], mesh[1], texture="checker", board=board)]
    else:
        try:
            marker_m, dictionary = float(charuco[0]), str(charuco[1])
        except (TypeError, ValueError, IndexError):
            raise ParameterError(
                f"charuco must be (marker_m, dictionary); got {charuco!r}.") from None
        board["image"], board["pixel_m"] = charuco_image(cols, rows, square_m, marker_m,
                                                         dictionary)
        objs = [SceneObject("board", mesh[0], mesh[1], texture="image", board=board)]
    _add(objs, "wall", quad((-10, 2.5, -10), (20, 0, 0), (0, 0, 20)), rng)
    pose = look_at((0.0, -0.6, 0.0), (0.0, 0.0, 0.0))
    return Scene(objs, name="board", seed=seed, default_pose=pose, light_dir=(0.2, -1.0, 0.3),
                 ambient=0.6, depth_range=(0.3, 3.0))


SCENES = {"tabletop": _tabletop, "room": _room, "corridor": _corridor, "board": board_scene}


def make_scene(name: str = "tabletop", seed: int = 0) -> Scene:
    """A built-in scene, the same for the same ``(name, seed)``.

    Parameters
    ----------
    name : {"tabletop", "room", "corridor", "board"}
        tabletop: objects on a table, 0.5-2.5 m; room: furniture in a 6x5 m room, 1-6 m;
        corridor: a 14 m corridor with crates and pillars; board: a chessboard for calibration.
    seed : int
        Object placement, colours and textures.

    Examples
    --------
    >>> scene = make_scene("room", seed=3)
    >>> scene.name, scene.depth_range
    ('room', (1.0, 6.0))
    """
    if name not in SCENES:
        raise ParameterError(f"unknown scene {name!r}; choose one of {', '.join(SCENES)}.")
    if int(seed) != seed or seed < 0:
        raise ParameterError(f"scene seed must be a non-negative integer; got {seed!r}.")
    return SCENES[name](int(seed))
