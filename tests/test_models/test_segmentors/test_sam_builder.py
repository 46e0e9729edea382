"""The one SAM builder, the cached-encoder wrapper and the phrase API."""
import numpy as np
import pytest
import torch

# One intra-op thread (tests/conftest.py), as every Person-SAM test.
pytestmark = pytest.mark.usefixtures('one_thread')

S = 256  # the 'tiny' preset's input size


def test_build_sam_loads_the_checkpoint_like_build_sam_modules(tiny_weights):
    from sapsam.models.segmentors import build_sam, build_sam_modules
    sam = build_sam('tiny', checkpoint=tiny_weights['sam'])
    state = torch.load(tiny_weights['sam'], weights_only=True)
    assert all(torch.equal(v, state[k]) for k, v in sam.state_dict().items())
    encoder, pe_layer, decoder = build_sam_modules(
        'tiny', checkpoint=tiny_weights['sam'])
    for prefix, module in (('image_encoder.', encoder),
                           ('prompt_encoder.pe_layer.', pe_layer),
                           ('mask_decoder.', decoder)):
        for k, v in module.state_dict().items():
            assert torch.equal(v, state[prefix + k]), prefix + k


def test_build_sam_is_reproducible_for_a_seed():
    # make_tiny_weights relies on it: same seed, same bytes.
    from sapsam.models.segmentors import build_sam
    torch.manual_seed(3)
    first = build_sam('tiny').state_dict()
    torch.manual_seed(3)
    second = build_sam('tiny').state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_person_sam_state_dict_keys_do_not_depend_on_the_cache(person_sam):
    plain = person_sam()
    cached = person_sam(embedding_cache=dict(type='ImageEmbeddingCache'))
    keys = set(plain.state_dict())
    assert keys == set(cached.state_dict())
    prefixes = {k.split('.')[0] for k in keys}
    assert prefixes == {'image_encoder', 'pe_layer', 'mask_decoder',
                        'text_encoder', 'prompt_encoder'}
    cached.load_state_dict(plain.state_dict(), strict=True)


def test_cached_image_encoder_wraps_a_frozen_encoder(person_sam):
    from sapsam.models.segmentors import (CachedImageEncoder,
                                          ImageEmbeddingCache,
                                          module_fingerprint)
    model = person_sam()
    encoder = model.image_encoder.eval()
    wrapper = CachedImageEncoder(encoder, ImageEmbeddingCache(), extra='x')
    assert wrapper.fingerprint() == module_fingerprint(encoder, 'x')
    assert wrapper.fingerprint() != module_fingerprint(encoder, 'y')
    pixels = torch.randn(2, 3, S, S)
    with torch.no_grad():
        expected = encoder(pixels)
    out = wrapper(torch.cat([pixels, pixels[:1]]))
    assert not out.requires_grad
    assert torch.equal(out[:2], expected) and torch.equal(out[2], out[0])
    # The repeated row is computed once and not looked up again.
    assert (wrapper.cache.misses, wrapper.cache.hits) == (2, 0)
    assert torch.equal(wrapper(pixels), expected)
    assert (wrapper.cache.misses, wrapper.cache.hits) == (2, 2)
    before = wrapper.fingerprint()
    state = encoder.state_dict()
    state['neck.0.weight'] = state['neck.0.weight'] + 1
    encoder.load_state_dict(state)
    assert wrapper.fingerprint() != before
    assert wrapper.fingerprint() == module_fingerprint(encoder, 'x')


def test_sam_postprocess_masks_equals_resize_to_original(person_sam):
    """The generic resize of BaseTextSegmentor equals SAM's
    postprocess_masks, which Person-SAM calls."""
    from segment_anything.modeling import Sam

    from sapsam.models.segmentors import BaseTextSegmentor

    class Stub:
        image_encoder = type('E', (), {'img_size': S})()

    model = person_sam()
    logits = torch.randn(3, 1, S // 4, S // 4)
    for img_shape, ori_shape in (((256, 145), (300, 170)),
                                 ((120, 256), (90, 192))):
        theirs = Sam.postprocess_masks(Stub(), logits, img_shape, ori_shape)
        ours = BaseTextSegmentor.resize_to_original(logits, img_shape,
                                                    ori_shape, (S, S))
        assert torch.equal(theirs, ours)
        assert torch.equal(model.resize_to_original(logits, img_shape,
                                                    ori_shape, (S, S)),
                           theirs)
    with pytest.raises(ValueError, match='SAM canvas'):
        model.resize_to_original(logits, (10, 10), (20, 20), (S, S // 2))


def test_segment_phrases_api_is_the_model_method(person_sam):
    from sapsam.apis.person_sam_inference import segment_phrases
    image = np.random.default_rng(4).integers(0, 256, (170, 90, 3),
                                              dtype=np.uint8)
    phrases = ['long hair', 'a red shirt', 'black shoes']
    for geometry in ('sam', 'stretch'):
        model = person_sam(geometry=geometry).train()
        masks, scores = segment_phrases(model, image, phrases, batch_size=2)
        assert model.training  # mode restored
        assert masks.shape == (3, 170, 90) and masks.dtype == bool
        same = model.segment_phrases(image, phrases)
        assert np.array_equal(masks, same[0])
        np.testing.assert_allclose(scores, same[1], atol=1e-6)
