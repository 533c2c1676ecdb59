"""Running nnU-Net's and the plugin's console commands from the tests' virtual environment.

A command runs in a fork of a process that has imported nnU-Net and the plugin once (``_zygote.py``)
when its import-time settings are the ones that process was started with, otherwise as a subprocess
of its own; either way it is the installed console script's code, with the given environment and
arguments, and a CompletedProcess with its exit status and output comes back.
"""
import atexit
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
ZYGOTE = Path(__file__).resolve().with_name("_zygote.py")
# the commands whose modules the zygote imports
SERVED = {"nnUNetv2_train", "nnUNetv2_predict", "nnUNetv2_plan_and_preprocess", "nnUNetv2_plan_experiment",
          "nnUNetv2_extract_fingerprint", "nnUNetv2_preprocess", "nnunet-tgc"}
# settings read when modules are imported (nnU-Net's default process count, the hub's offline switch, the
# thread counts torch reads at import, where modules come from): a command whose values differ from the
# zygote's runs as a subprocess of its own
IMPORT_TIME = ("nnUNet_def_n_proc", "HF_HUB_OFFLINE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONPATH")
ZYGOTE_SETTINGS = {"nnUNet_def_n_proc": "1", "HF_HUB_OFFLINE": "1"}

_zygote = None
_zygote_env = None  # the environment the running zygote imported its modules with


def _served(cmd, env) -> bool:
    reference = _zygote_env if _zygote is not None and _zygote.poll() is None else {**os.environ, **ZYGOTE_SETTINGS}
    return cmd[0] in SERVED and all(env.get(k) == reference.get(k) for k in IMPORT_TIME)


def _start_zygote() -> subprocess.Popen:
    global _zygote, _zygote_env
    if _zygote is None or _zygote.poll() is not None:
        _zygote_env = {**os.environ, **ZYGOTE_SETTINGS}
        _zygote = subprocess.Popen([sys.executable, str(ZYGOTE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True, env=_zygote_env)
        first = _zygote.stdout.readline()
        if first.strip() != "ready":
            raise RuntimeError(f"the tests' command zygote did not start ({_zygote.poll()}): {first!r}")
        atexit.register(_zygote.stdin.close)
    return _zygote


def _run_in_zygote(argv, env) -> subprocess.CompletedProcess:
    zygote = _start_zygote()
    with tempfile.TemporaryDirectory(prefix="tgc_cmd_") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        request = {"argv": argv, "env": dict(env), "cwd": os.getcwd(), "stdout": str(out), "stderr": str(err)}
        zygote.stdin.write(json.dumps(request) + "\n")
        zygote.stdin.flush()
        reply = zygote.stdout.readline()
        if not reply:
            raise RuntimeError(f"the tests' command zygote died running {argv[0]} ({zygote.poll()})")
        code = json.loads(reply)["returncode"]
        return subprocess.CompletedProcess(argv, code, out.read_text(errors="replace"),
                                           err.read_text(errors="replace"))


def _argv(cmd) -> list:
    return [str(BIN / cmd[0]), *map(str, cmd[1:])]


def run_own_process(cmd, env) -> subprocess.CompletedProcess:
    """``cmd`` (a console script next to this Python, then its arguments) as a process of its own, its output
    captured."""
    return subprocess.run(_argv(cmd), env=env, capture_output=True, text=True)


def run(cmd, env, check=True):
    """Run ``cmd`` (a console script next to this Python, then its arguments) with ``env``; on failure
    (with ``check``) raise with the ends of its output."""
    proc = _run_in_zygote(_argv(cmd), env) if _served(cmd, env) else run_own_process(cmd, env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc
