"""What machine a measurement ran on, for benchmark reports."""

from __future__ import annotations

import os
import platform

__all__ = ["cpu_name", "describe_machine"]


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> dict:
    """CPU model and count, Python and torch versions, and the GPU when there is one."""
    import torch

    info = {"cpu": cpu_name(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
