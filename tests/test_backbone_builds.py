"""Every registered backbone is built as its weights were trained, on every weight route, offline.

open_clip's pretrained table says how each tag was trained (``quick_gelu=True`` for OpenAI's CLIP);
the towers must be built that way whether the weights are downloaded, read from a local file or left
random. The download route runs for real against a Hugging Face cache the test fills itself (no
network); ``random`` must not touch the hub for any backbone (BiomedCLIP included).
"""
import warnings

import open_clip
import pytest
import torch

from nnunet_tgc.model import WEIGHTS_ENV, create_clip
from nnunet_tgc.model.backbones import BACKBONES, activation_names, pretrained_model_cfg
from nnunet_tgc.model.clip_towers import FrozenCLIP, weights_fingerprint
from nnunet_tgc.nnunet.env import model_settings


def expected_quick_gelu(spec) -> bool:
    """What open_clip's own pretrained table says about the backbone's default tag."""
    if spec.default_pretrained is None:
        return False  # no open_clip tag: the tiny test tower, BiomedCLIP (timm ViT + BERT, plain GELU)
    assert (spec.open_clip_name, spec.default_pretrained) in open_clip.list_pretrained()
    return bool(open_clip.get_pretrained_cfg(spec.open_clip_name, spec.default_pretrained).get("quick_gelu", False))


@pytest.fixture
def no_hub(monkeypatch):
    """Any attempt to reach the Hugging Face hub fails the test (the call sites open_clip, transformers and
    timm download through)."""
    import huggingface_hub.file_download
    import open_clip.pretrained
    import timm.models._hub
    import transformers.utils.hub

    def refuse(*args, **kwargs):
        raise AssertionError(f"the Hugging Face hub was asked for {args} {kwargs}")
    for module, name in ((open_clip.pretrained, "hf_hub_download"), (transformers.utils.hub, "hf_hub_download"),
                         (transformers.utils.hub, "snapshot_download"), (timm.models._hub, "hf_hub_download"),
                         (huggingface_hub.file_download, "hf_hub_download")):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, refuse)


def test_every_open_clip_tag_of_the_registered_models_gets_its_activation():
    for spec in BACKBONES.values():
        if spec.default_pretrained is None:
            continue
        for tag in open_clip.list_pretrained_tags_by_model(spec.open_clip_name):
            table = bool(open_clip.get_pretrained_cfg(spec.open_clip_name, tag).get("quick_gelu", False))
            assert pretrained_model_cfg(spec.open_clip_name, tag)["quick_gelu"] is table, tag


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_random_weights_build_the_trained_architecture_without_the_hub(name, monkeypatch, no_hub):
    spec = BACKBONES[name]
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)  # the argument decides, not the environment
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the RANDOM-weights warnings are the point of this route
        model, tokenizer, source = create_clip(name, weights="random")
    quick = expected_quick_gelu(spec)
    built = activation_names(model)
    assert ("QuickGELU" in built) is quick and (("GELU" in built) is not quick or name == "BiomedCLIP")
    assert model.tgc_build["activations"] == built
    assert model.tgc_build["model_cfg"].get("quick_gelu", False) is quick
    towers = FrozenCLIP(model, tokenizer, name, source, spec.taps)
    encoded = towers.encode_texts(["Bilateral pulmonary infection, two infected areas."])[0]
    assert encoded.pooled.shape == (1, towers.joint_dim) and encoded.tokens.shape[1] > 2


@pytest.fixture(scope="module")
def vitb16_weights(tmp_path_factory):
    """A ViT-B-16 state dict (random values, half precision to halve the file) saved as a plain file and in a
    Hugging Face cache laid out as open_clip's download of the 'openai' tag leaves it."""
    root = tmp_path_factory.mktemp("vitb16")
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-16", pretrained=None, force_quick_gelu=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    del model
    repo_id = open_clip.get_pretrained_cfg("ViT-B-16", "openai")["hf_hub"].rstrip("/")
    revision = "0" * 40
    repo = root / "hub" / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    torch.save(state, repo / "snapshots" / revision / "open_clip_pytorch_model.bin")
    (root / "ViT-B-16.bin").hardlink_to(repo / "snapshots" / revision / "open_clip_pytorch_model.bin")
    return root, state["visual.conv1.weight"]


def test_download_and_file_routes_build_quickgelu_with_the_same_weights(vitb16_weights, monkeypatch):
    import huggingface_hub.constants
    root, conv1 = vitb16_weights
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root / "hub"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        downloaded, _, source = create_clip("ViT-B-16", weights=model_settings()["weights"])  # as the glue reads it
    assert source == "open_clip:ViT-B-16/openai"
    assert not [w for w in caught if "QuickGELU mismatch" in str(w.message)]
    assert activation_names(downloaded) == ["QuickGELU"]
    assert torch.equal(downloaded.visual.conv1.weight, conv1.float())
    fingerprint, build = weights_fingerprint(downloaded), downloaded.tgc_build
    assert build["model_cfg"]["quick_gelu"] is True
    del downloaded

    monkeypatch.setenv(WEIGHTS_ENV, str(root / "ViT-B-16.bin"))
    from_file, _, source = create_clip("ViT-B-16", weights=model_settings()["weights"])
    assert source == f"file:{(root / 'ViT-B-16.bin').resolve()}"
    assert activation_names(from_file) == ["QuickGELU"]  # the file is loaded into the tag's architecture
    assert weights_fingerprint(from_file) == fingerprint
    assert from_file.tgc_build == build  # what a checkpoint records is the same on both routes
