"""Calibration targets: chessboards and ChArUco boards, their YAML files and printable images.

A board file (``calib/boards/*.yaml``) is plain YAML::

    type: chessboard          # or charuco
    inner_corners: [9, 6]     # chessboard: inner corners across, down
    square_size: 0.025        # edge of one square, metres (see `units`)
    units: m                  # optional: "m" (default) or "unit" for boards of unknown scale

    type: charuco
    squares: [7, 5]           # squares across, down
    square_size: 0.04
    marker_size: 0.03
    dictionary: DICT_5X5_100

Calibrated translations come out in the board's unit: metres for ``units: m``, board units
(one square = ``square_size``) otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._checks import check_positive
from ..errors import FileFormatError, ParameterError

__all__ = ["Board", "load_board"]

_KINDS = ("chessboard", "charuco")
_UNITS = ("m", "unit")


@dataclass(frozen=True)
class Board:
    """A planar calibration target.

    Parameters
    ----------
    kind : {"chessboard", "charuco"}
    pattern_size : (int, int)
        Inner corners ``(across, down)``. For a ChArUco board this is ``squares - 1``.
    square_size : float
        Edge of one square in `units`.
    marker_size : float or None
        ChArUco marker edge (same unit); None for a chessboard.
    dictionary : str or None
        ChArUco ArUco dictionary name (``"DICT_5X5_100"``...).
    units : {"m", "unit"}
        ``"m"``: sizes are metres; ``"unit"``: the scale is unknown (e.g. OpenCV's sample set),
        so calibrated translations are in squares.
    name : str
        Label used in reports and on the printed board.
    """

    kind: str
    pattern_size: tuple[int, int]
    square_size: float
    marker_size: float | None = None
    dictionary: str | None = None
    units: str = "m"
    name: str = "board"

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ParameterError(f"Board.kind must be one of {_KINDS}; got {self.kind!r}.")
        try:
            cols, rows = (int(v) for v in self.pattern_size)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                "Board.pattern_size must be two integers (across, down); got "
                f"{self.pattern_size!r}."
            ) from exc
        if cols < 2 or rows < 2:
            raise ParameterError(
                f"a board needs at least 2x2 inner corners; got {cols}x{rows}."
            )
        object.__setattr__(self, "pattern_size", (cols, rows))
        object.__setattr__(self, "square_size", check_positive(self.square_size, "square_size"))
        if self.units not in _UNITS:
            raise ParameterError(f"Board.units must be one of {_UNITS}; got {self.units!r}.")
        if self.kind == "charuco":
            m = check_positive(self.marker_size, "marker_size")
            if m >= self.square_size:
                raise ParameterError(
                    f"ChArUco marker_size ({m}) must be smaller than square_size "
                    f"({self.square_size})."
                )
            object.__setattr__(self, "marker_size", m)
            _aruco_dictionary(self.dictionary)  # validates the name

    # ------------------------------------------------------------------ constructors
    @classmethod
    def chessboard(cls, cols: int, rows: int, square_size: float, *, units: str = "m",
                   name: str = "chessboard") -> Board:
        """A chessboard with ``cols x rows`` inner corners."""
        return cls("chessboard", (cols, rows), square_size, units=units, name=name)

    @classmethod
    def charuco(cls, squares_x: int, squares_y: int, square_size: float, marker_size: float,
                dictionary: str = "DICT_5X5_100", *, units: str = "m",
                name: str = "charuco") -> Board:
        """A ChArUco board of ``squares_x x squares_y`` squares."""
        return cls("charuco", (squares_x - 1, squares_y - 1), square_size, marker_size,
                   dictionary, units=units, name=name)

    # ------------------------------------------------------------------ geometry
    @property
    def squares(self) -> tuple[int, int]:
        """Number of squares ``(across, down)``."""
        return (self.pattern_size[0] + 1, self.pattern_size[1] + 1)

    @property
    def n_corners(self) -> int:
        return self.pattern_size[0] * self.pattern_size[1]

    @property
    def object_points(self) -> np.ndarray:
        """(N, 3) float32 corner positions on the board plane (z = 0), row by row.

        Corner ``i`` is the i-th corner OpenCV reports (chessboard) or ChArUco id ``i``.
        """
        cols, rows = self.pattern_size
        pts = np.zeros((rows * cols, 3), np.float32)
        pts[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * self.square_size
        return pts

    @property
    def unit_label(self) -> str:
        return "m" if self.units == "m" else "board units"

    def cv_charuco_board(self):
        """The ``cv2.aruco.CharucoBoard`` of this board (ChArUco only)."""
        import cv2

        if self.kind != "charuco":
            raise ParameterError("cv_charuco_board() needs a ChArUco board.")
        return cv2.aruco.CharucoBoard(self.squares, self.square_size, self.marker_size,
                                      _aruco_dictionary(self.dictionary))

    def to_dict(self) -> dict:
        d = {"type": self.kind, "square_size": self.square_size, "units": self.units,
             "name": self.name}
        if self.kind == "chessboard":
            d["inner_corners"] = list(self.pattern_size)
        else:
            d.update(squares=list(self.squares), marker_size=self.marker_size,
                     dictionary=self.dictionary)
        return d

    # ------------------------------------------------------------------ printing
    def render(self, *, dpi: float = 300.0, margin_mm: float = 15.0,
               square_px: int | None = None) -> np.ndarray:
        """A printable grey uint8 image of the board with its true scale written under it.

        Squares are ``square_size`` metres at `dpi` (print at 100 %, no "fit to page").
        Boards with ``units: unit`` have no physical size: pass `square_px` instead.
        """
        import cv2

        if square_px is None:
            if self.units != "m":
                raise ParameterError(
                    f"board {self.name!r} has no physical size (units: {self.units}); "
                    "render it with square_px=... (CLI: --square-px)."
                )
            dpi = check_positive(dpi, "dpi")
            sq = self.square_size / 0.0254 * dpi
        else:
            sq = float(check_positive(square_px, "square_px"))
            dpi = None
        if round(sq) < 8:
            raise ParameterError(f"squares would be {sq:.1f} px wide; raise dpi or square_px.")
        sx, sy = self.squares
        if sq * max(sx, sy) > 30000:
            raise ParameterError(
                f"the board image would be {sq * sx:.0f}x{sq * sy:.0f} px; lower dpi or "
                "square_px (is square_size in metres?)."
            )
        px_per_mm = (dpi / 25.4) if dpi else sq / 10.0
        margin = int(round(check_positive(margin_mm, "margin_mm") * px_per_mm)) if dpi else int(sq)
        w, h = int(round(sq * sx)), int(round(sq * sy))
        if self.kind == "chessboard":
            pattern = np.full((h, w), 255, np.uint8)
            for j in range(sy):
                for i in range(sx):
                    if (i + j) % 2 == 0:
                        x0, x1 = int(round(i * sq)), int(round((i + 1) * sq))
                        y0, y1 = int(round(j * sq)), int(round((j + 1) * sq))
                        pattern[y0:y1, x0:x1] = 0
        else:
            pattern = self.cv_charuco_board().generateImage((w, h), marginSize=0, borderBits=1)
        text_h = max(int(sq * 0.9), 40)
        canvas = np.full((h + 2 * margin + text_h, w + 2 * margin), 255, np.uint8)
        canvas[margin:margin + h, margin:margin + w] = pattern
        if dpi:
            size = f"square {self.square_size * 1000:.2f} mm"
            if self.kind == "charuco":
                size += f", marker {self.marker_size * 1000:.2f} mm, {self.dictionary}"
            line2 = f"print at {dpi:g} dpi, 100% scale; the bar below is 50 mm"
        else:
            size = f"square {self.square_size:g} {self.unit_label} ({int(round(sq))} px)"
            line2 = "no physical scale (units: unit)"
        grid = (f"{self.squares[0]}x{self.squares[1]} squares" if self.kind == "charuco"
                else f"{self.pattern_size[0]}x{self.pattern_size[1]} inner corners")
        line1 = f"depthkit {self.kind} '{self.name}': {grid}, {size}"
        thick = max(1, int(text_h / 110.0))
        (tw, _), _ = cv2.getTextSize(line1, cv2.FONT_HERSHEY_SIMPLEX, 1.0, thick)
        font = min(text_h / 180.0, 0.95 * w / tw)
        y = h + margin + int(text_h * 0.35)
        for line in (line1, line2):
            cv2.putText(canvas, line, (margin, y), cv2.FONT_HERSHEY_SIMPLEX, font, 0, thick,
                        cv2.LINE_AA)
            y += int(text_h * 0.3)
        scale = text_h / 110.0
        if dpi:
            bar = int(round(50 * px_per_mm))
            yb = min(canvas.shape[0] - 3, y)
            cv2.line(canvas, (margin, yb), (margin + bar, yb), 0, max(2, int(scale * 2)))
        return canvas


def _aruco_dictionary(name):
    import cv2

    if not isinstance(name, str) or not name.startswith("DICT_") or not hasattr(cv2.aruco, name):
        raise ParameterError(
            f"unknown ArUco dictionary {name!r}; use a cv2.aruco name such as 'DICT_5X5_100' or "
            "'DICT_4X4_50'."
        )
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))


_REQUIRED = {
    "chessboard": ("inner_corners", "square_size"),
    "charuco": ("squares", "square_size", "marker_size", "dictionary"),
}


def load_board(path: str | os.PathLike) -> Board:
    """Read a board definition from a YAML file (see the module docstring for the keys)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"board file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise FileFormatError(f"board file {p} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise FileFormatError(
            f"board file {p} must hold a mapping of keys; got {type(data).__name__}.")
    kind = data.get("type")
    if kind not in _KINDS:
        raise FileFormatError(
            f"board file {p}: key 'type' must be 'chessboard' or 'charuco'; got {kind!r}."
        )
    missing = [k for k in _REQUIRED[kind] if k not in data]
    if missing:
        raise FileFormatError(
            f"board file {p} ({kind}) is missing key(s): {', '.join(missing)}; a {kind} board "
            f"needs {', '.join(_REQUIRED[kind])}."
        )
    name = str(data.get("name", p.stem))
    units = data.get("units", "m")
    try:
        if kind == "chessboard":
            cols, rows = data["inner_corners"]
            return Board.chessboard(cols, rows, data["square_size"], units=units, name=name)
        sx, sy = data["squares"]
        return Board.charuco(sx, sy, data["square_size"], data["marker_size"],
                             data["dictionary"], units=units, name=name)
    except (TypeError, ValueError) as exc:
        raise FileFormatError(f"board file {p}: {exc}") from exc
