"""Checkpoints researchers already hold: IRRA's / SAP-SAM's ``best.pth`` and
the official Person-SAM ``best.pth``, converted into sapsam models.

Each test writes a checkpoint with the official key layout from modules
named as in the official code (IRRA ``model/build.py``: ``base_model``,
``cross_attn``, ``cross_modal_transformer``, ``ln_pre_t``, ``ln_pre_i``,
``ln_post``, ``mlm_head``; SAP-SAM ``models/PersonSAM.py``: the Hugging Face
SAM parts, ``text_prompt_encoder``, ``text_proj``, ``transform_linear``,
``fixed_query``, ``transform_attention``), computes what those weights
compute, and checks that the converted sapsam model computes the same.
"""
import os.path as osp
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SAPSAM_CFG = osp.join(REPO, 'configs/sapsam/elca_synthetic.py')
BASELINE_CFG = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')
PERSON_SAM_CFG = osp.join(REPO, 'configs/person_sam/mca_atr_synthetic.py')


def _perturb(module, seed):
    """Random offsets, so swapped LayerNorms or projections show."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=gen))
    return module


# ------------------------------------------------------------------ IRRA
class IRRALayout(nn.Module):
    """IRRA's module tree: CLIP as ``base_model`` plus the cross-former."""

    def __init__(self, clip, width, heads, depth, vocab):
        super().__init__()
        from open_clip.transformer import LayerNorm, QuickGELU, Transformer
        self.base_model = clip
        self.cross_attn = nn.MultiheadAttention(width, heads,
                                                batch_first=True)
        self.cross_modal_transformer = Transformer(
            width, depth, heads, act_layer=QuickGELU, batch_first=True)
        self.ln_pre_t = LayerNorm(width)
        self.ln_pre_i = LayerNorm(width)
        self.ln_post = LayerNorm(width)
        self.mlm_head = nn.Sequential(OrderedDict([
            ('dense', nn.Linear(width, width)), ('gelu', QuickGELU()),
            ('ln', LayerNorm(width)), ('fc', nn.Linear(width, vocab))]))


