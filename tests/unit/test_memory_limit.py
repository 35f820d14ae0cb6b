"""The memory limit the worker exports: its setting, else its control group's (v1 or v2,
the smallest on the way to the root), else none."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from agents.app import Latitude
from agents.memory_limit import MemoryLimit, cgroup_memory_limit
from agents.settings import Settings, SettingsError

MiB = 1 << 20
V1_UNLIMITED = "9223372036854771712"


def control_groups(tmp_path: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A /proc/self/cgroup with ``proc`` and a cgroup mount holding ``files``."""
    proc_cgroup = tmp_path / "cgroup"
    proc_cgroup.write_text(proc)
    root = tmp_path / "sys-fs-cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return proc_cgroup, root


def test_v2_the_smallest_limit_on_the_path_to_the_root(tmp_path: Path) -> None:
    proc, root = control_groups(tmp_path, "0::/system.slice/latitude.service\n", {
        "system.slice/latitude.service/memory.max": str(768 * MiB),
        "system.slice/memory.max": str(512 * MiB),
        "memory.max": "max",
    })
    assert cgroup_memory_limit(proc, root) == 512 * MiB


def test_v2_without_a_limit(tmp_path: Path) -> None:
    proc, root = control_groups(tmp_path, "0::/\n", {"memory.max": "max"})
    assert cgroup_memory_limit(proc, root) is None


def test_v1_memory_controller_and_its_unlimited_value(tmp_path: Path) -> None:
    proc = "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n0::/\n"
    files = {"memory/docker/abc/memory.limit_in_bytes": str(400 * MiB),
             "memory/docker/memory.limit_in_bytes": V1_UNLIMITED,
             "memory/memory.limit_in_bytes": V1_UNLIMITED}
    assert cgroup_memory_limit(*control_groups(tmp_path, proc, files)) == 400 * MiB
    files["memory/docker/abc/memory.limit_in_bytes"] = V1_UNLIMITED
    assert cgroup_memory_limit(*control_groups(tmp_path, proc, files)) is None


def test_a_container_sees_its_own_group_as_the_mount_root(tmp_path: Path) -> None:
    # /proc/self/cgroup names the host's path; inside the container's cgroup namespace
    # the mount holds only the container's group, at the root.
    proc, root = control_groups(tmp_path, "0::/kubepods/pod1/c1\n",
                                {"memory.max": str(300 * MiB)})
    assert cgroup_memory_limit(proc, root) == 300 * MiB


def test_nothing_readable_is_no_limit(tmp_path: Path) -> None:
    assert cgroup_memory_limit(tmp_path / "absent", tmp_path) is None


def test_a_line_of_another_shape_is_skipped(tmp_path: Path) -> None:
    proc, root = control_groups(tmp_path, "garbage\n0::/\n", {"memory.max": str(300 * MiB)})
    assert cgroup_memory_limit(proc, root) == 300 * MiB


def exposition(collector: MemoryLimit) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_the_setting_wins_over_the_control_group(tmp_path: Path) -> None:
    proc, root = control_groups(tmp_path, "0::/\n", {"memory.max": str(300 * MiB)})
    assert "latitude_memory_limit_bytes 3.145728e+08" in exposition(MemoryLimit(0, proc, root))
    assert "latitude_memory_limit_bytes 5.36870912e+08" in exposition(
        MemoryLimit(512, proc, root))


def test_without_a_limit_the_family_has_no_sample(tmp_path: Path) -> None:
    text = exposition(MemoryLimit(0, tmp_path / "absent", tmp_path))
    assert "# TYPE latitude_memory_limit_bytes gauge" in text
    assert "\nlatitude_memory_limit_bytes " not in text


def test_the_worker_exports_its_configured_limit() -> None:
    latitude = Latitude(Settings.load({"LATITUDE_STORE": "memory",
                                       "LATITUDE_MEMORY_LIMIT_MB": "450"}))
    assert latitude.registry.get_sample_value("latitude_memory_limit_bytes") == 450 * MiB
    assert latitude.registry.get_sample_value("process_resident_memory_bytes") > 0


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(SettingsError, match="LATITUDE_MEMORY_LIMIT_MB: -1 is below 0"):
        Settings.load({"LATITUDE_MEMORY_LIMIT_MB": "-1"})
    assert Settings.load({}).memory_limit_mb == 0
