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


# ---------------------------------------------------------------- the one trained tiny TGC-Net of the suite

TINY_DATASET_ID, TINY_DATASET = 961, "Dataset961_TextDecides"
TINY_TRAINER = "nnUNetTrainerTGC_tiny_e2e"

# a user's own trainer module, in a folder of its own on nnUNet_extTrainer (as usage.md tells users to do)
USER_TRAINERS = '''
import os

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunet_tgc import nnUNetTrainerTGC_tiny


class nnUNetTrainerTGC_tiny_e2e(nnUNetTrainerTGC_tiny):
    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = int(os.environ.get("E2E_EPOCHS", "6"))
        self.num_iterations_per_epoch = int(os.environ.get("E2E_ITERATIONS", "25"))
        self.num_val_iterations_per_epoch = 2
        # models that only exercise a path (not the text-reading model) fit the place map with a few steps
        self.tgc_place_fit_steps = int(os.environ.get("E2E_FIT_STEPS", self.tgc_place_fit_steps))


class nnUNetTrainerTGC_tiny_e2e_dropout(nnUNetTrainerTGC_tiny_e2e):
    """Report dropout, trained just long enough to have a learned "no report" input."""
    tgc_report_dropout = 0.5

    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 1
        self.num_iterations_per_epoch = 4
        self.num_val_iterations_per_epoch = 1
        self.tgc_place_fit_steps = 5


class nnUNetTrainer_e2e_plain(nnUNetTrainer):
    """Plain nnU-Net, one short epoch: a model without any text."""
    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 1
        self.num_iterations_per_epoch = 4
        self.num_val_iterations_per_epoch = 1
'''


def nnunet_environment(root: Path, *trainer_folders) -> dict:
    """nnU-Net's folders under ``root``, the plugin's shim and ``trainer_folders`` on nnUNet_extTrainer, no
    torch.compile, one export process, the tiny backbone's own weights."""
    from nnunet_tgc.nnunet.env import ext_trainer_dir
    env = {**os.environ, "nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
           "nnUNet_results": str(root / "res"),
           "nnUNet_extTrainer": os.pathsep.join([str(ext_trainer_dir()), *map(str, trainer_folders)]),
           "nnUNet_compile": "f", "nnUNet_def_n_proc": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("nnUNet_TGC_clip_weights", None)
    return env


@pytest.fixture(scope="session")
def tiny_tgc_model(tmp_path_factory):
    """The suite's one trained tiny TGC-Net, through nnU-Net's stock commands: the synthetic dataset in which
    the report decides (``nnunet_tgc/synthetic.py``: two identical-looking lesions per image, the report names
    one; 32 training and 8 test images) planned and preprocessed, and a user's short subclass of
    nnUNetTrainerTGC_tiny (6 epochs of 25 iterations, in the user's own folder on nnUNet_extTrainer) trained on
    fold 0, final validation included. The place map is fitted to the training masks before epoch 0, so the
    model follows the report from the first epoch on (pseudo Dice 0.83 after epoch 0 in a 16-epoch run); six
    epochs leave the text-reading tests a margin. Every test that needs a trained TGC model uses this one; a test that
    changes something in it restores it. Keys: root, env (predictions), train_env (training: augmentation in
    the main process), raw (the dataset), user (the trainer folder), model (the trained model's folder)."""
    from _commands import run
    from nnunet_tgc.synthetic import make_text_decides_dataset
    root = tmp_path_factory.mktemp("tiny_tgc")
    user = root / "my_trainers"
    user.mkdir()
    (user / "my_tgc_trainers.py").write_text(USER_TRAINERS)
    env = nnunet_environment(root, user)
    raw = make_text_decides_dataset(root / "raw", dataset_id=TINY_DATASET_ID, n_train=32, n_test=8, seed=3)
    run(["nnUNetv2_plan_and_preprocess", "-d", TINY_DATASET_ID, "-c", "2d", "-np", "1", "--verify_dataset_integrity"],
        env)
    train_env = {**env, "nnUNet_n_proc_DA": "0"}
    run(["nnUNetv2_train", TINY_DATASET_ID, "2d", 0, "-tr", TINY_TRAINER, "-device", "cpu"], train_env)
    return {"root": root, "env": env, "train_env": train_env, "raw": raw, "user": user,
            "model": root / "res" / TINY_DATASET / f"{TINY_TRAINER}__nnUNetPlans__2d"}
