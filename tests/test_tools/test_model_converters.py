"""Hugging Face -> OpenAI CLIP and -> segment_anything SAM converters on tiny
random models saved with ``save_pretrained``."""
import pytest
import torch

from tests.helpers import load_script as _load_tool


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """The shared CPUs are oversubscribed; one intra-op thread is faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _perturb(model, seed=0):
    """Random offsets on every parameter: a freshly initialised model has
    identical LayerNorms (ones/zeros) that would hide swapped names."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=gen))
    return model


@pytest.fixture(scope='module')
def hf_clip_dir(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel
    torch.manual_seed(0)
    tower = dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=2, hidden_act='quick_gelu')
    config = CLIPConfig(
        text_config=dict(tower, vocab_size=49408,
                         max_position_embeddings=77),
        vision_config=dict(tower, image_size=32, patch_size=8),
        projection_dim=16)
    out = str(tmp_path_factory.mktemp('hf_clip'))
    _perturb(CLIPModel(config)).save_pretrained(out)
    return out


@pytest.fixture(scope='module')
def hf_sam_dir(tmp_path_factory):
    """A ``SamModel`` with the sizes of Person-SAM's ``'tiny'`` preset."""
    from transformers import SamConfig, SamModel
    torch.manual_seed(0)
    config = SamConfig(
        vision_config=dict(hidden_size=64, num_hidden_layers=2,
                           num_attention_heads=2, global_attn_indexes=[1],
                           window_size=8, image_size=256, output_channels=64,
                           mlp_dim=256, num_pos_feats=32),
        prompt_encoder_config=dict(hidden_size=64, image_size=256),
        mask_decoder_config=dict(hidden_size=64, mlp_dim=256,
                                 num_attention_heads=4,
                                 iou_head_hidden_dim=64))
    out = str(tmp_path_factory.mktemp('hf_sam'))
    _perturb(SamModel(config)).save_pretrained(out)
    return out


def test_clip_converter_round_trip(hf_clip_dir, tmp_path, capsys):
    tool = _load_tool('tools/model_converters/clip_hf_to_openai.py')
    dst = str(tmp_path / 'clip_openai.pth')
    tool.main([hf_clip_dir, dst, '--verify'])
    assert 'verified' in capsys.readouterr().out
    state = torch.load(dst, weights_only=True)
    assert state['transformer.resblocks.1.attn.in_proj_weight'].shape == \
        (96, 32)
    assert state['text_projection'].shape == (32, 16)  # (width, D)
    assert state['visual.proj'].shape == (32, 16)

    # The check fails on a wrong conversion (two LayerNorms swapped).
    ln_1, ln_2 = ('visual.transformer.resblocks.0.ln_1.weight',
                  'visual.transformer.resblocks.0.ln_2.weight')
    state[ln_1], state[ln_2] = state[ln_2], state[ln_1]
    torch.save(state, dst)
    with pytest.raises(AssertionError, match='image features differ'):
        tool.verify(hf_clip_dir, dst)

    # The backbone then loads the converted file at the TBPR resolution
    # (position embedding resized to the 12x4 grid).
    from transformers import CLIPConfig

    from sapsam.models import CLIPBackbone
    tool.convert(hf_clip_dir, dst)
    kwargs = tool.backbone_kwargs(CLIPConfig.from_pretrained(hf_clip_dir))
    backbone = CLIPBackbone(**dict(kwargs, image_size=(96, 32)),
                            pretrained=dst)
    assert backbone.visual.positional_embedding.shape == (1 + 12 * 4, 32)


def test_clip_converter_rejects_other_models():
    tool = _load_tool('tools/model_converters/clip_hf_to_openai.py')
    with pytest.raises(KeyError, match='without an OpenAI CLIP counterpart'):
        tool.convert_hf_clip({'bert.embeddings.word_embeddings.weight':
                              torch.zeros(2, 2)})


def test_sam_converter_round_trip(hf_sam_dir, tmp_path, capsys):
    tool = _load_tool('tools/model_converters/sam_hf_to_segment_anything.py')
    dst = str(tmp_path / 'sam.pth')
    tool.main([hf_sam_dir, dst, '--verify'])
    out = capsys.readouterr().out
    assert 'verified' in out and 'masks' in out
    state = torch.load(dst, weights_only=True)
    # The exact key set of segment_anything's Sam of these sizes.
    from transformers import SamConfig
    sam = tool.build_segment_anything(SamConfig.from_pretrained(hf_sam_dir))
    assert set(state) == set(sam.state_dict())

    # Person-SAM's tiny SAM parts load the converted file strictly, as its
    # config's init_cfg loads it.
    from sapsam.models.segmentors import SAMImageEncoder, SAMMaskDecoder
    for part in (SAMImageEncoder, SAMMaskDecoder):
        part('tiny', init_cfg=dict(type='Pretrained',
                                   checkpoint=dst)).init_weights()

    # The check fails on a wrong conversion (hypernetwork layers swapped).
    first = 'mask_decoder.output_hypernetworks_mlps.0.layers.0.weight'
    second = 'mask_decoder.output_hypernetworks_mlps.0.layers.1.weight'
    state[first], state[second] = state[second], state[first]
    torch.save(state, dst)
    with pytest.raises(AssertionError, match='masks differ'):
        tool.verify(hf_sam_dir, dst)