@pytest.fixture(scope='module')
def irra_checkpoint(tmp_path_factory):
    """``best.pth`` as IRRA saves it (``{'model': fp16 state dict}``), the
    IRRA-layout module (fp16-rounded weights) and the sapsam model sizes."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    from sapsam.apis import init_retriever
    from sapsam.models.backbones.clip_backbone import CLIP_ARCHS
    target = init_retriever(SAPSAM_CFG)
    backbone = target.model.backbone
    decoder = target.model.cross_modal_decoder
    arch = target.cfg.model.backbone.arch
    arch = CLIP_ARCHS[arch] if isinstance(arch, str) else arch
    torch.manual_seed(1)
    clip = CLIP(backbone.embed_dim,
                vision_cfg=CLIPVisionCfg(image_size=backbone.image_size,
                                         **arch['vision']),
                text_cfg=CLIPTextCfg(context_length=77, vocab_size=49408,
                                     **arch['text']), quick_gelu=True)
    irra = _perturb(IRRALayout(clip, backbone.embed_dim,
                               decoder.cross_attn.num_heads,
                               len(decoder.transformer.resblocks), 49408), 1)
    state = {k: v.half() for k, v in irra.state_dict().items()}
    path = str(tmp_path_factory.mktemp('irra') / 'best.pth')
    torch.save({'model': state, 'num_epoch': 60}, path)
    irra.load_state_dict({k: v.float() for k, v in state.items()})
    return dict(path=path, irra=irra.eval())


def _inputs(backbone):
    from sapsam.models.tokenizers import CLIPTokenizer
    gen = torch.Generator().manual_seed(5)
    images = torch.randn(3, 3, *backbone.image_size, generator=gen)
    ids = torch.stack([CLIPTokenizer()(t) for t in (
        'a woman in a red coat', 'a man with a black backpack',
        'white sneakers and blue jeans')])
    return images, ids


@torch.no_grad()
def test_irra_checkpoint_gives_irras_features_in_sapsam(
        irra_checkpoint, load_tool,
                                                         tmp_path, capsys):
    from sapsam.apis import init_retriever
    tool = load_tool('tools/model_converters/irra_to_sapsam.py')
    dst = str(tmp_path / 'sapsam_from_irra.pth')
    tool.main([irra_checkpoint['path'], dst, '--config', SAPSAM_CFG,
               '--init-missing', '--verify'])
    out = capsys.readouterr().out
    assert 'verified' in out and 'mlm_logits' in out
    assert "['alignment_head.classifier', 'alignment_head.cross_attn']" in out

    # What IRRA computes: open_clip's own CLIP forward on IRRA's weights.
    irra = irra_checkpoint['irra']
    model = init_retriever(SAPSAM_CFG, dst).model  # strict, as tools do
    images, ids = _inputs(model.backbone)
    want_img = F.normalize(irra.base_model.encode_image(images), dim=-1)
    want_txt = F.normalize(irra.base_model.encode_text(ids), dim=-1)
    assert torch.allclose(model.extract_image_feat(images), want_img,
                          atol=1e-5)
    assert torch.allclose(model.extract_text_feat(ids), want_txt, atol=1e-5)
    # IRRA's cross_former + mlm_head (model/build.py) on the token features.
    text_tokens = model.backbone.encode_text(ids)
    image_tokens = model.backbone.encode_image(images)
    k = irra.ln_pre_i(image_tokens)
    x = irra.cross_attn(irra.ln_pre_t(text_tokens), k, k)[0]
    want = irra.mlm_head(irra.ln_post(irra.cross_modal_transformer(x)))
    ours = model.mlm_head(model.cross_modal_decoder(text_tokens,
                                                    image_tokens))
    assert torch.allclose(ours, want, atol=1e-4)


def test_irra_checkpoint_into_the_baseline_and_refusals(
        irra_checkpoint, load_tool,
                                                        tmp_path, capsys):
    tool = load_tool('tools/model_converters/irra_to_sapsam.py')
    dst = str(tmp_path / 'baseline.pth')
    tool.main([irra_checkpoint['path'], dst, '--config', BASELINE_CFG,
               '--verify'])
    out = capsys.readouterr().out
    assert 'verified' in out and 'dropped' in out and 'cross_attn' in out
    # A SAP-SAM config needs its ELCA head: fail and say what to do.
    with pytest.raises(SystemExit, match='alignment_head.*--init-missing'):
        tool.main([irra_checkpoint['path'], dst, '--config', SAPSAM_CFG])
    # Not an IRRA file.
    other = str(tmp_path / 'other.pth')
    torch.save({'state_dict': {'backbone.x': torch.zeros(1)}}, other)
    with pytest.raises(SystemExit, match='other.pth: not an IRRA'):
        tool.main([other, dst, '--config', BASELINE_CFG])


def test_irra_verify_catches_a_wrong_mapping(irra_checkpoint, load_tool,
                                             tmp_path,
                                             monkeypatch):
    tool = load_tool('tools/model_converters/irra_to_sapsam.py')
    rules = [(p, r.replace('ln_query', '@').replace('ln_context', 'ln_query')
              .replace('@', 'ln_context')) for p, r in tool._RULES]
    monkeypatch.setattr(tool, '_RULES', tuple(rules))
    with pytest.raises(AssertionError, match='mlm_logits'):
        tool.main([irra_checkpoint['path'], str(tmp_path / 'x.pth'),
                   '--config', SAPSAM_CFG, '--init-missing', '--verify'])


# ------------------------------------------------------------- Person-SAM
@pytest.fixture(scope='module')
def tiny_bert(load_tool, tmp_path_factory):
    tool = load_tool('tools/misc/make_tiny_weights.py')
    return tool.make_tiny_weights(str(tmp_path_factory.mktemp('w')))['bert']


class OfficialPersonSAMLayout(nn.Module):
    """The official ``PersonSAM``'s parameters under their names."""

    def __init__(self, sam, bert, grid, dim, heads):
        super().__init__()
        self.shared_image_embedding = sam.shared_image_embedding
        self.vision_encoder = sam.vision_encoder
        self.prompt_encoder = sam.prompt_encoder  # loaded, never used
        self.mask_decoder = sam.mask_decoder
        self.no_mask_embed = nn.Embedding(1, dim)  # dead (fidelity P9)
        self.text_prompt_encoder = bert
        self.text_proj = nn.Linear(bert.config.hidden_size, dim)
        self.transform_linear = nn.Linear(bert.config.hidden_size, dim)
        self.fixed_query = nn.Parameter(torch.randn(1, grid, dim))
        self.transform_attention = nn.MultiheadAttention(dim, heads,
                                                         batch_first=True)
        self.sam = sam


