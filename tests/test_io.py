"""depthkit.io: PFM, images, depth PNG, previews, PLY, atomic writes."""

from __future__ import annotations

import os
import stat

import cv2
import numpy as np
import pytest

from depthkit.errors import FileFormatError, ParameterError, ShapeError
from depthkit.io import (
    atomic_path,
    colorize,
    colorize_depth,
    colorize_disparity,
    colorize_error,
    read_depth_png,
    read_image,
    read_pfm,
    read_ply,
    write_depth_png,
    write_image,
    write_pfm,
    write_ply,
)

# ----------------------------------------------------------------------------- PFM


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("channels", [1, 3])
def test_pfm_round_trip_keeps_nan_inf_and_orientation(tmp_path, rng, little_endian, channels):
    shape = (7, 5) if channels == 1 else (7, 5, 3)
    a = rng.normal(size=shape).astype(np.float32) * 100
    a[0, 0] = np.nan
    a[1, 2] = np.inf
    a[6, 4] = -np.inf
    p = tmp_path / "x.pfm"
    write_pfm(p, a, little_endian=little_endian)
    head = p.read_bytes()[:20].split(b"\n")
    assert head[0] == (b"Pf" if channels == 1 else b"PF")
    assert head[1] == b"5 7"
    assert float(head[2]) == (-1.0 if little_endian else 1.0)
    b = read_pfm(p)
    assert b.dtype == np.float32 and b.shape == shape
    np.testing.assert_array_equal(b, a)  # NaN == NaN for assert_array_equal


def test_pfm_rows_are_stored_bottom_to_top(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)  # top row 0 1 2, bottom row 3 4 5
    p = tmp_path / "rows.pfm"
    write_pfm(p, a)
    raw = p.read_bytes()
    body = np.frombuffer(raw[len(raw) - 24:], "<f4")
    np.testing.assert_array_equal(body, [3, 4, 5, 0, 1, 2])
    # big-endian written by hand reads back the same
    q = tmp_path / "be.pfm"
    q.write_bytes(b"Pf\n3 2\n1.0\n" + np.flipud(a).astype(">f4").tobytes())
    np.testing.assert_array_equal(read_pfm(q), a)


def test_pfm_real_eth3d_file_round_trip(shared_data, tmp_path):
    src = shared_data / "eth3d_twoview" / "playground" / "disp0.pfm"
    d = read_pfm(src)
    assert d.shape == (490, 941) and d.dtype == np.float32
    finite = np.isfinite(d)
    assert 0.4 < finite.mean() < 0.6  # about 50 % dense laser GT, inf elsewhere
    assert np.isposinf(d[~finite]).all()
    assert 0 < d[finite].min() and d[finite].max() < 25
    # independent parse: the header says little-endian, rows bottom to top
    raw = src.read_bytes()
    assert raw.startswith(b"Pf\n941 490\n-1")
    ref = np.flipud(np.frombuffer(raw[-941 * 490 * 4:], "<f4").reshape(490, 941))
    np.testing.assert_array_equal(d, ref)
    # writing it again gives the same bytes of data and the same array
    out = tmp_path / "copy.pfm"
    write_pfm(out, d)
    assert out.read_bytes()[-941 * 490 * 4:] == raw[-941 * 490 * 4:]
    np.testing.assert_array_equal(read_pfm(out), d)


def test_pfm_bad_input(tmp_path):
    with pytest.raises(FileFormatError, match="cannot read PFM file .*missing.pfm"):
        read_pfm(tmp_path / "missing.pfm")
    bad = tmp_path / "bad.pfm"
    bad.write_bytes(b"P5\n3 2\n255\n" + bytes(6))
    with pytest.raises(FileFormatError, match="is not a PFM file: expected a header 'Pf'"):
        read_pfm(bad)
    trunc = tmp_path / "trunc.pfm"
    trunc.write_bytes(b"Pf\n4 3\n-1.0\n" + bytes(4 * 4 * 3 - 5))
    with pytest.raises(FileFormatError, match=r"truncated: a 4x3x1 PFM needs 48 bytes.*found 43"):
        read_pfm(trunc)
    zero = tmp_path / "zero.pfm"
    zero.write_bytes(b"Pf\n4 3\n0\n" + bytes(48))
    with pytest.raises(FileFormatError, match="invalid PFM header"):
        read_pfm(zero)
    with pytest.raises(ShapeError, match="PFM holds float images; got dtype int32"):
        write_pfm(tmp_path / "i.pfm", np.zeros((2, 2), np.int32))
    with pytest.raises(ShapeError, match=r"PFM holds \(H, W\) or \(H, W, 3\)"):
        write_pfm(tmp_path / "c.pfm", np.zeros((2, 2, 2), np.float32))


# ----------------------------------------------------------------------------- images


