"""SGM parameters: a frozen, validated dataclass and the named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

COSTS = ("census", "census_grad", "bt")
SUBPIXEL = ("parabola", "equiangular", "none")
PATHS = (3, 4, 5, 8, 16)
# path sets aggregated in one pass down the image with no sum volume (see K.single_pass_band)
SINGLE_PASS_PATHS = (3, 5)

# Presets: fields that differ from the dataclass defaults (which are the `balanced` values).
# Chosen on the benchmark scenes (bench_stereo.py) for the mean over scenes, not per scene,
# and checked on the fused mesh of bench_fusion.py. balanced: census 9x7 over 4 paths (two
# sweeps) with the box sub-pixel fit and 200-pixel speckles: 16.0 % bad-2 over all pixels and
# 5.9 % over estimated ones, against 16.3 % / 5.5 % for the same over 8 paths, in about 0.75x
# its time. A 5x5 census over 4 paths scored as well on the stereo scenes (16.3 % / 5.9 %) but
# doubled the error of the fused mesh (9.4 mm against 5.0 mm over 30 frames). fast: a 5x5
# census (32-bit strings, half the popcount work) over 3 paths in one pass with no volumes,
# and the sub-pixel fit on the aggregated costs (no second pass over the costs, but pulled up
# to ~0.15 px toward whole pixels). quality: census 9x7 plus gradient over 8 paths, a 5x5
# sub-pixel box and a median; over 16 paths it scored 16.0 % / 5.6 % against 16.1 % / 5.4 %
# in 1.24x the time, so it keeps 8. (Those figures predate `truncated_max_cost`, which moved
# bad-2 over all / over estimated pixels to 16.1 / 5.5 % for balanced, 16.9 / 5.2 % for fast
# and 16.1 / 5.0 % for quality, and the mean end-point error from 0.90-1.07 to 0.75-0.78 px.)
PRESETS: dict[str, dict] = {
    "fast": {"paths": 3, "census_window": (5, 5), "P1": 6, "P2": 60, "subpixel_window": 0},
    "balanced": {},
    "quality": {"cost": "census_grad", "paths": 8, "lr_max_diff": 1, "subpixel_window": 5,
                "speckle_window_size": 100, "median": True},
}


@dataclass(frozen=True)
class SGMParams:
    """Parameters of :class:`depthkit.stereo.SGM` (validated when built; immutable).

    Parameters
    ----------
    num_disparities : int
        Number of disparities searched, ``D >= 1``; disparities run from `min_disparity` to
        ``min_disparity + D - 1``.
    min_disparity : int
        Smallest disparity (may be negative).
    cost : {"census", "census_grad", "bt"}
        Matching cost: census Hamming distance; census plus a truncated horizontal-gradient
        difference; or Birchfield-Tomasi on intensities (0..255 scale).
    census_window : (int, int)
        Census window (width, height), odd, at most 63 bits in all (9x7 is the largest usual one).
    census_symmetric : bool
        Centre-symmetric census: compare each pixel of the window's first half with its mirror
        image through the centre instead of with the centre. Half the bits (31 for 9x7, which
        then fit 32 bits) and half the comparisons (Spangenberg et al., IV 2014). Measured with
        the balanced preset: about 0.9x the time, a slightly better fused mesh (4.1 mm against
        5.0 mm), but a worse stereo benchmark (bad-2 over estimated pixels 7.8 % against
        5.9 %), so no preset uses it.
    paths : {3, 4, 5, 8, 16}
        Aggregation paths. 4: horizontal and vertical; 8: plus the diagonals (two sweeps over a
        sum volume); 16: plus the eight knight moves (one row and two columns away, or two rows
        and one column: two more sweeps, 1.24x the quality preset's time; P2 at most 3840 so
        that the uint16 sums cannot overflow). 3: both horizontal and the top-down path; 5: plus
        the two top diagonals (one pass down the image with no sum volume, like OpenCV's
        single-pass modes: faster, and with no sum volume (2 bytes per pixel x disparity), at
        some cost in accuracy).
    P1, P2 : int
        Penalties for a disparity change of one pixel and of more, in cost units.
    p2_adapt : float
        Edge-aware P2: ``P2' = max(P1 + 1, P2 / (1 + |I(p) - I(p - r)| / p2_adapt))`` with I on a
        0..255 scale; 0 keeps P2 constant.
    gradient_weight, gradient_cap : float
        Weight and truncation (grey levels) of the gradient term of ``cost="census_grad"``.
    bt_cap : int
        Truncation of the Birchfield-Tomasi cost.
    uniqueness_ratio : int
        Percent margin by which the best aggregated cost must beat every non-neighbouring
        disparity (0 switches the test off; the presets rely on the left-right check instead,
        which removed fewer correct pixels per wrong one on the benchmark).
    subpixel : {"parabola", "equiangular", "none"}
        Sub-pixel refinement of the winner: a parabola or a symmetric V through the costs at
        the winner and its two neighbours.
    subpixel_window : int
        Odd side of the box over which the raw matching cost is summed for the sub-pixel fit
        (the aggregated costs are flattened by P1 near the minimum, which pulls the estimate
        toward whole pixels); 0 fits the aggregated costs instead.
    lr_max_diff : int
        Largest allowed left-right disagreement in pixels; negative switches the check off.
    truncated_max_cost : float
        Near the left border (``x - min_disparity < num_disparities - 1``) the searched range
        runs off the right image, so a pixel whose true disparity is larger than ``x`` has no
        right candidate, and its winner is the best of the wrong ones (on the benchmark such
        pixels were about 1 % of the estimated ones, nearly all wrong, and they pass the
        left-right check). There, a winner whose mean raw matching cost over its 3x3 box (1x3
        in the single pass, which keeps one row of costs) exceeds this fraction of the largest
        cost (the census bit count) is invalid; 0.35 leaves correct matches, whose costs are
        around 0.1, alone. 0 switches it off.
    speckle_window_size : int
        Connected regions of at most this many pixels are removed (0 switches it off).
    speckle_range : float
        Largest disparity step (pixels) inside one connected region.
    occlusion_fill : bool
        Fill half-occluded gaps (invalid runs just left of a foreground edge, between half and
        all of the disparity jump wide, +-1 px) with the background disparity. Raises density
        and lowers bad-N over all pixels, but the filled pixels are less reliable.
    median : bool
        3x3 median over valid neighbours after the checks.
    fill : bool
        Fill every invalid pixel from its row's farther valid neighbour (dense output).
    """

    num_disparities: int = 64
    min_disparity: int = 0
    cost: str = "census"
    census_window: tuple[int, int] = (9, 7)
    census_symmetric: bool = False
    paths: int = 4
    P1: int = 10
    P2: int = 120
    p2_adapt: float = 24.0
    gradient_weight: float = 0.5
    gradient_cap: float = 30.0
    bt_cap: int = 63
    uniqueness_ratio: int = 0
    subpixel: str = "equiangular"
    subpixel_window: int = 3
    lr_max_diff: int = 2
    truncated_max_cost: float = 0.35
    speckle_window_size: int = 200
    speckle_range: float = 2.0
    occlusion_fill: bool = False
    median: bool = False
    fill: bool = False

    def __post_init__(self) -> None:
        def _int(name, lo=None, hi=None):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ParameterError(f"`{name}` must be an int; got {v!r}.")
            v = int(v)
            if lo is not None and v < lo or hi is not None and v > hi:
                rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
                raise ParameterError(f"`{name}` must be in {rng}; got {v}.")
            object.__setattr__(self, name, v)

        def _float(name, lo):
            v = getattr(self, name)
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise ParameterError(f"`{name}` must be a number; got {v!r}.") from None
            if not (f >= lo) or f == float("inf"):
                raise ParameterError(f"`{name}` must be a finite number >= {lo}; got {v!r}.")
            object.__setattr__(self, name, f)

        def _choice(name, options):
            v = getattr(self, name)
            if v not in options:
                raise ParameterError(f"`{name}` must be one of {options}; got {v!r}.")

        _int("num_disparities", 1, 4096)
        _int("min_disparity", -4096, 4096)
        _choice("cost", COSTS)
        cw = self.census_window
        try:
            cw = tuple(int(v) for v in cw)
        except (TypeError, ValueError):
            raise ParameterError(f"`census_window` must be (width, height); got {cw!r}.") from None
        if len(cw) != 2 or any(v < 1 or v % 2 == 0 for v in cw) or cw[0] * cw[1] - 1 > 63:
            raise ParameterError(
                "`census_window` must be (width, height) with odd sides and at most 64 pixels "
                f"(e.g. (9, 7) or (5, 5)); got {self.census_window!r}."
            )
        object.__setattr__(self, "census_window", cw)
        if self.paths not in PATHS:
            raise ParameterError(f"`paths` must be one of {PATHS}; got {self.paths!r}.")
        _int("P1", 0, 1000)
        _int("P2", 0, 7000)
        if self.P2 < self.P1:
            raise ParameterError(f"`P2` ({self.P2}) must be >= `P1` ({self.P1}).")
        if self.paths == 16 and self.P2 > 3840:
            # 16 paths of at most cost (255) + P2 each must fit the uint16 sums
            raise ParameterError(f"`P2` must be at most 3840 with 16 paths; got {self.P2}.")
        _float("p2_adapt", 0.0)
        _float("gradient_weight", 0.0)
        _float("gradient_cap", 0.0)
        _int("bt_cap", 1, 255)
        _int("uniqueness_ratio", 0, 99)
        _choice("subpixel", SUBPIXEL)
        _int("subpixel_window", 0, 31)
        if self.subpixel_window and self.subpixel_window % 2 == 0:
            raise ParameterError(f"`subpixel_window` must be odd or 0; got {self.subpixel_window}.")
        _int("lr_max_diff", -1, 4096)
        _float("truncated_max_cost", 0.0)
        _int("speckle_window_size", 0, 10**9)
        _float("speckle_range", 0.0)
        for name in ("census_symmetric", "occlusion_fill", "median", "fill"):
            if not isinstance(getattr(self, name), bool):
                v = getattr(self, name)
                raise ParameterError(f"`{name}` must be True or False; got {v!r}.")

    @classmethod
    def from_preset(cls, preset: str = "balanced", **overrides) -> SGMParams:
        """Parameters of a named preset (``fast``, ``balanced``, ``quality``) with overrides."""
        if preset not in PRESETS:
            raise ParameterError(f"unknown preset {preset!r}; choose one of {tuple(PRESETS)}.")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ParameterError(
                f"unknown SGM parameter(s) {unknown}; valid names are {sorted(fields)}."
            )
        return cls(**{**PRESETS[preset], **overrides})

    def replace(self, **changes) -> SGMParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

