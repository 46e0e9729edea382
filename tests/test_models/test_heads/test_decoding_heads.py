"""Cross-modal decoder, MLM head, image decoding heads, dVAE tokenizer."""
import math

import pytest
import torch
import torch.nn.functional as F

from sapsam.models.heads import (CrossModalDecoder, ImageDecodingHead,
                                 MaskedLanguageHead)
from sapsam.models.image_tokenizers import DVAEImageTokenizer

DIM = 16
TINY_DVAE = dict(vocab_size=12, hidden_dim=8, blocks_per_group=1)


def _save_dalle_style(module: DVAEImageTokenizer, path) -> None:
    """Save with DALL-E's own parameter names (``.w`` / ``.b``)."""
    state = {}
    for key, value in module.state_dict().items():
        key = key.replace('.weight', '.w').replace('.bias', '.b')
        state[key] = value
    torch.save(state, path)


@pytest.fixture
def dvae_path(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'dvae_encoder.pth'
    _save_dalle_style(DVAEImageTokenizer(**TINY_DVAE), path)
    return str(path)


def test_decoder_shapes_and_ignores_padded_context():
    torch.manual_seed(0)
    decoder = CrossModalDecoder(embed_dim=DIM, num_heads=2, depth=2).eval()
    query, context = torch.randn(2, 5, DIM), torch.randn(2, 7, DIM)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[:, 4:] = True
    out = decoder(query, context, padding)
    assert out.shape == (2, 5, DIM)
    changed = context.clone()
    changed[:, 4:] = torch.randn(2, 3, DIM) * 10
    torch.testing.assert_close(decoder(query, changed, padding), out)
    assert not torch.allclose(decoder(query, changed), decoder(query, context))


def test_mlm_loss_uses_masked_positions_only():
    torch.manual_seed(0)
    head = MaskedLanguageHead(embed_dim=DIM, vocab_size=50)
    features = torch.randn(2, 6, DIM, requires_grad=True)
    labels = torch.zeros(2, 6, dtype=torch.long)
    labels[0, 2], labels[1, 4] = 7, 11
    out = head.loss(features, labels)
    logits = head(features)
    expected = F.cross_entropy(torch.stack([logits[0, 2], logits[1, 4]]),
                               torch.tensor([7, 11]))
    torch.testing.assert_close(out['loss_mlm'], expected)
    out['loss_mlm'].backward()
    grad_rows = features.grad.abs().sum(-1) > 0
    assert grad_rows.nonzero().tolist() == [[0, 2], [1, 4]]
    assert 0 <= out['mlm_acc'] <= 1


def test_mlm_loss_without_masked_tokens_is_zero_and_attached():
    head = MaskedLanguageHead(embed_dim=DIM, vocab_size=50)
    out = head.loss(torch.randn(2, 6, DIM), torch.zeros(2, 6,
                                                        dtype=torch.long))
    assert out['loss_mlm'].item() == 0
    out['loss_mlm'].backward()
    assert all(p.grad is not None for p in head.parameters())
    with pytest.raises(ValueError, match='labels'):
        head.loss(torch.randn(2, 6, DIM), torch.zeros(2, 5, dtype=torch.long))


@pytest.mark.parametrize('faithful,rates', [
    (False, (0.5, 0.2)),
    # D1: torch.randn < p masks with probability Phi(p).
    (True, (0.5 * (1 + math.erf(0.5 / 2 ** 0.5)),
            0.5 * (1 + math.erf(0.2 / 2 ** 0.5)))),
])
def test_image_mask_rates(faithful, rates):
    torch.manual_seed(0)
    head = ImageDecodingHead(embed_dim=DIM, vision_width=8, faithful=faithful)
    labels = torch.zeros(200, 192, dtype=torch.long)
    labels[:, :96] = torch.randint(1, 7, (200, 96))
    mask = head.sample_mask(labels)
    assert abs(mask[:, :96].float().mean() - rates[0]) < 0.01
    assert abs(mask[:, 96:].float().mean() - rates[1]) < 0.01


def test_linear_variants_regress_masked_patches_only():
    torch.manual_seed(0)
    for variant, width in (('linear_after_pe', 8), ('linear_after_vit', DIM)):
        head = ImageDecodingHead(variant, embed_dim=DIM, vision_width=8)
        assert head.mask_position == ('patch_embed' if variant.endswith('pe')
                                      else 'vit_output')
        tokens = torch.randn(2, 4, width, requires_grad=True)
        mask = torch.tensor([[True, False, False, True],
                             [False, False, True, False]])
        masked = head.mask_tokens(tokens, mask)
        assert torch.equal(masked[~mask], tokens[~mask])
        assert torch.equal(masked[mask][0], head.mask_token[0, 0])
        targets = head.targets(None, tokens, tokens, (2, 2))
        assert not targets.requires_grad
        decoded = torch.randn(2, 4, DIM)
        loss = head.loss(decoded, targets, mask)['loss_mim']
        expected = F.mse_loss(head.predictor(decoded[mask]), tokens[mask])
        torch.testing.assert_close(loss, expected)


def test_discrete_variants(dvae_path):
    tokenizer = dict(type='DVAEImageTokenizer', checkpoint=dvae_path,
                     **TINY_DVAE)
    head = ImageDecodingHead('discrete_wo_background', embed_dim=DIM,
                             vision_width=8, image_tokenizer=tokenizer)
    images = torch.randn(2, 3, 32, 16)
    ids = head.targets(images, None, None, (4, 2))
    assert ids.shape == (2, 8) and ids.dtype == torch.long
    ids = torch.tensor([[0, 3, 0, 5, 1, 0, 2, 2], [4, 0, 0, 0, 7, 8, 9, 0]])
    mask = torch.ones(2, 8, dtype=torch.bool)
    decoded = torch.randn(2, 8, DIM)
    loss = head.loss(decoded, ids, mask)['loss_mim']
    keep = ids != 0
    expected = F.cross_entropy(head.predictor(decoded[keep]), ids[keep])
    torch.testing.assert_close(loss, expected)
    with_bg = ImageDecodingHead('discrete', embed_dim=DIM, vision_width=8,
                                image_tokenizer=tokenizer)
    with_bg.predictor.load_state_dict(head.predictor.state_dict())
    expected_all = F.cross_entropy(with_bg.predictor(decoded.flatten(0, 1)),
                                   ids.flatten())
    torch.testing.assert_close(with_bg.loss(decoded, ids, mask)['loss_mim'],
                               expected_all)
    with pytest.raises(ValueError, match='image_tokenizer'):
        ImageDecodingHead('discrete')
    with pytest.raises(ValueError, match='unknown image decoding variant'):
        ImageDecodingHead('pixels')


def test_dvae_tokenizer_loads_dalle_names_and_is_frozen(dvae_path):
    torch.manual_seed(0)
    reference = DVAEImageTokenizer(**TINY_DVAE)  # the weights saved above
    loaded = DVAEImageTokenizer(checkpoint=dvae_path, **TINY_DVAE)
    loaded.train()
    assert not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    images = torch.randn(3, 3, 64, 32)
    ids = loaded(images, (4, 2))
    assert ids.shape == (3, 8)
    assert ids.min() >= 0 and ids.max() < TINY_DVAE['vocab_size']
    assert torch.equal(ids, reference(images, (4, 2)))
    # The encoder sees (4 * 4, 2 * 4) pixels: resizing first changes nothing.
    small = F.interpolate(images, size=(16, 8), mode='bilinear',
                          align_corners=False)
    assert torch.equal(loaded(small, (4, 2)), ids)


def test_dvae_checkpoint_errors(tmp_path, dvae_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        DVAEImageTokenizer(checkpoint=str(tmp_path / 'missing.pth'),
                           **TINY_DVAE)
    with pytest.raises(RuntimeError, match=r'dvae_encoder\.pth.*vocab_size'):
        DVAEImageTokenizer(checkpoint=dvae_path, vocab_size=20,
                           hidden_dim=8, blocks_per_group=1)
    pickled = tmp_path / 'encoder.pkl'
    torch.save(DVAEImageTokenizer(**TINY_DVAE), pickled)
    with pytest.raises(RuntimeError, match='state_dict'):
        DVAEImageTokenizer(checkpoint=str(pickled), **TINY_DVAE)
