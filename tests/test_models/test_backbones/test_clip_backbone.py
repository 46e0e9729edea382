"""CLIP backbone: token outputs and OpenAI checkpoint loading."""
import os.path as osp

import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

from sapsam.models import CLIPBackbone
from sapsam.models.backbones.clip_backbone import resize_pos_embed


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    return CLIPBackbone('tiny', image_size=(192, 64)).eval()


def _ids(batch=2, length=77):
    ids = torch.randint(1, 1000, (batch, length))
    ids[:, 0] = 49406
    for row in range(batch):
        eot = 9 + 11 * row
        ids[row, eot], ids[row, eot + 1:] = 49407, 0
    return ids


def test_token_shapes_and_globals(tiny):
    images = torch.randn(2, 3, 192, 64)
    ids = _ids()
    with torch.no_grad():
        image_tokens = tiny.encode_image(images)
        text_tokens = tiny.encode_text(ids)
    assert tiny.grid_size == (24, 8)
    assert image_tokens.shape == (2, 1 + 24 * 8, 64)
    assert text_tokens.shape == (2, 77, 64)
    glob = tiny.text_global(text_tokens, ids)
    assert torch.equal(glob[0], text_tokens[0, 9])
    assert torch.equal(glob[1], text_tokens[1, 20])
    # Causal text encoder: tokens after the EOT do not change the EOT feature.
    ids2 = ids.clone()
    ids2[0, 30] = 123
    with torch.no_grad():
        assert torch.allclose(tiny.encode_text(ids2)[0, 9], text_tokens[0, 9],
                              atol=1e-6)
    # Replacing the patch embedding with itself changes nothing.
    with torch.no_grad():
        again = tiny.encode_image(None, patch_embeds=tiny.embed_patches(images))
    assert torch.allclose(again, image_tokens, atol=1e-6)


def test_openai_state_dict_round_trip(tiny, tmp_path):
    path = str(tmp_path / 'clip.pt')
    state = tiny.openai_state_dict()
    state['input_resolution'] = torch.tensor(192)
    torch.save(state, path)
    loaded = CLIPBackbone('tiny', image_size=(192, 64), pretrained=path).eval()
    images, ids = torch.randn(1, 3, 192, 64), _ids(1)
    with torch.no_grad():
        assert torch.equal(loaded.encode_image(images), tiny.encode_image(images))
        assert torch.equal(loaded.encode_text(ids), tiny.encode_text(ids))


def test_openai_torchscript_archive_with_square_grid(tmp_path):
    """An OpenAI-style TorchScript CLIP at 32x32 (2x2 grid) loads into a
    64x32 model (4x2 grid) with an interpolated position embedding."""
    torch.manual_seed(1)
    clip = CLIP(64, vision_cfg=CLIPVisionCfg(image_size=32, width=64, layers=2,
                                             head_width=32, patch_size=16),
                text_cfg=CLIPTextCfg(width=64, heads=2, layers=2),
                quick_gelu=True).eval()
    path = str(tmp_path / 'ViT-tiny.pt')
    torch.jit.script(clip).save(path)
    arch = dict(embed_dim=64,
                vision=dict(width=64, layers=2, head_width=32, patch_size=16),
                text=dict(width=64, heads=2, layers=2))
    model = CLIPBackbone(arch, image_size=(64, 32), pretrained=path).eval()
    pos = clip.visual.positional_embedding.detach()
    assert torch.equal(model.visual.positional_embedding[0], pos[0])
    assert torch.allclose(model.visual.positional_embedding,
                          resize_pos_embed(pos, (4, 2)))
    ids = _ids(1)
    with torch.no_grad():
        ours = model.text_global(model.encode_text(ids), ids)
        theirs = clip.encode_text(ids)
    assert torch.allclose(ours, theirs, atol=1e-5)
    # Same grid: image features equal open_clip's own encoder.
    same = CLIPBackbone(arch, image_size=(32, 32), pretrained=path).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(same.encode_image(images)[:, 0],
                              clip.encode_image(images), atol=1e-5)


def test_checkpoint_that_does_not_fit_names_keys(tiny, tmp_path):
    state = tiny.openai_state_dict()
    state.pop('ln_final.weight')
    state['extra.weight'] = torch.zeros(1)
    path = str(tmp_path / 'bad.pt')
    torch.save(state, path)
    with pytest.raises(RuntimeError) as err:
        CLIPBackbone('tiny', image_size=(192, 64), pretrained=path)
    message = str(err.value)
    assert 'bad.pt' in message and "missing keys: ['ln_final.weight']" in message
    assert "unexpected keys: ['extra.weight']" in message
    small = CLIPBackbone('small', image_size=(192, 64)).openai_state_dict()
    torch.save(small, path)
    with pytest.raises(RuntimeError, match='shape mismatch'):
        CLIPBackbone('tiny', image_size=(192, 64), pretrained=path)
    with pytest.raises(FileNotFoundError, match='nothing.pt'):
        CLIPBackbone('tiny', pretrained=osp.join(str(tmp_path), 'nothing.pt'))
    with pytest.raises(KeyError, match='unknown CLIP arch'):
        CLIPBackbone('ViT-X/3')


def test_vit_b16_preset_matches_openai_sizes():
    model = CLIPBackbone('ViT-B/16')
    assert model.grid_size == (24, 8) and model.embed_dim == 512
    assert model.visual.positional_embedding.shape == (193, 768)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(
        149.6e6, rel=0.01)
