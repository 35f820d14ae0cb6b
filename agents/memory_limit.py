"""``latitude_memory_limit_bytes``: the memory the worker may use before it is killed,
so that an alert can compare ``process_resident_memory_bytes`` with it.

The limit is ``LATITUDE_MEMORY_LIMIT_MB`` when set, else the smallest memory limit of
the process's control group and its ancestors (cgroup v2 ``memory.max``, v1
``memory.limit_in_bytes``): what a container runtime, Kubernetes or a systemd
``MemoryMax=`` enforce. Without either, no sample is exported and the alert stays quiet.
Read at scrape time, as a limit can be changed while the worker runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit number.
UNLIMITED_V1 = 1 << 62


def _limits_up_to_root(mount: Path, group: str, file_name: str) -> list[str]:
    """The contents of ``file_name`` in the control group ``group`` (a path below
    ``mount``) and in each of its ancestors that has one."""
    found: list[str] = []
    directory = mount / group.strip("/")
    while True:
        # Missing where the mount shows a container's own group as its root.
        with contextlib.suppress(OSError):
            found.append((directory / file_name).read_text().strip())
        if directory == mount:
            return found
        directory = directory.parent


def cgroup_memory_limit(proc_cgroup: Path = PROC_CGROUP,
                        root: Path = CGROUP_ROOT) -> int | None:
    """Bytes: the smallest memory limit on the path of this process's control group (v2
    or v1); None when there is none or no control group file can be read."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    found: list[int] = []
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue  # not "id:controllers:path": nothing to read (a scrape must not fail)
        _, controllers, group = fields
        if controllers == "":  # v2: "0::/path"
            values = _limits_up_to_root(root, group, "memory.max")
        elif "memory" in controllers.split(","):
            values = _limits_up_to_root(root / "memory", group, "memory.limit_in_bytes")
        else:
            continue
        found += [int(value) for value in values if value.isdigit()]
    limits = [value for value in found if value < UNLIMITED_V1]
    return min(limits) if limits else None


class MemoryLimit(Collector):
    """The worker's memory limit in bytes (``configured_mb`` when more than 0, else the
    control group's), or the family without a sample when there is none."""

    def __init__(self, configured_mb: int = 0, proc_cgroup: Path = PROC_CGROUP,
                 root: Path = CGROUP_ROOT) -> None:
        self._configured = configured_mb << 20
        self._proc_cgroup, self._root = proc_cgroup, root

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "latitude_memory_limit_bytes",
            "Memory the worker may use: LATITUDE_MEMORY_LIMIT_MB, else its control "
            "group's limit (no sample when neither is set).",
        )
        limit = self._configured or cgroup_memory_limit(self._proc_cgroup, self._root)
        if limit:
            family.add_metric([], limit)
        yield family
