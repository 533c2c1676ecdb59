"""The BiomedCLIP code path, offline: a timm ViT image tower and a Hugging Face BERT text tower.

The real weights (hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224) cannot be downloaded
in tests, so the fixture writes a TINY folder laid out like that hub repository -- ``open_clip_config.json``
with BiomedCLIP's model config (same keys and values, the same hub names for the text tower), the CLIP
weights as ``open_clip_pytorch_model.bin`` and the WordPiece tokenizer files -- but with ``vit_tiny_patch16_224``
(12 blocks, so BiomedCLIP's taps 2/5/8/11 exist) and a 2-layer width-32 BERT whose ``config.json`` lies in the
folder (the offline route for the text tower's architecture). ``nnUNet_TGC_clip_weights`` points at it (read by
the nnU-Net glue, ``model_settings``, and passed to the factory as ``weights``) and everything goes through the
production route: ``open_clip.create_model("local-dir:...")``.
"""
import json
import shutil

import pytest
import torch

from nnunet_tgc.model import (TOWER_RECORD_KEY, CLIPWeightsError, EncodedText, WEIGHTS_ENV, create_tgc_net,
                              create_towers, split_into_chunks)
from nnunet_tgc.model.clip_towers import _HFText, _TimmViT, weights_fingerprint
from nnunet_tgc.nnunet.env import model_settings

from _text import encode_reports

PLANS = dict(features_per_stage=[32, 64, 128, 256, 512, 512], strides=[[1, 1]] + [[2, 2]] * 5,
             kernel_sizes=[[3, 3]] * 6, n_conv_per_stage=[2] * 6, n_conv_per_stage_decoder=[2] * 5)
LEFT = "Unilateral pulmonary infection, one infected area, lower left lung."
RIGHT = "Unilateral pulmonary infection, one infected area, upper right lung."
TEXT_HUB_NAME = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"  # as in BiomedCLIP's config
EMBED_DIM = 48
WORDS = ("the a an of in on and with without no is are was were there left right lower upper middle lung lungs "
         "lobe lobes field fields zone bilateral unilateral pulmonary infection infected area areas one two three "
         "four opacity opacities ground glass patchy diffuse focal effusion pleural small large mild moderate "
         "severe consolidation nodule nodules mass heart cardiac normal size chest findings impression "
         "interlobular septal thickening both sides side region regions base apex covid pneumonia").split()


def _vocab():
    return (["[PAD]"] + [f"[unused{i}]" for i in range(5)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            + list(".,;:-()/") + WORDS + list("abcdefghijklmnopqrstuvwxyz0123456789")
            + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + ["##s", "##ed", "##al", "##ly"])


def _model_cfg(text_source: str) -> dict:
    """BiomedCLIP's model_cfg with a tiny ViT and the text tower named ``text_source``."""
    return {
        "embed_dim": EMBED_DIM,
        "vision_cfg": {"timm_model_name": "vit_tiny_patch16_224", "timm_model_pretrained": False, "timm_pool": "",
                       "timm_proj": "linear", "image_size": 224},
        "text_cfg": {"hf_model_name": text_source, "hf_tokenizer_name": text_source, "hf_proj_type": "mlp",
                     "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 256},
    }


@pytest.fixture(scope="module")
def biomedclip_dir(tmp_path_factory):
    from open_clip.model import CustomTextCLIP
    from transformers import BertConfig

    root = tmp_path_factory.mktemp("BiomedCLIP-tiny")
    vocab = _vocab()
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
               "mask_token": "[MASK]"}
    (root / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512, **special}))
    (root / "special_tokens_map.json").write_text(json.dumps(special))
    BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=64, max_position_embeddings=512, pad_token_id=0).save_pretrained(root)
    # random CLIP weights from a model built with that config (the text tower read from this folder)
    torch.manual_seed(0)
    cfg = _model_cfg(str(root))
    model = CustomTextCLIP(**{**cfg, "text_cfg": {**cfg["text_cfg"], "hf_model_pretrained": False}})
    torch.save(model.state_dict(), root / "open_clip_pytorch_model.bin")
    (root / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": _model_cfg(TEXT_HUB_NAME),
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                           "std": [0.26862954, 0.26130258, 0.27577711]}}, indent=2))
    return root


@pytest.fixture(scope="module")
def towers(biomedclip_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WEIGHTS_ENV, str(biomedclip_dir))
        mp.setenv("HF_HUB_OFFLINE", "1")
        return create_towers("BiomedCLIP", **model_settings())


