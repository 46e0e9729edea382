"""PersonSAM: SAM/BERT loading, freezing, geometry, inference, cache."""
import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

# One intra-op thread (tests/conftest.py), as every Person-SAM test.
pytestmark = pytest.mark.usefixtures('one_thread')

S = 256  # the 'tiny' preset's input size


def make_batch(model, shapes=((200, 120), (150, 180)),
               texts=('long hair', 'a red shirt'), seed=0):
    """Raw data as the pipeline packs it (BGR, longest side S) + samples."""
    rng = np.random.default_rng(seed)
    inputs, samples, images = [], [], []
    for (h, w), text in zip(shapes, texts):
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        gt = np.zeros((h, w), np.uint8)  # a box, e.g. an upper body
        top, left = int(rng.integers(h // 8, h // 3)), int(w * 0.25)
        gt[top:top + h // 3, left:left + w // 2] = 1
        img = mmcv.imrescale(rgb[..., ::-1], (S, S), backend='pillow')
        gt_resized = mmcv.imrescale(gt, (S, S), interpolation='nearest',
                                    backend='pillow')
        sample = SegDataSample(gt_sem_seg=PixelData(
            data=torch.from_numpy(gt_resized.astype(np.int64))[None]))
        sample.set_metainfo(dict(text=text, img_shape=img.shape[:2],
                                 ori_shape=(h, w)))
        inputs.append(torch.from_numpy(img.transpose(2, 0, 1).copy()))
        samples.append(sample)
        images.append(rgb)
    return dict(inputs=inputs, data_samples=samples), images


def count_calls(module):
    calls = []
    module.register_forward_hook(lambda *args: calls.append(1))
    return calls


def build_official_sam(path):
    """segment_anything's own Sam with the 'tiny' sizes, from ``path``
    (the one SAM builder; its sizes are pinned to segment_anything's by
    ``test_presets_match_segment_anything_builders``)."""
    from sapsam.models.segmentors import build_sam
    return build_sam('tiny', checkpoint=path)


# ----------------------------------------------------------------- loading
def test_sam_checkpoint_matches_segment_anything_bit_for_bit(
        tiny_weights, person_sam):
    sam = build_official_sam(tiny_weights['sam'])
    model = person_sam(prompt_encoder=dict(type='CLSPrompt')).eval()
    pixels = torch.randn(2, 3, S, S)
    with torch.no_grad():
        ours = model.encode_image(pixels)
        theirs = sam.image_encoder(pixels)
        assert torch.equal(ours, theirs)
        pe = model.pe_layer(model.image_embedding_size)[None]
        assert torch.equal(pe, sam.prompt_encoder.get_dense_pe())
        sparse, dense = torch.randn(3, 1, 64), torch.randn(3, 64, 16, 16)
        for a, b in zip(
                model.mask_decoder(ours[:1], pe, sparse, dense, False),
                sam.mask_decoder(theirs[:1], pe, sparse, dense, False)):
            assert torch.equal(a, b)
    # SAM's no-mask embedding seeds the [CLS] variant's dense prompt.
    assert torch.equal(model.prompt_encoder.no_mask_embed.weight,
                       sam.prompt_encoder.no_mask_embed.weight)


def test_preprocessing_matches_segment_anything(tiny_weights, person_sam):
    from segment_anything.utils.transforms import ResizeLongestSide
    sam = build_official_sam(tiny_weights['sam'])
    model = person_sam()
    image = np.random.default_rng(1).integers(0, 256, (300, 170, 3),
                                              dtype=np.uint8)
    ours, img_shape = model.data_preprocessor.preprocess_image(image)
    resized = ResizeLongestSide(S).apply_image(image)
    theirs = sam.preprocess(torch.from_numpy(resized).permute(2, 0, 1))
    assert img_shape == resized.shape[:2] == (256, 145)
    torch.testing.assert_close(ours[0], theirs, rtol=0, atol=1e-5)


def test_bad_sam_checkpoints_name_the_file(tiny_weights, person_sam,
                                           tmp_path):
    with pytest.raises(RuntimeError, match='sam_tiny.pth.*image_encoder'):
        person_sam(sam_arch=dict(arch='tiny', embed_dim=32))
    with pytest.raises(FileNotFoundError, match='SAM checkpoint not found'):
        person_sam(sam_checkpoint=str(tmp_path / 'x.pth'))
    bad = tmp_path / 'not_sam.pth'
    torch.save({'weight': torch.zeros(1)}, bad)
    with pytest.raises(KeyError, match='not_sam.pth'):
        person_sam(sam_checkpoint=str(bad))


def test_sam_parts_load_at_init_weights_with_sam_keys(tiny_weights,
                                                      person_sam,
                                                      sapsam_scope,
                                                      monkeypatch):
    """Building reads no SAM file; init_weights() loads every SAM weight
    Person-SAM uses, under segment_anything's own names."""
    from sapsam.registry import MODELS
    state = torch.load(tiny_weights['sam'], weights_only=True)
    loaded = person_sam(prompt_encoder=dict(type='CLSPrompt'))
    ours = loaded.state_dict()
    for key, value in state.items():
        name = key[len('prompt_encoder.'):] if key.startswith(
            'prompt_encoder.pe_layer.') else key
        if key == 'prompt_encoder.no_mask_embed.weight':
            name = key
        if name in ours:
            assert torch.equal(ours[name], value), key
    assert torch.equal(ours['prompt_encoder.no_mask_embed.weight'],
                       state['prompt_encoder.no_mask_embed.weight'])
    assert sum(k.startswith(('image_encoder.', 'mask_decoder.', 'pe_layer.'))
               for k in ours) == sum(
                   k.startswith(('image_encoder.', 'mask_decoder.',
                                 'prompt_encoder.pe_layer.')) for k in state)
    # one SAM file named by both parts is read once
    import sapsam.models.segmentors.person_sam as person_sam_module
    reads = []
    real_read = person_sam_module.read_sam_checkpoint

    def counting_read(path):
        reads.append(path)
        return real_read(path)

    monkeypatch.setattr(person_sam_module, 'read_sam_checkpoint',
                        counting_read)
    loaded.init_weights()
    assert reads == [tiny_weights['sam']]
    # a missing file only fails when the weights are loaded
    cfg = dict(type='PersonSAM',
               image_encoder=dict(type='SAMImageEncoder', arch='tiny',
                                  init_cfg=dict(type='Pretrained',
                                                checkpoint='missing.pth')),
               mask_decoder=dict(type='SAMMaskDecoder', arch='tiny'),
               text_encoder=dict(type='BertTextEncoder',
                                 pretrained=tiny_weights['bert']))
    model = MODELS.build(cfg)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        model.init_weights()
    with pytest.raises(ValueError, match="type='Pretrained'"):
        MODELS.build(dict(type='SAMMaskDecoder', arch='tiny',
                          init_cfg=dict(type='Kaiming')))
    with pytest.raises(ValueError, match='prompt_dim'):
        MODELS.build(dict(cfg, mask_decoder=dict(
            type='SAMMaskDecoder', arch=dict(arch='tiny', prompt_dim=32))))


def test_bert_from_a_save_pretrained_directory(tiny_weights):
    from transformers import BertModel, BertTokenizer

    from sapsam.models.text_encoders import BertTextEncoder
    encoder = BertTextEncoder(tiny_weights['bert'], max_length=16)
    phrases = ['long brown hair', 'a pair of white sneakers with ' * 6]
    feats, mask = encoder(phrases)
    tokenizer = BertTokenizer.from_pretrained(tiny_weights['bert'])
    reference = BertModel.from_pretrained(tiny_weights['bert']).eval()
    tokens = tokenizer(phrases, padding='max_length', max_length=16,
                       truncation=True, return_tensors='pt')
    with torch.no_grad():
        expected = reference(**tokens).last_hidden_state
    assert feats.shape == (2, 16, encoder.hidden_size) and \
        mask.shape == (2, 16)
    torch.testing.assert_close(feats, expected)
    assert mask[0].sum() == 5 and mask[1].all()  # [CLS] 3 words [SEP]
    assert tokens['input_ids'][1, -1] == tokenizer.sep_token_id
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not encoder.train().bert.training
    with pytest.raises(ValueError, match='phrase 1 is empty'):
        encoder(['a hat', '  '])
    with pytest.raises(FileNotFoundError, match='not a directory'):
        BertTextEncoder(tiny_weights['bert'] + '_missing')


# ---------------------------------------------------------------- training
def test_only_prompt_encoder_and_decoder_get_gradients(person_sam):
    model = person_sam(iou_loss_weight=1.0).train()
    data = model.data_preprocessor(make_batch(model)[0], True)
    losses = model(**data, mode='loss')
    assert {'loss_dice', 'loss_bce', 'loss_iou', 'iou'} <= set(losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is None for p in model.image_encoder.parameters())
    assert all(p.grad is None for p in model.text_encoder.parameters())
    assert all(p.grad is not None for p in model.prompt_encoder.parameters())
    assert sum(p.grad.abs().sum() for p in model.mask_decoder.parameters()
               if p.grad is not None) > 0
    assert model.mask_decoder.iou_prediction_head.layers[-1].weight.grad \
        .abs().sum() > 0

    # Without its loss the IoU head is frozen (nothing would train it).
    dice_only = person_sam(losses=[dict(type='DiceLoss')])
    assert not any(p.requires_grad for p in
                   dice_only.mask_decoder.iou_prediction_head.parameters())
    assert dice_only.mask_decoder.mask_tokens.weight.requires_grad

    frozen = person_sam(freeze_mask_decoder=True).train()
    data = frozen.data_preprocessor(make_batch(frozen)[0], True)
    sum(v for k, v in frozen(**data, mode='loss').items()
        if 'loss' in k).backward()
    assert all(p.grad is None for p in frozen.mask_decoder.parameters())
    assert all(p.grad is not None for p in frozen.prompt_encoder.parameters())


def test_a_few_steps_fit_one_batch(person_sam):
    model = person_sam().train()
    data = model.data_preprocessor(make_batch(model)[0], True)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(15):
        losses = model(**data, mode='loss')
        loss = losses['loss_dice'] + losses['loss_bce']
        first = float(loss.detach()) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.8 * first


@pytest.mark.parametrize('geometry', ['sam', 'stretch'])
def test_training_targets_follow_the_geometry(person_sam, geometry):
    model = person_sam(geometry=geometry)
    data = model.data_preprocessor(make_batch(model)[0], True)
    logits = torch.zeros(2, 1, S // 4, S // 4)
    logits, target, valid = model._targets(logits, data['data_samples'])
    gt = data['data_samples'][0].gt_sem_seg.data  # padded, (1, S, S)
    h, w = data['data_samples'][0].img_shape  # (256, 154)
    if geometry == 'sam':
        assert logits.shape[-2:] == (S, S)
        assert valid[0, 0, :h, :w].all() and not valid[0, 0, :, w:].any()
        assert torch.equal(target[0], gt == 1)
    else:  # the whole image stretched to the low-res grid, nothing padded
        assert logits.shape[-2:] == (S // 4, S // 4) and valid.all()
        expected = torch.nn.functional.interpolate(
            gt[None, :, :h, :w].float(), (S // 4, S // 4), mode='nearest')
        assert torch.equal(target[0], expected[0] == 1)


@pytest.mark.parametrize('geometry', ['sam', 'stretch'])
def test_predictions_map_back_to_the_original_image(person_sam, geometry):
    model = person_sam(geometry=geometry)
    sample = SegDataSample()
    sample.set_metainfo(dict(img_shape=(256, 128), ori_shape=(200, 100),
                             pad_shape=(S, S)))
    logits = -torch.ones(1, 1, S // 4, S // 4)
    if geometry == 'sam':  # image = left half of the canvas
        logits[..., :, :S // 16] = 1  # its left half
    else:  # the grid is the stretched image
        logits[..., :, :S // 8] = 1
    pred = model.postprocess_result(
        logits, [sample], crop_padding=geometry == 'sam')[0]
    mask = pred.pred_sem_seg.data[0]
    assert mask.shape == (200, 100)
    assert mask[:, :48].all() and not mask[:, 52:].any()


# --------------------------------------------------------------- inference
def test_segment_phrases_matches_predict_and_encodes_once(person_sam):
    model = person_sam().eval()
    raw, images = make_batch(model, shapes=((200, 120), (200, 120)),
                             texts=('long hair', 'a red shirt'))
    # Same image, two phrases, through the data pipeline path ...
    raw['inputs'][1] = raw['inputs'][0]
    with torch.no_grad():
        preds = model(**model.data_preprocessor(raw, False), mode='predict')
    calls = count_calls(model.image_encoder)
    phrases = ['long hair', 'a red shirt', 'white sneakers', 'a black bag',
               'a blue cap']
    masks, scores = model.segment_phrases(images[0], phrases, batch_size=2)
    assert len(calls) == 1
    assert masks.shape == (5, 200, 120) and masks.dtype == bool
    assert scores.shape == (5, ) and scores.dtype == np.float32
    for k in range(2):  # ... gives the same masks and scores
        assert np.array_equal(masks[k],
                              preds[k].pred_sem_seg.data[0].numpy() == 1)
        assert abs(scores[k] - float(preds[k].pred_iou_score)) < 1e-5
    masks_32, scores_32 = model.segment_phrases(images[0], phrases)
    assert (masks_32 == masks).mean() > 0.999
    np.testing.assert_allclose(scores_32, scores, atol=1e-5)
    empty_masks, empty_scores = model.segment_phrases(images[0], [])
    assert empty_masks.shape == (0, 200, 120) and empty_scores.shape == (0, )
    with pytest.raises(ValueError, match='phrase 1 is empty'):
        model.segment_phrases(images[0], ['a hat', ''])


def test_segment_phrases_input_aspect_segments_the_resized_image(person_sam):
    from sapsam.apis.person_sam_inference import resize_to_aspect
    model = person_sam().eval()
    image = np.random.default_rng(3).integers(0, 256, (200, 80, 3),
                                              dtype=np.uint8)
    phrases = ['long hair', 'a red shirt']
    plain, plain_scores = model.segment_phrases(image, phrases)
    # The image's own aspect changes nothing.
    same, same_scores = model.segment_phrases(image, phrases,
                                              input_aspect=80 / 200)
    assert np.array_equal(same, plain)
    np.testing.assert_array_equal(same_scores, plain_scores)
    # A wider aspect: the scores are those of the stretched image, the
    # masks come back at the original size.
    wide = resize_to_aspect(image, 0.6)
    assert wide.shape == (200, 120, 3)
    masks, scores = model.segment_phrases(image, phrases, input_aspect=0.6)
    _, wide_scores = model.segment_phrases(wide, phrases)
    assert masks.shape == (2, 200, 80) and masks.dtype == bool
    np.testing.assert_allclose(scores, wide_scores, atol=1e-6)
    assert not np.allclose(scores, plain_scores)
    with pytest.raises(ValueError, match='input_aspect must be > 0'):
        model.segment_phrases(image, phrases, input_aspect=0)


def test_predict_returns_seg_samples_at_original_size(person_sam):
    model = person_sam().eval()
    raw, _ = make_batch(model)
    with torch.no_grad():
        preds = model(**model.data_preprocessor(raw, False), mode='predict')
        logits = model(**model.data_preprocessor(raw, False), mode='tensor')
    assert logits.shape == (2, 1, S // 4, S // 4)
    for pred, shape in zip(preds, ((200, 120), (150, 180))):
        assert pred.pred_sem_seg.data.shape == (1, *shape)
        assert pred.pred_sem_seg.data.dtype == torch.int64
        assert set(pred.pred_sem_seg.data.unique().tolist()) <= {0, 1}
        assert pred.seg_logits.data.shape == (1, *shape)


# ------------------------------------------------------------------- cache
def test_cache_hits_skip_the_encoder(person_sam):
    model = person_sam(embedding_cache=dict(type='ImageEmbeddingCache'))
    cache, calls = model.embedding_cache, count_calls(model.image_encoder)
    pixels = torch.randn(3, 3, S, S)
    pixels[2] = pixels[0]  # a duplicate inside the batch is encoded once
    first = model.encode_image(pixels)
    assert (cache.misses, cache.hits, len(cache)) == (2, 0, 2)
    second = model.encode_image(pixels)
    assert (cache.misses, cache.hits, len(calls)) == (2, 3, 1)
    assert torch.equal(first, second)
    assert torch.equal(first[2], first[0])
    with torch.no_grad():
        assert torch.equal(first, model.image_encoder(pixels))


def test_cache_is_invalidated_by_preprocessing_and_weights(person_sam):
    model = person_sam(embedding_cache=dict(type='ImageEmbeddingCache'))
    cache = model.embedding_cache
    image = np.random.default_rng(2).integers(0, 256, (180, 100, 3),
                                              dtype=np.uint8)
    model.segment_phrases(image, ['long hair'])
    model.segment_phrases(image, ['a red shirt'])
    assert (cache.misses, cache.hits) == (1, 1)
    model.data_preprocessor.resize_interpolation = 'bicubic'
    model.segment_phrases(image, ['long hair'])
    assert (cache.misses, cache.hits) == (2, 1)
    model.data_preprocessor.mean += 1.0
    model.segment_phrases(image, ['long hair'])
    assert (cache.misses, cache.hits) == (3, 1)
    # New encoder weights (e.g. load_checkpoint) change every key.
    state = model.image_encoder.state_dict()
    state['neck.0.weight'] = state['neck.0.weight'] * 2
    model.image_encoder.load_state_dict(state)
    pixels = model.data_preprocessor.preprocess_image(image)[0]
    embedding = model.encode_image(pixels)
    assert (cache.misses, cache.hits) == (4, 1)
    with torch.no_grad():
        assert torch.equal(embedding, model.image_encoder(pixels))


def test_disk_cache_is_shared_and_memory_is_bounded(person_sam, tmp_path):
    cfg = dict(type='ImageEmbeddingCache', cache_dir=str(tmp_path),
               max_items=1)
    writer = person_sam(embedding_cache=cfg)
    pixels = torch.randn(2, 3, S, S)
    computed = writer.encode_image(pixels)
    assert len(writer.embedding_cache) == 1  # LRU bound
    reader = person_sam(embedding_cache=dict(cfg, store_dtype='float16'))
    calls = count_calls(reader.image_encoder)
    cached = reader.encode_image(pixels)
    assert reader.embedding_cache.hits == 2 and not calls
    assert torch.equal(cached, computed)  # stored in float32 by the writer
    half = person_sam(embedding_cache=dict(type='ImageEmbeddingCache',
                                           store_dtype='float16'))
    half.encode_image(pixels)
    torch.testing.assert_close(half.encode_image(pixels), computed,
                               rtol=1e-2, atol=1e-2)


def test_cache_needs_a_frozen_encoder(person_sam):
    with pytest.raises(ValueError, match='frozen image encoder'):
        person_sam(freeze_image_encoder=False,
                   embedding_cache=dict(type='ImageEmbeddingCache'))


@pytest.mark.parametrize('arch', ['vit_b', 'vit_l', 'vit_h'])
def test_presets_match_segment_anything_builders(arch):
    from segment_anything import sam_model_registry

    from sapsam.models.segmentors import (build_sam, build_sam_modules,
                                          sam_arch_settings)
    with torch.device('meta'):  # shapes only, no memory
        sam = sam_model_registry[arch]()
        encoder, pe_layer, decoder = build_sam_modules(
            sam_arch_settings(arch))
    ours = {f'image_encoder.{k}': v.shape
            for k, v in encoder.state_dict().items()}
    ours.update({f'mask_decoder.{k}': v.shape
                 for k, v in decoder.state_dict().items()})
    ours.update({f'prompt_encoder.pe_layer.{k}': v.shape
                 for k, v in pe_layer.state_dict().items()})
    theirs = {k: v.shape for k, v in sam.state_dict().items()
              if not k.startswith('prompt_encoder.') or '.pe_layer.' in k}
    assert ours == theirs
    # The whole Sam of the one builder is segment_anything's.
    with torch.device('meta'):
        whole = build_sam(arch)
    assert type(whole) is type(sam) and not whole.training
    assert {k: v.shape for k, v in whole.state_dict().items()} == \
        {k: v.shape for k, v in sam.state_dict().items()}
