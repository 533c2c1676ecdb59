"""Helpers shared by the measurement scripts: what machine measured, and writing the JSON result."""
import json
import os
import platform
from pathlib import Path


def machine(device: str = "cpu") -> dict:
    """CPU model, cores, torch build and threads, the device measured on (with the GPU's name), and the
    load at the start (shared machines vary)."""
    import torch
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu_model": cpu, "logical_cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "platform": platform.platform(), "device": str(device), "cuda_available": torch.cuda.is_available(),
            "load_average_at_start": list(os.getloadavg())}
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(torch.device(device)), cuda=torch.version.cuda)
    return info


class DeviceUnavailable(RuntimeError):
    """The device asked for is not on this machine."""


def resolve_device(name: str):
    """``auto`` -> CUDA when available, else the CPU; an unavailable CUDA device is an error that says so."""
    import torch
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise DeviceUnavailable(f"--device {name}: not a device ({e}); use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
                                f"CUDA build {torch.version.cuda}); nothing was measured. Use --device cpu")
    return device


def synchronize(device) -> None:
    """Wait for queued GPU work, so that a timer measures the work and not its launch."""
    import torch
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def write_json(result: dict, path) -> None:
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nJSON written to {path}")
