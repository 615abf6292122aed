"""Frame sources (camera drivers, files, datasets, the simulator) behind ``dk.open(uri)``."""

from .base import ParsedURI, Source, SourceInfo, open, parse_uri, register, schemes

__all__ = ["Source", "SourceInfo", "ParsedURI", "open", "parse_uri", "register", "schemes"]