def test_image_round_trip_is_rgb(tmp_path):
    img = np.zeros((3, 4, 3), np.uint8)
    img[..., 0] = 200  # pure red in RGB
    p = tmp_path / "red.png"
    write_image(p, img)
    on_disk = cv2.imread(str(p))  # OpenCV's BGR
    assert (on_disk[..., 2] == 200).all() and (on_disk[..., 0] == 0).all()
    np.testing.assert_array_equal(read_image(p), img)
    assert read_image(p, gray=True).shape == (3, 4)
    rgba = np.dstack([img, np.full((3, 4), 7, np.uint8)])
    write_image(tmp_path / "rgba.png", rgba)
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), img)  # alpha dropped
    g16 = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    write_image(tmp_path / "g16.png", g16)
    back = read_image(tmp_path / "g16.png")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, g16)


def test_image_bad_input(tmp_path):
    with pytest.raises(FileFormatError, match="image file not found"):
        read_image(tmp_path / "nope.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(FileFormatError, match="cannot decode image file"):
        read_image(junk)
    with pytest.raises(ShapeError, match="uint8 or uint16 images; got float32"):
        write_image(tmp_path / "f.png", np.zeros((2, 2), np.float32))
    with pytest.raises(ShapeError, match=r"\(H, W, 4\) RGBA images; got \(2, 2, 2\)"):
        write_image(tmp_path / "c2.png", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(FileFormatError, match=r"cannot write .*x\.nosuchformat"):
        write_image(tmp_path / "x.nosuchformat", np.zeros((2, 2), np.uint8))
    assert list(tmp_path.glob(".*tmp*")) == []  # failed writes leave no temporary file


def test_depth_png_round_trip(tmp_path):
    d = np.array([[0.5, 1.2344, np.nan], [0.0, 70.0, 65.535]], np.float32)
    p = tmp_path / "d.png"
    write_depth_png(p, d)
    raw = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(raw, [[500, 1234, 0], [0, 0, 65535]])  # mm, 0 = invalid
    back = read_depth_png(p)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back[0, :2], [0.5, 1.234], atol=1e-6)
    assert np.isnan(back[0, 2]) and np.isnan(back[1, 0]) and np.isnan(back[1, 1])
    with pytest.raises(ShapeError, match=r"depth must be \(H, W\)"):
        write_depth_png(p, np.zeros((2, 2, 3)))
    write_image(tmp_path / "u8.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(FileFormatError, match="not a 16-bit single-channel depth PNG"):
        read_depth_png(tmp_path / "u8.png")


# ----------------------------------------------------------------------------- atomic writes


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt" and tmp != target
        tmp.write_text("hello")
        assert not target.exists()  # readers never see a half-written file
    assert target.read_text() == "hello"
    # ordinary permissions (mkstemp alone would leave 0600)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "hello"  # the old file survives
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


# ----------------------------------------------------------------------------- previews


def test_colorize_invalid_black_and_range():
    d = np.array([[0.0, 5.0, 10.0, np.nan]], np.float32)
    rgb = colorize_disparity(d, max_disparity=10.0)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 3] == 0).all()
    turbo = cv2.cvtColor(cv2.applyColorMap(np.array([[0, 127, 255]], np.uint8),
                                           cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(rgb[0, :3], turbo[0])
    # depth is inverted: near is the warm (high) end of turbo
    near_far = colorize_depth(np.array([[1.0, 3.0]], np.float32), min_m=1.0, max_m=3.0)
    np.testing.assert_array_equal(near_far[0, 0], turbo[0, 2])
    err = colorize_error(np.array([[-8.0, np.inf]], np.float32))
    assert (err[0, 1] == 0).all() and err[0, 0].sum() > 0
    all_nan = colorize(np.full((2, 2), np.nan, np.float32))
    assert (all_nan == 0).all()


def test_colorize_legend_and_errors():
    d = np.linspace(0, 20, 64 * 48, dtype=np.float32).reshape(48, 64)
    plain = colorize_disparity(d)
    with_legend = colorize_disparity(d, legend=True)
    assert with_legend.shape[1] == 64 and with_legend.shape[0] > plain.shape[0]
    np.testing.assert_array_equal(with_legend[:48], colorize_disparity(d))
    with pytest.raises(ShapeError, match=r"takes an \(H, W\) array"):
        colorize(np.zeros((2, 2, 3)))
    with pytest.raises(ParameterError, match="unknown colormap 'nosuch'"):
        colorize(d, colormap="nosuch")


# ----------------------------------------------------------------------------- PLY


def test_ply_round_trip(tmp_path, rng):
    pts = rng.uniform(-1, 1, size=(50, 3))
    cols = rng.integers(0, 256, size=(50, 3), dtype=np.uint8)
    p = tmp_path / "cloud.ply"
    write_ply(p, pts, cols)
    back, back_cols = read_ply(p)
    np.testing.assert_allclose(back, pts, atol=1e-6)
    np.testing.assert_array_equal(back_cols, cols)
    with pytest.raises(ShapeError, match=r"points must be \(N, 3\)"):
        write_ply(p, np.zeros((4, 2)))
    with pytest.raises(ShapeError, match="colors must be"):
        write_ply(p, pts, cols[:3])
    with pytest.raises(FileFormatError, match="point cloud file not found"):
        read_ply(tmp_path / "none.ply")
