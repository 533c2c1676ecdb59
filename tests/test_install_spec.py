"""The torch/torchvision pairs the documentation and install script name satisfy setup.py's and
nnU-Net's own version limits, and are pairs torchvision actually releases together."""
import re
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PAIR = re.compile(r"torch==(\d+\.\d+\.\d+)\s+torchvision==(\d+\.\d+\.\d+)")


def torch_requirement(lines) -> Requirement:
    """The unconditional torch requirement (nnU-Net's optional extras, e.g. intel-macos, aside)."""
    found = [Requirement(line) for line in lines if re.match(r"\s*torch\s*[<>=!~]", line) and "extra ==" not in line]
    assert len(found) == 1, lines
    return found[0]


def named_pairs():
    """Every torch==X torchvision==Y pair in README.md, documentation/*.md and scripts/*.sh."""
    files = [REPO / "README.md", *sorted((REPO / "documentation").glob("*.md")), *sorted((REPO / "scripts").glob("*.sh"))]
    pairs = [(path.name, *m.groups()) for path in files for m in PAIR.finditer(path.read_text(encoding="utf-8"))]
    assert any(name == "README.md" for name, *_ in pairs) and any(name == "install.sh" for name, *_ in pairs)
    return pairs


def test_named_torch_pairs_satisfy_setup_and_nnunet():
    setup_lines = re.findall(r'"(torch[^"]*)"', (REPO / "setup.py").read_text())
    ours = torch_requirement(setup_lines)
    nnunet = torch_requirement(requires("nnunetv2"))
    assert nnunet.specifier.contains("2.9.1") is False  # nnU-Net 2.8.1 excludes torch 2.9.*
    for where, torch_version, vision_version in named_pairs():
        for requirement in (ours, nnunet):
            assert requirement.specifier.contains(torch_version), (where, torch_version, str(requirement))
        # torchvision 0.N is released with torch 2.(N-15) (0.15 <-> 2.0 ... 0.29 <-> 2.14)
        torch_v, vision_v = Version(torch_version), Version(vision_version)
        assert (torch_v.major, vision_v.major, vision_v.minor - 15) == (2, 0, torch_v.minor), (where, torch_version,
                                                                                             vision_version)
