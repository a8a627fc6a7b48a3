"""What machine a measurement ran on (benchmark reports), and what its arithmetic supports."""

from __future__ import annotations

import os
import platform

__all__ = ["cpu_name", "describe_machine", "native_bf16", "resolve_precision"]


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


def native_bf16(cuda: bool = False) -> bool:
    """Whether bf16 arithmetic runs natively: on the GPU (``cuda``) torch's own check; on the CPU,
    instructions that compute in bf16 (AVX512-BF16 or AMX tiles), as torch detects them. Without
    them torch emulates bf16 through fp32 conversions, which measured many times *slower* than fp32
    (an AMD EPYC without AVX512-BF16), so bf16 is only worth it where this is True."""
    import torch

    if cuda:
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def resolve_precision(setting: str, cuda: bool = False) -> tuple[str, str]:
    """``train.mixed_precision`` as Accelerate takes it (``"no"``, ``"bf16"``, ``"fp16"``) and why.

    ``"auto"`` is bf16 autocast where :func:`native_bf16` says the device computes in bf16, fp32
    elsewhere; any other value is kept as given. The reason is one line for the run's banner."""
    if setting != "auto":
        return setting, "train.mixed_precision"
    device = "the GPU" if cuda else "this CPU"
    if native_bf16(cuda):
        return "bf16", f"auto: {device} computes in bf16 natively"
    return "no", f"auto: {device} has no native bf16 (it would be emulated, slower than fp32)"
