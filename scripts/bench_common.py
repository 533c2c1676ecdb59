"""Helpers shared by the measurement scripts: what machine measured, and writing the JSON result."""
import json
import os
import platform
from pathlib import Path


def machine() -> dict:
    """CPU model, cores, torch build and threads, and the load at the start (shared machines vary)."""
    import torch
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": cpu, "logical_cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "platform": platform.platform(), "device": "cpu", "cuda_available": torch.cuda.is_available(),
            "load_average_at_start": list(os.getloadavg())}


def write_json(result: dict, path) -> None:
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nJSON written to {path}")
