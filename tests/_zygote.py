"""A parent process with nnU-Net and the plugin imported once, forking one child per console command.

Every nnU-Net command spends 7 to 10 CPU seconds importing torch, nnU-Net (its trainer lookup imports
every trainer module) and the plugin before it does anything, and the test suite runs about forty of
them. This process does those imports once; each command then runs in a fork of it (``os.fork``), with
the command's environment, working directory and arguments, its output in the files the test named, and
its console-script entry point called as the installed script calls it (``sys.exit(entry())``). The
command's code is the installed one, unchanged: only the imports are shared.

Only commands whose import-time settings equal this process's are sent here (``tests/_commands.py``:
``IMPORT_TIME``); nnU-Net's worker processes are spawned by the child as usual.

Protocol: one JSON request per line on stdin ({"argv", "env", "cwd", "stdout", "stderr"}), one JSON reply
per line on stdout ({"returncode"}); "ready" once the imports are done. Nothing heavy is imported at
module level, so that spawned workers, which import the parent's main module, stay light.
"""
import atexit
import json
import os
import sys
import traceback


def preload() -> None:
    import torch  # noqa: F401
    import nnunetv2
    from nnunetv2.run.run_training import run_training_entry  # noqa: F401
    from nnunetv2.inference.predict_from_raw_data import predict_entry_point  # noqa: F401
    from nnunetv2.experiment_planning.plan_and_preprocess_entrypoints import plan_and_preprocess_entry  # noqa: F401
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class
    import nnunet_tgc.cli  # noqa: F401
    import nnunet_tgc.nnunet.trainer  # noqa: F401
    import nnunet_tgc.evaluation.ablate  # noqa: F401
    # nnU-Net's trainer lookup imports every module of its trainer package before it looks elsewhere
    recursive_find_python_class(os.path.join(nnunetv2.__path__[0], "training", "nnUNetTrainer"),
                                "_NoSuchTrainer_", "nnunetv2.training.nnUNetTrainer")


def entry_point(name: str):
    from importlib.metadata import entry_points
    found = list(entry_points(group="console_scripts", name=name))
    if len(found) != 1:
        raise RuntimeError(f"console script {name!r}: {len(found)} entry points installed")
    return found[0].load()


def _redirect(fd: int, path: str, flags: int) -> None:
    target = os.open(path, flags, 0o644)
    os.dup2(target, fd)
    os.close(target)


def run_child(request: dict) -> None:
    """In the forked child: become the command, then exit with its status (never returns)."""
    code = 1
    try:
        _redirect(0, os.devnull, os.O_RDONLY)
        _redirect(1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        _redirect(2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = list(request["argv"])
        try:
            raise SystemExit(entry_point(os.path.basename(sys.argv[0]))())
        except SystemExit as done:  # as the interpreter reports sys.exit(value)
            if done.code is None or isinstance(done.code, int):
                code = done.code or 0
            else:
                print(done.code, file=sys.stderr)
                code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()  # what the interpreter does at exit (multiprocessing joins its workers)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def serve() -> None:
    preload()
    reply = sys.stdout
    reply.write("ready\n")
    reply.flush()
    for line in sys.stdin:
        request = json.loads(line)
        reply.flush()
        pid = os.fork()
        if pid == 0:
            run_child(request)
        _, status = os.waitpid(pid, 0)
        reply.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        reply.flush()


if __name__ == "__main__":
    serve()
