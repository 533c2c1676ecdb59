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
