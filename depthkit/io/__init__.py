"""File formats: PFM, 16-bit depth PNG, images, PLY, and colourised previews.

Every writer is atomic (a temporary file in the same folder, then a rename).
"""

from ._atomic import atomic_path, write_bytes_atomic
from .images import read_depth_png, read_image, write_depth_png, write_image
from .pfm import read_pfm, write_pfm
from .ply import read_mesh, read_ply, write_geometry, write_ply
from .preview import colorize, colorize_depth, colorize_disparity, colorize_error

__all__ = [
    "atomic_path", "write_bytes_atomic", "read_pfm", "write_pfm", "read_image", "write_image",
    "read_depth_png", "write_depth_png", "read_ply", "write_ply", "read_mesh", "write_geometry",
    "colorize", "colorize_depth", "colorize_disparity", "colorize_error",
]
