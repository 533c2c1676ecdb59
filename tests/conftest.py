import importlib.util
import os
import warnings
from pathlib import Path

import pytest

# never wait for the Hugging Face hub: a lookup fails at once instead of after 20 s of retries
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("nnUNet_compile", "f")
warnings.filterwarnings("ignore", message=".*torch.jit.interface.*")

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _bench_common():
    """scripts/bench_common.py, where the scripts resolve the shared data folder (one rule for both)."""
    spec = importlib.util.spec_from_file_location("_tests_bench_common", SCRIPTS / "bench_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shared_data():
    """``shared_data("QaTa-COV19-subset")``: a folder of the shared real data (``NNUNET_TGC_SHARED_DATA``,
    default ``<repository>/../shared/data``), or the test is skipped (a user's fresh clone has none)."""
    root = _bench_common().shared_data_dir()

    def folder(subfolder: str) -> Path:
        path = root / subfolder
        if not path.is_dir():
            pytest.skip(f"shared real data not available: {path} (set NNUNET_TGC_SHARED_DATA)")
        return path
    return folder
