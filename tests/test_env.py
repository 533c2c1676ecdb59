import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nnunet_tgc.nnunet.env import add_parser, env_assignments, env_lines, ext_trainer_dir

_ENV_MODULE = [sys.executable, "-m", "nnunet_tgc.nnunet.env"]


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("nnUNet_")}
    env.update(HF_HUB_OFFLINE="1", **extra)
    return env


def test_ext_trainer_dir_holds_only_the_shim():
    folder = ext_trainer_dir()
    assert folder.is_dir()
    files = sorted(p.name for p in folder.iterdir() if p.name != "__pycache__")
    assert files == ["nnunet_tgc_trainers.py"]  # no __init__.py: nnU-Net imports by bare name
    assert "from nnunet_tgc.nnunet.trainer import *" in (folder / "nnunet_tgc_trainers.py").read_text()


def test_ext_trainer_appended_without_duplicates(tmp_path):
    ours = str(ext_trainer_dir())
    assert env_assignments(environ={})["nnUNet_extTrainer"] == ours
    other = str(tmp_path)
    joined = env_assignments(environ={"nnUNet_extTrainer": other})["nnUNet_extTrainer"]
    assert joined == other + os.pathsep + ours
    assert env_assignments(environ={"nnUNet_extTrainer": joined})["nnUNet_extTrainer"] == joined


def test_data_folders_kept_or_rooted(tmp_path):
    kept = env_assignments(environ={"nnUNet_raw": "/data/raw"})
    assert kept["nnUNet_raw"] == "/data/raw" and "nnUNet_results" not in kept
    rooted = env_assignments(root=tmp_path, environ={"nnUNet_raw": "/data/raw"})
    assert rooted["nnUNet_raw"] == str(tmp_path.resolve() / "nnUNet_raw")
    assert rooted["nnUNet_results"] == str(tmp_path.resolve() / "nnUNet_results")
    lines = env_lines(root=tmp_path, environ={"nnUNet_raw": "/data/raw"})
    assert any("was '/data/raw'" in line for line in lines)


def test_unset_data_folders_and_clip_weights_comment():
    lines = env_lines(environ={"nnUNet_TGC_clip_weights": "random"})
    assert sum(line.startswith("# nnUNet_") and "not set" in line for line in lines) == 3
    clip = [line for line in lines if "nnUNet_TGC_clip_weights" in line]
    assert len(clip) == 1 and clip[0].startswith("#") and "'random'" in clip[0] and "open_clip" in clip[0]


@pytest.mark.parametrize("shell, prefix", [("bash", "export nnUNet_raw="), ("fish", "set -gx nnUNet_raw "),
                                           ("powershell", "$env:nnUNet_raw = ")])
def test_shell_syntax(shell, prefix):
    lines = env_lines(shell, environ={"nnUNet_raw": "/it's here"})
    line = next(line for line in lines if line.startswith(prefix))
    assert {"bash": "'/it'\"'\"'s here'", "fish": "'/it\\'s here'", "powershell": "'/it''s here'"}[shell] in line


def test_parser_registration():
    import argparse
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["env", "--shell", "fish", "--root", "/r"])
    assert args.shell == "fish" and args.root == "/r" and callable(args.func)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_eval_round_trip(tmp_path):
    """The printed lines are valid bash and export what they say, quotes and spaces included."""
    root = tmp_path / "with space's"
    out = subprocess.run(
        ["bash", "-c", 'eval "$("$@")" && printf "%s\\n" "$nnUNet_extTrainer" "$nnUNet_raw"', "_",
         *_ENV_MODULE, "--root", str(root)],
        capture_output=True, text=True, env=_clean_env(nnUNet_extTrainer="/pre/existing"), check=True,
    )
    assert out.stdout.splitlines() == [
        "/pre/existing" + os.pathsep + str(ext_trainer_dir()), str(root.resolve() / "nnUNet_raw")]


_TRAINER_SRC = textwrap.dedent("""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    class nnUNetTrainerEnvProbe(nnUNetTrainer):
        pass
""")


def test_exported_ext_folder_is_searched_by_nnunet(tmp_path, monkeypatch):
    """The mechanics the shim relies on, with a stand-in trainer module in a temporary folder."""
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
    folder = tmp_path / "ext"
    folder.mkdir()
    (folder / "tgc_env_probe_trainers.py").write_text(_TRAINER_SRC)
    values = env_assignments(environ={"nnUNet_extTrainer": str(tmp_path / "elsewhere")}, ext_dir=folder)
    for var, value in values.items():
        monkeypatch.setenv(var, value)
    cls = recursive_find_trainer_class_by_name("nnUNetTrainerEnvProbe")
    assert cls.__name__ == "nnUNetTrainerEnvProbe"


def _trainer_module_missing() -> bool:
    try:
        import nnunet_tgc.nnunet.trainer  # noqa: F401
    except ModuleNotFoundError as e:
        return e.name == "nnunet_tgc.nnunet.trainer"
    return False


