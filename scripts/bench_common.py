"""Helpers shared by the measurement scripts and the tests: where the shared real data is, what machine
measured, and writing the JSON result."""
import json
import os
import platform
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA_VARIABLE = "NNUNET_TGC_SHARED_DATA"


def shared_data_dir() -> Path:
    """The folder of the shared real data (QaTa-COV19-subset, MosMedDataPlus-text): the environment variable
    ``NNUNET_TGC_SHARED_DATA``, else ``shared/data`` beside the repository (``<repository>/../shared/data``).
    The one place the scripts and the tests (``tests/conftest.py``) resolve it; the folder may not exist
    (a user's fresh clone has none)."""
    value = os.environ.get(SHARED_DATA_VARIABLE)
    return Path(value).expanduser() if value else REPO.parent / "shared" / "data"


def default_work_dir(name: str) -> Path:
    """A work folder for a measurement script outside the repository: ``name`` in the system's temporary
    folder (``tempfile.gettempdir()``)."""
    return Path(tempfile.gettempdir()) / name


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


def portable(obj, extra: dict = None):
    """``obj`` (a JSON-able structure) with this machine's folders in its strings replaced by placeholders,
    so that a result can be copied into documentation/measurements/ as it is: this Python -> ``python``,
    its bin folder and the repository -> nothing (``nnUNetv2_train``, ``scripts/x.py``), the shared data
    -> ``$NNUNET_TGC_SHARED_DATA``, the temporary folder -> ``$TMPDIR``, the home folder -> ``~``;
    ``extra`` maps further folders (e.g. a work folder) to their placeholders. Longer folders first."""
    import sys
    roots = {}
    for python in {sys.executable, os.path.abspath(sys.executable)}:
        roots.update({python: "python", os.path.dirname(python) + os.sep: ""})
    roots.update({str(REPO) + os.sep: "", str(shared_data_dir()): "$NNUNET_TGC_SHARED_DATA",
             str(Path(tempfile.gettempdir()).resolve()): "$TMPDIR", tempfile.gettempdir(): "$TMPDIR",
             str(Path.home()): "~"})
    roots.update({str(k): v for k, v in (extra or {}).items()})
    order = sorted(roots, key=len, reverse=True)

    def fix(value):
        if isinstance(value, str):
            for root in order:
                value = value.replace(root, roots[root])
            return value
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [fix(v) for v in value]
        return value
    return fix(obj)


def write_json(result: dict, path) -> None:
    """``result`` as JSON at ``path`` (nothing without a path), machine folders replaced (``portable``)."""
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(portable(result), indent=2) + "\n")
        print(f"\nJSON written to {path}")