def make_net(towers, deep_supervision=True, **kw):
    torch.manual_seed(0)
    return create_tgc_net("BiomedCLIP", 1, 2, deep_supervision=deep_supervision, towers=towers, verbose=False,
                          **{**PLANS, **kw})


def encode(net, texts):
    return encode_reports(net.towers, texts)


def test_local_folder_builds_the_towers_with_its_weights(towers, biomedclip_dir, monkeypatch):
    from open_clip.model import CustomTextCLIP
    from open_clip.tokenizer import HFTokenizer
    assert isinstance(towers.clip, CustomTextCLIP)
    assert isinstance(towers.image, _TimmViT) and isinstance(towers.text, _HFText)
    assert isinstance(towers.tokenizer, HFTokenizer) and towers.text.context_length == 256
    assert (towers.vision_width, towers.image.depth, towers.patch_size, towers.joint_dim) == (192, 12, (16, 16),
                                                                                               EMBED_DIM)
    assert towers.weights_source == f"file:{biomedclip_dir.resolve()}"
    saved = torch.load(biomedclip_dir / "open_clip_pytorch_model.bin", weights_only=True)
    current = towers.clip.state_dict()
    assert set(saved) == set(current) and all(torch.equal(saved[k], current[k]) for k in saved)
    # a second build from the same folder, given as the argument, has the same fingerprint (what checkpoints
    # are checked against); the folder's tokenizer comes with it
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = create_towers("BiomedCLIP", weights=biomedclip_dir)
    assert isinstance(again.tokenizer, HFTokenizer) and again.weights_source == towers.weights_source
    assert again.fingerprint == towers.fingerprint == weights_fingerprint(again.clip)


