"""The tests' way of running console commands (``_commands.py``): a command run in a fork of the pre-imported
process (``_zygote.py``) exits and prints as the installed script does when it runs as its own process."""
import os

from _commands import _served, run, run_own_process


def test_a_forked_command_matches_its_own_process(tmp_path):
    env = {**os.environ, "nnUNet_def_n_proc": "1", "nnUNet_raw": str(tmp_path), "nnUNet_preprocessed": str(tmp_path),
           "nnUNet_results": str(tmp_path)}
    results = {}
    for cmd in (["nnUNetv2_train", "-h"], ["nnUNetv2_train", "999", "2d", "0"]):
        assert _served(cmd, env)
        forked, own = run(cmd, env, check=False), run_own_process(cmd, env)
        assert forked.returncode == own.returncode, (cmd, forked.stderr[-1000:], own.stderr[-1000:])
        assert forked.stdout == own.stdout, cmd
        assert forked.stderr.strip().splitlines()[-1:] == own.stderr.strip().splitlines()[-1:], cmd
        results[cmd[1]] = forked
    assert results["-h"].returncode == 0 and "usage" in results["-h"].stdout
    # the missing dataset: nnU-Net's error and exit status 1, in both
    assert results["999"].returncode == 1 and "nnUNet_raw" in results["999"].stdout + results["999"].stderr


def test_a_command_with_other_import_time_settings_runs_as_its_own_process():
    env = {**os.environ, "nnUNet_def_n_proc": "3"}
    assert not _served(["nnUNetv2_train", "-h"], env)
    assert run(["nnUNetv2_train", "-h"], env).returncode == 0
