"""What the driver puts into Ray's object store once per sweep: files, hashed, and inputs.

Every file a group needs (the artifact with its manifest, a weights file, a
calibration set) is packed with its sha256 (:func:`deploykit.fleet.transfer.pack`)
and put once, however many groups and devices use it; each subject's prepared
input is put once too. A group's payload holds the descriptions and references.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploykit.bench.config import BenchConfig, source_to_json
from deploykit.fleet.transfer import pack

# Putting a file through Ray Client may take a while: its deadline grows at this rate.
PUT_BYTES_PER_S = 1e6


def ship(ray, call, groups: list, data: Any, config: BenchConfig) -> list[dict[str, Any]]:
    """Put every file and prepared input into the object store once; one payload per group.

    Args:
        ray: the connected ``ray`` module.
        call: :class:`~deploykit.fleet.deadline.Deadline` bounding each put.
        groups: (item, subject, backend) in run order.
        data: the evaluation dataset (``images``, ``labels``).
        config: the run's settings (its ``source`` is the default for items without one).
    """
    from deploykit.data import prepare

    stored: dict[Any, tuple[Any, Any]] = {}

    def put(value: Any, size: int, what: str) -> Any:
        return call(ray.put, value, what=what, extra_s=size / PUT_BYTES_PER_S)

    def put_file(path: Path) -> tuple[Any, Any]:
        if path not in stored:
            packed, blob = pack(path)
            stored[path] = (packed.to_dict(), put(blob, len(blob), f"ray.put of {path.name}"))
        return stored[path]

    payloads = []
    for item, subject, backend in groups:
        source = source_to_json(item.source or config.source)
        payload: dict[str, Any] = {"item": item.ref, "source": source, "backend": backend}
        payload["artifact"], payload["artifact_ref"] = (
            put_file(Path(item.ref)) if Path(item.ref).is_file() else (None, None)
        )
        weights = source.get("weights")
        payload["weights"], payload["weights_ref"] = (
            put_file(Path(weights)) if weights else (None, None)
        )
        calib = (item.engine or {}).get("calib")
        payload["engine"] = item.engine
        payload["calib"], payload["calib_ref"] = put_file(Path(calib)) if calib else (None, None)
        if ("data", id(subject)) not in stored:
            x = prepare(data.images, subject.spec)
            inputs = {"x": x, "labels": data.labels}
            stored[("data", id(subject))] = (None, put(inputs, x.nbytes, "ray.put of the inputs"))
        payload["data_ref"] = stored[("data", id(subject))][1]
        payloads.append(payload)
    return payloads