def test_image_taps_and_dense_features_are_timms_own(towers):
    trunk, head = towers.clip.visual.trunk, towers.clip.visual.head
    x = torch.randn(1, 3, 224, 224)
    blocks = {}
    hooks = [trunk.blocks[i].register_forward_hook(lambda m, a, out, i=i: blocks.__setitem__(i, out))
             for i in towers.taps]
    try:
        with torch.no_grad():
            normed = trunk.forward_features(x)  # (B, 1 + 14*14, width), after trunk.norm
            image_embedding = towers.clip.encode_image(x)
    finally:
        for h in hooks:
            h.remove()
    maps, dense = towers.encode_image(x)
    assert [m.shape for m in maps] == [(1, 192, 14, 14)] * 4 and dense.shape == (1, EMBED_DIM, 14, 14)
    for m, i in zip(maps, towers.taps):
        assert torch.allclose(m.flatten(2).transpose(1, 2), blocks[i][:, 1:], atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(dense.flatten(2).transpose(1, 2), head(normed[:, 1:]), atol=1e-5)
        # the dense features live where CLIP's image embedding lives: the same head on the class token
        assert torch.allclose(image_embedding, head(normed[:, 0]), atol=1e-5)
    # other patch sizes: timm resamples the position table; sizes off the patch grid are padded
    for size, grid in (((192, 160), (12, 10)), ((200, 150), (13, 10))):
        maps, dense = towers.encode_image(torch.randn(1, 3, *size))
        assert all(m.shape == (1, 192, *grid) for m in maps) and dense.shape == (1, EMBED_DIM, *grid)


@pytest.mark.parametrize("size", [(224, 224), (192, 160)])
def test_network_output_shapes(towers, size):
    net = make_net(towers)
    text = encode(net, [LEFT])
    out = net(torch.randn(1, 1, *size), text)
    assert isinstance(out, list) and len(out) == 5
    for i, o in enumerate(out):
        assert o.shape == (1, 2, size[0] // 2 ** i, size[1] // 2 ** i)
    net.decoder.deep_supervision = False
    out = net(torch.randn(1, 1, *size), text)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 2, *size)


def test_reports_encode_to_tokens_mask_and_pooled(towers):
    tok = towers.tokenizer
    enc = towers.encode_texts([LEFT])[0]
    n = towers.text.count_tokens(LEFT)
    assert n > 5 and tok.tokenizer.unk_token_id not in tok([LEFT])[0]  # the vocabulary covers the report
    assert enc.tokens.shape == (1, n + 2, EMBED_DIM)  # [CLS] report [SEP]
    assert enc.token_mask.shape == (1, n + 2) and enc.token_mask.all()
    assert enc.pooled.shape == (1, EMBED_DIM) and enc.knowledge.shape == (1, 0, EMBED_DIM)
    # pooled is CLIP's own text embedding; the [CLS] token feature is the same vector
    with torch.no_grad():
        reference = towers.clip.encode_text(tok([LEFT]))
    assert torch.allclose(enc.pooled, reference, atol=1e-5)
    assert torch.allclose(enc.tokens[0, 0], reference[0], atol=1e-5)
    sentences = towers.embed_sentences([LEFT, RIGHT])
    assert sentences.shape == (2, EMBED_DIM) and not torch.allclose(sentences[0], sentences[1])


def test_long_reports_are_chunked_with_the_hf_tokenizer_not_truncated(towers):
    text = towers.text
    sentence = "Patchy ground glass opacity in the lower left lung with interlobular septal thickening. "
    long_report = sentence * 30
    limit = text.context_length - 2  # [CLS] and [SEP] per chunk
    n = text.count_tokens(long_report)
    assert n > limit
    chunks = split_into_chunks(long_report, text.count_tokens, limit)
    assert len(chunks) > 1 and all(text.count_tokens(c) <= limit for c in chunks)
    assert " ".join(chunks).split() == long_report.split()
    ids = towers.tokenizer(chunks)  # every chunk fits its context window whole: ends with [SEP]
    sep, pad = towers.tokenizer.tokenizer.sep_token_id, towers.tokenizer.tokenizer.pad_token_id
    lengths = (ids != pad).sum(1)
    assert torch.equal(ids[torch.arange(len(chunks)), lengths - 1], torch.full((len(chunks),), sep))
    enc = towers.encode_texts([long_report])[0]
    assert enc.tokens.shape[1] == n + 2 * len(chunks)
    other = towers.encode_texts([long_report + "Small right effusion."])[0]
    assert not torch.allclose(enc.pooled, other.pooled)


def test_different_reports_give_different_outputs(towers):
    net = make_net(towers, deep_supervision=False).eval()
    x = torch.randn(1, 1, 64, 64).expand(2, -1, -1, -1)
    out = net(x, encode(net, [LEFT, RIGHT]))
    assert not torch.allclose(out[0], out[1], atol=1e-3)
    same = net(x, encode(net, [LEFT, LEFT]))
    # the two samples of a batch take slightly different float paths (about 1e-5 here)
    assert torch.allclose(same[0], same[1], atol=1e-4)


def test_state_dict_has_no_frozen_weights(towers):
    net = make_net(towers)
    sd = net.state_dict()
    assert not any(k.startswith("towers.clip") for k in sd)
    unique = {v.data_ptr(): v.numel() for v in sd.values() if isinstance(v, torch.Tensor)}
    assert sum(unique.values()) == net.parameter_counts()["trainable"] + sum(b.numel() for k, b in net.named_buffers()
                                                                           if k in sd)
    assert net.parameter_counts()["frozen"] >= towers.num_frozen_parameters() > 0
    assert sd[TOWER_RECORD_KEY] == {"backbone": "BiomedCLIP", "fingerprint": towers.fingerprint,
                                 "weights_source": towers.weights_source, "build": towers.build,
                                 "knowledge_fingerprint": towers.knowledge_fingerprint}
    # the build is recorded with the folder's config as written (hub names, not this machine's path)
    assert towers.build["model_cfg"]["text_cfg"]["hf_model_name"] == TEXT_HUB_NAME
    assert towers.build["activations"] == ["GELU", "GELUActivation"]  # timm ViT and BERT: plain GELU
    make_net(towers).load_state_dict(sd, strict=True)


def test_folder_without_the_text_config_says_what_to_copy(biomedclip_dir, tmp_path, monkeypatch):
    folder = tmp_path / "BiomedCLIP-no-text-config"
    shutil.copytree(biomedclip_dir, folder, ignore=shutil.ignore_patterns("config.json"))
    monkeypatch.setenv(WEIGHTS_ENV, str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CLIPWeightsError, match=r"(?s)BiomedNLP-BiomedBERT.*copy that config\.json"):
        create_towers("BiomedCLIP", **model_settings())


def test_without_weights_and_hub_the_error_names_the_env_var(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CLIPWeightsError, match=WEIGHTS_ENV):
        create_towers("BiomedCLIP", **model_settings())


def test_folder_without_weights_is_refused_not_random(biomedclip_dir, tmp_path, monkeypatch):
    """open_clip only logs a warning when a local-dir folder holds no weights; here it is an error."""
    folder = tmp_path / "BiomedCLIP-no-weights"
    shutil.copytree(biomedclip_dir, folder, ignore=shutil.ignore_patterns("open_clip_pytorch_model.bin"))
    monkeypatch.setenv(WEIGHTS_ENV, str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CLIPWeightsError, match=r"BiomedCLIP-no-weights"):
        create_towers("BiomedCLIP", **model_settings())
