import importlib.util
import os
import shutil
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


# ---------------------------------------------------------------- pytest-xdist: which tests run together, and when

# Under pytest-xdist with --dist loadgroup (scripts/install_and_test.sh runs -n 2), the tests of one group run
# on one worker, the groups one after another in this order, the longest first: one worker trains the shared
# model (tiny_tgc_model) and runs half of its tests while the other runs the next groups, then the other half.
# A test is grouped with its module (its module-scoped fixtures are built once), except the shared model's
# tests in XDIST_SECOND_HALF; the groups not named in XDIST_ORDER follow in pytest's order.
# The order balances the two workers by the modules' measured times (documentation/measurements/test_suite_times.md).
XDIST_ORDER = ["test_e2e_nnunet.py", "test_nnunet_options.py", "test_e2e_nnunet.py (second half)", "test_gpu_check.py"]
# each half of the shared model's tests with the module-scoped fixtures it reads (own_report_predictions in
# the first, dropout_model in the second): a worker that runs a half builds only that half's fixtures
XDIST_SECOND_HALF = {"test_e2e_nnunet.py": {
    "test_sequential_path_and_fold_ensemble", "test_continue_and_rerun_validation",
    "test_missing_training_reports_stop_before_the_first_epoch", "test_no_report_prediction_only_for_a_model_trained_for_it",
    "test_no_report_python_api", "test_ablate_plain_nnunet_model_predicts_once_with_the_same_metrics"}}


def xdist_group(nodeid: str) -> str:
    """The group of the test ``nodeid`` (``tests/test_x.py::test_y[param]``)."""
    module, _, name = nodeid.partition("::")
    module = module.rsplit("/", 1)[-1]
    if name.split("[")[0] in XDIST_SECOND_HALF.get(module, ()):
        return f"{module} (second half)"
    return module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadgroup with the groups of ``xdist_group`` (xdist's own reads xdist_group marks from the test ids,
    which it can no longer rename under pytest >= 9.2: pytest-xdist issue 1386), in the order of XDIST_ORDER."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return xdist_group(nodeid)

        def schedule(self):
            self.config.option.loadscopereorder = False  # the workers' order (pytest_collection_modifyitems)
            super().schedule()

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist the groups of XDIST_ORDER first, in its order (the scheduler hands out the groups in the
    order the workers collected them); a plain run keeps pytest's order."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return
    rank = {name: i for i, name in enumerate(XDIST_ORDER)}
    items.sort(key=lambda item: rank.get(xdist_group(item.nodeid), len(rank)))  # stable: otherwise pytest's order


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
        self.num_epochs = int(os.environ.get("E2E_EPOCHS", "4"))
        self.num_iterations_per_epoch = int(os.environ.get("E2E_ITERATIONS", "25"))
        self.num_val_iterations_per_epoch = 2
        # models that only exercise a path (not the text-reading model) fit the place map with a few steps
        self.tgc_place_fit_steps = int(os.environ.get("E2E_FIT_STEPS", "100"))

    def perform_actual_validation(self, save_probabilities: bool = False):
        # a model trained only to exercise another path (the fold ensemble) may skip predicting its cases
        if os.environ.get("E2E_SKIP_FINAL_VALIDATION") != "1":
            super().perform_actual_validation(save_probabilities)


class nnUNetTrainerTGC_tiny_e2e_textOnly(nnUNetTrainerTGC_tiny_e2e):
    """Without the image route and without report dropout (a model that cannot do without a report), trained
    just long enough to predict."""
    tgc_image_route = False

    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 1
        self.num_iterations_per_epoch = 4
        self.num_val_iterations_per_epoch = 1
        self.tgc_place_fit_steps = 5


class nnUNetTrainerTGC_tiny_e2e_dropout(nnUNetTrainerTGC_tiny_e2e_textOnly):
    """Report dropout (and no image route), trained just long enough to have a learned "no report" input."""
    tgc_report_dropout = 0.5


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


def _built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder that ``build(folder)`` fills, built once per test run: in a plain run a fresh folder; under
    pytest-xdist (``-n 2``) the first worker to ask builds it in the run's shared base folder under a file lock,
    a worker that asks while it is being built waits, and every worker gets a copy of its own (tests change
    files in it, and two workers must not write one results folder). A build that failed fails the other
    workers too, with its error, instead of being tried again."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    from filelock import FileLock
    shared = tmp_path_factory.getbasetemp().parent / f"{name}_shared"
    done, failed = shared.with_name(shared.name + ".done"), shared.with_name(shared.name + ".failed")
    with FileLock(str(shared) + ".lock"):
        if failed.is_file():
            raise RuntimeError(f"building {name} failed in another worker:\n{failed.read_text()}")
        if not done.is_file():
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir()
            try:
                build(shared)
            except BaseException as error:
                failed.write_text(f"{type(error).__name__}: {error}")
                raise
            done.touch()
    folder = tmp_path_factory.mktemp(name)
    shutil.copytree(shared, folder, dirs_exist_ok=True)
    return folder


def _build_tiny_tgc_model(root: Path):
    from _commands import run
    from nnunet_tgc.synthetic import make_text_decides_dataset
    user = root / "my_trainers"
    user.mkdir()
    (user / "my_tgc_trainers.py").write_text(USER_TRAINERS)
    env = nnunet_environment(root, user)
    make_text_decides_dataset(root / "raw", dataset_id=TINY_DATASET_ID, n_train=32, n_test=8, seed=3)
    run(["nnUNetv2_plan_and_preprocess", "-d", TINY_DATASET_ID, "-c", "2d", "-np", "1", "--verify_dataset_integrity"],
        env)
    run(["nnUNetv2_train", TINY_DATASET_ID, "2d", 0, "-tr", TINY_TRAINER, "-device", "cpu"],
        {**env, "nnUNet_n_proc_DA": "0"})


@pytest.fixture(scope="session")
def tiny_tgc_model(tmp_path_factory):
    """The suite's one trained tiny TGC-Net, through nnU-Net's stock commands: the synthetic dataset in which
    the report decides (``nnunet_tgc/synthetic.py``: two identical-looking lesions per image, the report names
    one; 32 training and 8 test images) planned and preprocessed, and a user's short subclass of
    nnUNetTrainerTGC_tiny (4 epochs of 25 iterations, a 100-step place-map fit, in the user's own folder on nnUNet_extTrainer) trained on
    fold 0, final validation included. The place map is fitted to the training masks before epoch 0, so the
    model follows the report from the first epoch on (pseudo Dice 0.83 after epoch 0 in a 16-epoch run); four
    epochs reached validation Dice 0.91 (six: 0.93), enough for the text-reading tests. Every test that needs a trained TGC model uses this one; a test that
    changes something in it restores it. Trained once per run (under pytest-xdist each worker gets a copy:
    ``_built_once``). Keys: root, env (predictions), train_env (training: augmentation in the main process),
    raw (the dataset), user (the trainer folder), model (the trained model's folder)."""
    root = _built_once(tmp_path_factory, "tiny_tgc", _build_tiny_tgc_model)
    user = root / "my_trainers"
    env = nnunet_environment(root, user)
    return {"root": root, "env": env, "train_env": {**env, "nnUNet_n_proc_DA": "0"},
            "raw": root / "raw" / TINY_DATASET, "user": user,
            "model": root / "res" / TINY_DATASET / f"{TINY_TRAINER}__nnUNetPlans__2d"}
