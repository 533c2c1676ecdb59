"""Local CLIP weight files: OpenAI's TorchScript archives load (or are refused with advice), and every route
records the image statistics its weights were trained with (the mapping of nnU-Net's channels to the
tower's input is built from them)."""
import warnings
import zipfile

import pytest
import torch
from torch import nn

from nnunet_tgc.model import CLIPWeightsError, WEIGHTS_ENV, create_clip
from nnunet_tgc.model.backbones import BACKBONES, _build_tiny, is_torchscript_archive
from nnunet_tgc.model.clip_towers import FrozenCLIP, weights_fingerprint
from nnunet_tgc.model.tower_input import OPENAI_MEAN, OPENAI_STD, tower_statistics
from nnunet_tgc.nnunet.env import model_settings


def weights_from_env():
    """``nnUNet_TGC_clip_weights`` as the nnU-Net glue reads it (the user's route)."""
    return model_settings()["weights"]


class _Holder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def torchscript_archive(state: dict, path) -> None:
    """A TorchScript archive whose state dict is ``state``: modules nested by the keys' dots, scripted and saved
    with ``torch.jit.save``, as OpenAI published its CLIP checkpoints."""
    root = _Holder()
    for key, value in state.items():
        *parents, leaf = key.split(".")
        module = root
        for name in parents:
            if not hasattr(module, name):
                module.add_module(name, _Holder())
            module = getattr(module, name)
        module.register_buffer(leaf, value.clone())
    torch.jit.script(root).save(str(path))


@pytest.fixture(scope="module")
def openai_style_archive(tmp_path_factory):
    """The tiny backbone's weights with other values, in float16, plus the metadata entries OpenAI's archives
    hold (input_resolution, context_length, vocab_size) and the causal mask open_clip rebuilds."""
    model = _build_tiny()
    torch.manual_seed(1)
    state = {k: (torch.randn_like(v) if v.is_floating_point() else v).half() if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    extra = {"input_resolution": torch.tensor(224), "context_length": torch.tensor(77),
             "vocab_size": torch.tensor(49408), "attn_mask": model.attn_mask.clone()}
    path = tmp_path_factory.mktemp("openai") / "ViT-tiny.pt"
    torchscript_archive({**state, **extra}, path)
    return path, state


@pytest.mark.parametrize("route", ["argument", "environment"])
def test_a_torchscript_archive_loads_its_state_dict(openai_style_archive, monkeypatch, route):
    path, state = openai_style_archive
    assert is_torchscript_archive(path)
    if route == "argument":
        model, _, source = create_clip("tiny", weights=path)
    else:
        monkeypatch.setenv(WEIGHTS_ENV, str(path))
        model, _, source = create_clip("tiny", weights=weights_from_env())
    assert source == f"file:{path.resolve()}"
    loaded = model.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], v.float() if v.is_floating_point() else v) for k, v in state.items())
    assert weights_fingerprint(model) != weights_fingerprint(_build_tiny())  # the file's values, not the seed's
    assert tower_statistics(model) == (OPENAI_MEAN, OPENAI_STD)


def test_a_corrupt_or_foreign_archive_is_refused_naming_the_file(openai_style_archive, monkeypatch, tmp_path):
    path, state = openai_style_archive
    corrupt = tmp_path / "corrupt.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(corrupt, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, b"garbage" if item.filename.endswith(("constants.pkl", "data.pkl")) else data)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    foreign = tmp_path / "foreign.pt"
    torchscript_archive({"visual.conv1.weight": torch.zeros(2, 3, 4, 4)}, foreign)
    for bad, reason in ((corrupt, "Could not read the TorchScript archive"), (truncated, "Could not load CLIP"),
                        (foreign, "does not hold the weights of backbone 'tiny'")):
        monkeypatch.setenv(WEIGHTS_ENV, str(bad))
        with pytest.raises(CLIPWeightsError, match=reason) as error:
            create_clip("tiny", weights=weights_from_env())
        assert str(bad) in str(error.value) and "TorchScript archive or a folder" in str(error.value)


def test_the_vitb16_advice_names_the_files_to_download(tmp_path, monkeypatch):
    bad = tmp_path / "ViT-B-16.pt"
    bad.write_bytes(b"not a checkpoint")
    monkeypatch.setenv(WEIGHTS_ENV, str(bad))
    with pytest.raises(CLIPWeightsError, match="ViT-B-16.pt") as error:
        create_clip("ViT-B-16", weights=weights_from_env())
    assert "timm/vit_base_patch16_clip_224.openai" in str(error.value)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_random_route_records_the_weights_image_statistics(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, tokenizer, source = create_clip(name, weights="random")
    towers = FrozenCLIP(model, tokenizer, name, source, BACKBONES[name].taps)
    # OpenAI's CLIP (open_clip's 'openai' tag) and BiomedCLIP (its open_clip_config.json) both use these
    assert (towers.image_mean, towers.image_std) == (OPENAI_MEAN, OPENAI_STD)
