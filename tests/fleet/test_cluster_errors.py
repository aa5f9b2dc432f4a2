"""One-line errors for bad fleet input, without a cluster where none is needed."""

from __future__ import annotations

import time

import pytest

from deploykit.errors import InputError
from deploykit.fleet.cluster import check_device_name, split_address, version_mismatch_line
from deploykit.fleet.columns import DeviceEntry, resolve_columns
from deploykit.fleet.inventory import Device, check_ray_versions
from deploykit.fleet.request import FleetRequest


def test_unreachable_cluster_fails_fast_in_one_line(cli, user_error):
    began = time.monotonic()
    result = cli("devices", "--cluster", "ray://127.0.0.9:9")
    assert time.monotonic() - began < 30
    user_error(result, "cannot reach the Ray cluster at ray://127.0.0.9:9")


def test_bad_address_and_device_names(cli, user_error):
    user_error(cli("devices", "--cluster", "nohost"), "is not HOST:PORT")
    with pytest.raises(InputError, match="not usable"):
        check_device_name("a b")
    assert split_address("ray://10.0.0.5:10001") == ("10.0.0.5", 10001)


def test_ray_version_mismatch_reads_as_one_line():
    from ray._private.utils import check_version_info

    with pytest.raises(RuntimeError) as caught:  # Ray's own check, as Ray Client runs it
        check_version_info(
            {"ray_version": "2.9.3", "python_version": "3.10.12"},
            "Ray Client",
            raise_on_mismatch=True,
            python_version_match_level="minor",
        )
    line = version_mismatch_line(str(caught.value))
    assert line.startswith("Ray version mismatch: the cluster runs Ray 2.9.3 on Python 3.10.12")
    assert "\n" not in line
    devices = [Device("orin", True, ray_version="2.9.3")]
    with pytest.raises(InputError, match=r"device orin runs Ray 2\.9\.3"):
        check_ray_versions(devices, "2.60.0")


def test_device_entries_and_columns():
    devices = [Device("orin-1", True), Device("orin-2", True), Device("x86", False)]
    pool = DeviceEntry.parse("orin=orin-*", retry=True)
    columns = resolve_columns((pool, DeviceEntry.parse("x86")), devices)
    assert [(c.label, c.members, c.retry) for c in columns] == [
        ("orin", ("orin-1", "orin-2"), True),
        ("x86", ("x86",), False),  # a dead or absent name waits for its timeout
    ]
    with pytest.raises(InputError, match="pattern 'jetson-\\*' matches no device"):
        resolve_columns((DeviceEntry.parse("jetson-*"),), devices)
    with pytest.raises(InputError, match="appears twice"):
        resolve_columns((DeviceEntry("orin-1"), DeviceEntry("orin-*")), devices)
    with pytest.raises(InputError, match="has no pattern"):
        DeviceEntry.parse("orin=")
    with pytest.raises(InputError, match="not usable"):
        FleetRequest(devices=("bad name",))
