"""scripts/upsample_cases.py: a labelled folder at twice the size, masks kept binary, reports copied."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "upsample_cases.py"


def test_upsampled_folder_keeps_masks_and_reports(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir(), labels.mkdir()
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, :4] = 1
    Image.fromarray((np.arange(48).reshape(6, 8) * 5).astype(np.uint8)).save(images / "a_0000.png")
    Image.fromarray(mask).save(labels / "a.png")
    (images / "reports.json").write_text(json.dumps({"a": "Upper left lung."}))
    done = subprocess.run([sys.executable, str(SCRIPT), str(images), str(labels), str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    up = np.asarray(Image.open(tmp_path / "out" / "labels" / "a.png"))
    assert up.shape == (12, 16) and set(np.unique(up)) == {0, 1}
    assert np.array_equal(up[::2, ::2], mask)
    assert Image.open(tmp_path / "out" / "images" / "a_0000.png").size == (16, 12)
    assert json.loads((tmp_path / "out" / "images" / "reports.json").read_text()) == {"a": "Upper left lung."}
    (images / "reports.json").unlink()
    missing = subprocess.run([sys.executable, str(SCRIPT), str(images), str(labels), str(tmp_path / "o2")],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "reports.json missing" in missing.stderr