@pytest.fixture(scope='module')
def official_person_sam(tiny_bert, tmp_path_factory):
    from transformers import BertModel, SamConfig, SamModel
    torch.manual_seed(2)
    sam = SamModel(SamConfig(  # the sizes of sapsam's 'tiny' preset
        vision_config=dict(hidden_size=64, num_hidden_layers=2,
                           num_attention_heads=2, global_attn_indexes=[1],
                           window_size=8, image_size=256, output_channels=64,
                           mlp_dim=256, num_pos_feats=32),
        prompt_encoder_config=dict(hidden_size=64, image_size=256),
        mask_decoder_config=dict(hidden_size=64, mlp_dim=256,
                                 num_attention_heads=4,
                                 iou_head_hidden_dim=64)))
    bert = BertModel.from_pretrained(tiny_bert)
    official = _perturb(OfficialPersonSAMLayout(sam, bert, 16, 64, 4), 2)
    state = {k: v for k, v in official.state_dict().items()
             if not k.startswith('sam.')}
    path = str(tmp_path_factory.mktemp('psam') / 'best.pth')
    torch.save(state, path)  # the official code saves the bare state dict
    return dict(path=path, official=official.eval(), bert=tiny_bert)


@torch.no_grad()
def _official_forward(official, pixels, tokens):
    """Official ``PersonSAM.forward`` (MCA path, docs/fidelity.md P6)."""
    feats = official.text_prompt_encoder(**tokens).last_hidden_state
    batch = feats.shape[0]
    sparse = official.text_proj(feats[:, 0])[:, None, None, :]
    keys = official.transform_linear(feats[:, 1:])
    attended = official.transform_attention(
        official.fixed_query.repeat(batch, 1, 1), keys, keys)[0]
    grid = attended.shape[1]
    dense = attended[:, None].repeat(1, grid, 1, 1).permute(0, 3, 1, 2)
    embeddings = official.vision_encoder(pixels).last_hidden_state
    pe = official.sam.get_image_wide_positional_embeddings()
    masks, iou = official.mask_decoder(
        image_embeddings=embeddings.expand(batch, -1, -1, -1),
        image_positional_embeddings=pe.repeat(batch, 1, 1, 1),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
        multimask_output=False)[:2]
    return masks[:, 0], iou[:, 0, 0]


@torch.no_grad()
def test_official_person_sam_masks_equal_in_sapsam(
        official_person_sam, load_tool,
                                                   tmp_path, capsys):
    from mmengine.runner import load_checkpoint
    tool = load_tool(
        'tools/model_converters/person_sam_official_to_sapsam.py')
    dst = str(tmp_path / 'person_sam.pth')
    options = [f'model.text_encoder.pretrained={official_person_sam["bert"]}',
               'model.prompt_encoder.use_key_padding_mask=False']
    tool.main([official_person_sam['path'], dst, '--config', PERSON_SAM_CFG,
               '--verify', '--cfg-options', *options])
    assert 'verified' in capsys.readouterr().out

    model = tool.build_model(PERSON_SAM_CFG, {
        'model.text_encoder.pretrained': official_person_sam['bert'],
        'model.prompt_encoder.use_key_padding_mask': False})
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    phrases = ['long black hair', 'a pair of white sneakers on the feet']
    pixels = torch.randn(1, 3, 256, 256,
                         generator=torch.Generator().manual_seed(3))
    want_logits, want_iou = _official_forward(
        official_person_sam['official'], pixels,
        dict(model.text_encoder.tokenize(phrases)))
    logits, iou = model.decode(model.image_encoder(pixels), phrases,
                               torch.zeros(2, dtype=torch.long))
    assert torch.allclose(logits, want_logits, atol=1e-4)
    assert torch.allclose(iou, want_iou, atol=1e-5)
    assert torch.equal(logits > 0, want_logits > 0)  # the masks


def test_person_sam_verify_catches_a_wrong_mapping(
        official_person_sam, load_tool,
                                                   tmp_path, monkeypatch):
    tool = load_tool(
        'tools/model_converters/person_sam_official_to_sapsam.py')
    rules = dict(tool._TEXT_RULES)
    rules[r'^text_proj\.'], rules[r'^transform_linear\.'] = \
        rules[r'^transform_linear\.'], rules[r'^text_proj\.']
    monkeypatch.setattr(tool, '_TEXT_RULES', tuple(rules.items()))
    with pytest.raises(AssertionError, match='mask_logits'):
        tool.main([official_person_sam['path'], str(tmp_path / 'x.pth'),
                   '--config', PERSON_SAM_CFG, '--verify', '--cfg-options',
                   f'model.text_encoder.pretrained='
                   f'{official_person_sam["bert"]}',
                   'model.prompt_encoder.use_key_padding_mask=False'])
