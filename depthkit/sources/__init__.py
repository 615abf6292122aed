"""Frame sources (camera drivers, files, datasets, the simulator) behind ``dk.open(uri)``."""

from .base import ParsedURI, Source, SourceInfo, open, parse_uri, register, schemes
from .capture import CaptureThread, ThreadedSource, threaded
from .discover import backends, devices
from .recording import RecordingWriter, record

__all__ = ["Source", "SourceInfo", "ParsedURI", "open", "parse_uri", "register", "schemes",
           "CaptureThread", "ThreadedSource", "threaded", "backends", "devices",
           "RecordingWriter", "record"]
