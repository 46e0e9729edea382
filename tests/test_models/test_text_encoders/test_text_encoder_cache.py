"""BertTextEncoder's phrase cache: the same features, fewer encodings."""
import pytest
import torch

from sapsam.models import BertTextEncoder

pytestmark = pytest.mark.usefixtures('one_thread')


def test_cache_returns_the_encoded_features_and_encodes_each_phrase_once(
        tiny_weights, monkeypatch):
    plain = BertTextEncoder(tiny_weights['bert'])
    cached = BertTextEncoder(tiny_weights['bert'], cache_size=3)
    encoded = []
    original = cached._encode

    def counting(texts):
        encoded.extend(texts)
        return original(texts)
    monkeypatch.setattr(cached, '_encode', counting)
    batch = ['long hair', 'a red coat', 'long hair', 'black shoes']
    for _ in range(2):
        feats, mask = cached(batch)
        ref_feats, ref_mask = plain(batch)
        torch.testing.assert_close(feats, ref_feats)
        assert torch.equal(mask, ref_mask)
    assert encoded == ['long hair', 'a red coat', 'black shoes']
    cached(['a bag'])  # evicts the least recently used phrase
    # used last: 'long hair' (third), 'black shoes'; 'a red coat' goes
    assert list(cached._cache) == ['long hair', 'black shoes', 'a bag']
    cached.load_state_dict(plain.state_dict())  # other weights: forget all
    assert not cached._cache


def test_cache_needs_a_frozen_encoder(tiny_weights):
    with pytest.raises(ValueError, match='frozen=True'):
        BertTextEncoder(tiny_weights['bert'], frozen=False, cache_size=8)
