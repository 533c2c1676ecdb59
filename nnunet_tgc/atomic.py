"""Files written whole or not at all: a temporary file beside the target, renamed over it when complete,
so that a crash or a full disk never leaves half a file where the last good one was."""
import json
import os
import tempfile
from pathlib import Path


def write_json_atomically(data, path, **dump_kwargs) -> Path:
    """``json.dump(data, **dump_kwargs)`` to ``path`` (UTF-8, a final newline), atomically; the folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, **dump_kwargs)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