def test_every_trainer_the_module_defines_is_exported_to_the_shim():
    """The shim imports the trainers with ``*``: a class missing from ``__all__`` cannot be named with -tr."""
    import inspect
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    import nnunet_tgc.nnunet.trainer as trainer
    defined = {name for name, obj in vars(trainer).items()
               if inspect.isclass(obj) and issubclass(obj, nnUNetTrainer) and obj.__module__ == trainer.__name__}
    assert defined == set(trainer.__all__)


@pytest.mark.skipif(_trainer_module_missing(), reason="nnunet_tgc/nnunet/trainer.py not written yet")
def test_real_shim_finds_tgc_trainers():
    """End to end: eval the printed lines in bash, then nnU-Net's own lookup finds our trainers."""
    import nnunet_tgc.nnunet.trainer as trainer
    names = [n for n in getattr(trainer, "__all__", []) if n.startswith("nnUNetTrainerTGC")]
    assert "nnUNetTrainerTGC" in names
    probe = (
        "import sys\n"
        "from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name as find\n"
        "for n in sys.argv[1:]:\n"
        "    c = find(n)\n"
        "    print('FOUND', n, c.__module__)\n"
    )
    out = subprocess.run(
        ["bash", "-c", 'eval "$("$@")" && "$0" -c "$PROBE" ' + " ".join(names), sys.executable, *_ENV_MODULE],
        capture_output=True, text=True, env=_clean_env(PROBE=probe), check=True,
    )
    found = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("FOUND")]
    assert found == names, out.stdout + out.stderr


# ---------------------------------------------------------------------- the plugin's own variables
def test_model_settings_defaults_and_values():
    """The one reader of the nnUNet_TGC_* variables: what it hands the factory as keyword arguments."""
    from nnunet_tgc.nnunet.env import model_settings
    assert model_settings(environ={}) == {"weights": None, "tower_dtype": "float16",
                                          "allow_knowledge_mismatch": False}
    assert model_settings(environ={"nnUNet_TGC_clip_weights": "  ", "nnUNet_TGC_allow_knowledge_mismatch": "0"}) \
        == {"weights": None, "tower_dtype": "float16", "allow_knowledge_mismatch": False}
    assert model_settings(environ={"nnUNet_TGC_clip_weights": " /w/ViT-B-16.pt ", "nnUNet_TGC_tower_dtype": " BFloat16",
                                   "nnUNet_TGC_allow_knowledge_mismatch": "Yes"}) \
        == {"weights": "/w/ViT-B-16.pt", "tower_dtype": "bfloat16", "allow_knowledge_mismatch": True}
    for value in ("1", "true", "TRUE", "yes"):
        assert model_settings(environ={"nnUNet_TGC_allow_knowledge_mismatch": value})["allow_knowledge_mismatch"]
    assert model_settings(environ={"nnUNet_TGC_clip_weights": "random"})["weights"] == "random"


def test_model_settings_read_the_process_environment(monkeypatch):
    from nnunet_tgc.nnunet.env import model_settings
    monkeypatch.setenv("nnUNet_TGC_clip_weights", "random")
    monkeypatch.setenv("nnUNet_TGC_tower_dtype", "float32")
    monkeypatch.setenv("nnUNet_TGC_allow_knowledge_mismatch", "1")
    assert model_settings() == {"weights": "random", "tower_dtype": "float32", "allow_knowledge_mismatch": True}


def test_an_unknown_tower_dtype_names_the_variable():
    from nnunet_tgc.nnunet.env import model_settings
    with pytest.raises(ValueError) as error:
        model_settings(environ={"nnUNet_TGC_tower_dtype": "half"})
    assert str(error.value) == "nnUNet_TGC_tower_dtype='half': use one of ['bfloat16', 'float16', 'float32']"


def test_the_variable_names_are_the_models():
    from nnunet_tgc.model import WEIGHTS_ENV
    from nnunet_tgc.model.clip_towers import KNOWLEDGE_OVERRIDE_ENV, TOWER_DTYPE_ENV
    from nnunet_tgc.nnunet.env import CLIP_WEIGHTS_VAR
    assert (WEIGHTS_ENV, CLIP_WEIGHTS_VAR) == ("nnUNet_TGC_clip_weights",) * 2
    assert TOWER_DTYPE_ENV == "nnUNet_TGC_tower_dtype"
    assert KNOWLEDGE_OVERRIDE_ENV == "nnUNet_TGC_allow_knowledge_mismatch"


def test_the_model_package_reads_no_environment_variable():
    """Settings are arguments of the model package (open_clip's ``pretrained=`` style); the glue reads the
    environment (nnunet_tgc/nnunet/env.py)."""
    import re
    import nnunet_tgc.model
    sources = sorted(Path(nnunet_tgc.model.__file__).parent.rglob("*.py"))
    assert len(sources) > 5
    reads = [f"{path.name}:{number}: {line.strip()}" for path in sources
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\benviron\b|\bgetenv\b|\benvironb\b", line)]
    assert not reads, "the model package reads the environment:\n" + "\n".join(reads)
