"""The Fast DDS profile for large frames (config/fastdds_large_frames.xml: a 32 MiB
shared-memory segment instead of 512 KiB), as the node and the benches use it.

A sample larger than the *publisher's* segment falls back to UDP fragments, which best-effort
readers mostly lose (measured in docs/benchmarks.md): the camera driver must load the profile
for the input, and the node loads it for its own outputs unless a profile is already chosen.
"""

from __future__ import annotations

import os

from vsseg_core.package_files import package_file

DDS_PROFILE = "fastdds_large_frames.xml"
DDS_PROFILE_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"


def dds_profile() -> str | None:
    """The Fast DDS XML profile this process loads (FASTRTPS_DEFAULT_PROFILES_FILE), or None
    for Fast DDS's defaults."""
    return os.environ.get(DDS_PROFILE_VARIABLE) or None


def use_shipped_dds_profile() -> bool:
    """Point FASTRTPS_DEFAULT_PROFILES_FILE at the shipped profile when it is not set (an empty
    value keeps Fast DDS's defaults) and Fast DDS is the middleware; call before rclpy.init.
    True when it did."""
    middleware = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if DDS_PROFILE_VARIABLE in os.environ or middleware != "rmw_fastrtps_cpp":
        return False
    profile = package_file(f"config/{DDS_PROFILE}")
    if profile is None:
        return False
    os.environ[DDS_PROFILE_VARIABLE] = str(profile)
    return True
