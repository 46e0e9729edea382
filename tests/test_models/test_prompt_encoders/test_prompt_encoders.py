"""The four Person-SAM text prompt encoders (supplement Table 5)."""
import pytest
import torch

from sapsam.models.prompt_encoders import (CLSPrompt, DensePrompt, DotPrompt,
                                           MCAPrompt)
from sapsam.registry import MODELS

# One intra-op thread (tests/conftest.py), as every Person-SAM test.
pytestmark = pytest.mark.usefixtures('one_thread')

TEXT_DIM, EMBED_DIM, GRID = 24, 16, (4, 6)
VARIANTS = ['CLSPrompt', 'DensePrompt', 'DotPrompt', 'MCAPrompt']


def build(name, **kwargs):
    kwargs.setdefault('text_dim', TEXT_DIM)
    kwargs.setdefault('embed_dim', EMBED_DIM)
    kwargs.setdefault('image_embedding_size', GRID)
    if name == 'MCAPrompt':
        kwargs.setdefault('num_heads', 2)
    return MODELS.build(dict(type=name, **kwargs))


def inputs(batch=3, length=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(batch, length, TEXT_DIM, generator=gen)
    lengths = torch.tensor([3, 5, 8][:batch])  # [CLS] ... [SEP] then [PAD]
    mask = torch.arange(length)[None] < lengths[:, None]
    image = torch.randn(batch, EMBED_DIM, *GRID, generator=gen)
    return feats, mask, image


@pytest.mark.parametrize('name', VARIANTS)
def test_shapes_and_gradient_flow(name):
    torch.manual_seed(0)
    encoder = build(name)
    feats, mask, image = inputs()
    feats.requires_grad_(True)
    sparse, dense = encoder(feats, mask, image)
    assert sparse.shape == (3, 1, EMBED_DIM)
    assert dense.shape == (3, EMBED_DIM, *GRID)
    (sparse.square().sum() + dense.square().sum()).backward()
    for pname, param in encoder.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, pname
    assert feats.grad.abs().sum() > 0


@pytest.mark.parametrize('name', VARIANTS)
def test_registry_swap_by_type(name):
    cls = {'CLSPrompt': CLSPrompt, 'DensePrompt': DensePrompt,
           'DotPrompt': DotPrompt, 'MCAPrompt': MCAPrompt}[name]
    assert type(build(name)) is cls
    # A config may name the class object instead of the string.
    assert type(MODELS.build(dict(
        type=cls, text_dim=TEXT_DIM, embed_dim=EMBED_DIM,
        image_embedding_size=(6, 6)))) is cls


def _changed_padding(feats, mask):
    other = feats.clone()
    other[~mask] = torch.randn_like(other[~mask]) * 10
    return other


def test_cls_prompt_dense_is_the_no_mask_embedding():
    encoder = build('CLSPrompt')
    feats, mask, image = inputs()
    sparse, dense = encoder(feats, mask, image)
    expected = encoder.no_mask_embed.weight[0][None, :, None, None]
    assert torch.equal(dense, expected.expand_as(dense))
    torch.testing.assert_close(sparse[:, 0], encoder.text_proj(feats[:, 0]))


def test_mca_layout_and_key_padding_mask():
    torch.manual_seed(0)
    encoder = build('MCAPrompt')
    feats, mask, image = inputs()
    sparse, dense = encoder(feats, mask, image)
    # Query x fills grid column x on every row (official layout).
    assert torch.equal(dense, dense[:, :, :1].expand_as(dense))
    keys = encoder.key_proj(feats[:, 1:])
    attended, _ = encoder.attention(
        encoder.queries.expand(3, -1, -1), keys, keys,
        key_padding_mask=~mask[:, 1:])
    torch.testing.assert_close(dense[:, :, 0], attended.transpose(1, 2))
    # Masked [PAD] features do not reach the prompt ...
    other = _changed_padding(feats, mask)
    torch.testing.assert_close(encoder(other, mask)[1], dense)
    # ... while the official behaviour (no mask) attends to them.
    official = build('MCAPrompt', use_key_padding_mask=False)
    official.load_state_dict(encoder.state_dict())
    assert not torch.allclose(official(other, mask)[1], official(feats,
                                                                 mask)[1])


def test_mca_needs_one_query_per_grid_column():
    with pytest.raises(ValueError, match='grid width 6'):
        build('MCAPrompt', num_queries=5)
    assert build('MCAPrompt').queries.shape == (1, GRID[1], EMBED_DIM)


def test_dense_prompt_spreads_real_tokens_over_the_columns():
    torch.manual_seed(0)
    encoder = build('DensePrompt')
    feats, mask, image = inputs()
    _, dense = encoder(feats, mask, image)
    assert torch.equal(dense, dense[:, :, :1].expand_as(dense))
    tokens = encoder.token_proj(feats[:, 1:])
    # Sample 1 has 4 real tokens after [CLS]: first and last columns are
    # its first and last real token.
    torch.testing.assert_close(dense[1, :, 0, 0], tokens[1, 0])
    torch.testing.assert_close(dense[1, :, 0, -1], tokens[1, 3])
    torch.testing.assert_close(encoder(_changed_padding(feats, mask),
                                       mask)[1], dense)


def test_dot_prompt_follows_the_image():
    torch.manual_seed(0)
    encoder = build('DotPrompt')
    feats, mask, image = inputs()
    sparse, dense = encoder(feats, mask, image)
    text = sparse[:, 0]
    relevance = torch.einsum('bc,bchw->bhw',
                             torch.nn.functional.normalize(text, dim=-1),
                             image) / EMBED_DIM ** 0.5
    torch.testing.assert_close(
        dense, relevance[:, None] * encoder.value_proj(text)[..., None, None])
    assert not torch.allclose(encoder(feats, mask, -image)[1], dense)
    with pytest.raises(ValueError, match='image_embeddings'):
        encoder(feats, mask, None)


def test_bad_text_features_are_reported():
    encoder = build('CLSPrompt')
    feats, mask, _ = inputs()
    with pytest.raises(ValueError, match='text_feats'):
        encoder(feats[..., :5], mask)
    with pytest.raises(ValueError, match='text_mask'):
        encoder(feats, mask[:, :4])
