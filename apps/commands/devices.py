"""``depthkit devices``: connected cameras and the driver backends that import."""

from __future__ import annotations

import json

import depthkit as dk


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "devices",
        help="list connected cameras and available driver backends",
        description=("List RealSense devices (serial, model, firmware, stream modes), "
                     "/dev/video* cameras, and which driver backends (OpenCV, pyrealsense2, "
                     "Open3D) can be imported, with the URI schemes each serves."),
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--modes", action="store_true", help="also list every RealSense stream mode")
    p.set_defaults(func=run)


def run(args) -> int:
    found = dk.sources.devices()
    back = dk.sources.backends()
    if args.json:
        print(json.dumps({"backends": back, **found}, indent=2))
        return 0
    lines = ["backends:"]
    for name, b in back.items():
        state = f"ok {b.get('version') or ''}".rstrip() if b["available"] else \
            f"unavailable ({b['error']})"
        lines.append(f"  {name:<13} {state:<40} schemes: "
                     f"{', '.join(s + '://' for s in b['schemes'])}")
    lines.append("realsense:")
    if found["errors"].get("realsense"):
        lines.append(f"  (cannot list: {found['errors']['realsense']})")
    elif not found["realsense"]:
        lines.append("  none connected")
    for d in found["realsense"]:
        lines.append(f"  realsense://{d['serial']}  {d['name']}  firmware {d['firmware']}  "
                     f"USB {d['usb']}")
        for sensor, modes in d["sensors"].items():
            lines.append(f"    {sensor}: {len(modes)} stream modes")
            if args.modes:
                lines.extend(f"      {m}" for m in modes)
    lines.append("video devices:")
    if not found["video"]:
        lines.append("  none")
    for v in found["video"]:
        lines.append(f"  {v['uri']:<10} {v['path']:<14} {v['name'] or ''}".rstrip())
    print("\n".join(lines))
    return 0
