"""Running nnU-Net's and the plugin's console commands from the tests' virtual environment."""
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(cmd, env, check=True):
    """Run ``cmd`` (a console script next to this Python, then its arguments) with ``env``; on failure
    (with ``check``) raise with the ends of its output."""
    proc = subprocess.run([str(BIN / cmd[0]), *map(str, cmd[1:])], env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc
