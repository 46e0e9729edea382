"""Stage 1: region processing, phrase generators and the ATR phrase tool."""
import json
import os.path as osp

import numpy as np
import pytest

from sapsam.parts import ATR_CROP_GROUPS, ATR_PART_GROUPS, formats
from sapsam.parts.phrase_generators import (Blip2PhraseGenerator,
                                            TemplatePhraseGenerator)
from sapsam.parts.regions import extract_part_region
from sapsam.registry import TASK_UTILS
from tests import helpers
from tests.helpers import REPO, load_script


def test_region_is_whitened_and_cropped_with_seeded_margins():
    image, labels = helpers.draw_person()
    margins = np.random.default_rng(7).integers(0, 20, size=4)
    region = extract_part_region(image, labels, '2', ATR_CROP_GROUPS['2'],
                                 ATR_PART_GROUPS['2'],
                                 np.random.default_rng(7))
    # Hair+face occupy rows 2..13, cols 10..21 (inclusive).
    left, top, right, bottom = (int(m) for m in margins)
    x0, y0 = max(0, 10 - left), max(0, 2 - top)
    x1, y1 = min(32, 22 + right), min(64, 14 + bottom)
    assert region.box == (x0, y0, x1, y1)
    group = np.isin(labels, (2, 11))[y0:y1, x0:x1]
    crop = region.crop
    assert crop.shape == (y1 - y0, x1 - x0, 3)
    assert (crop[~group] == 255).all()          # everything else is white
    assert (crop[group] == image[y0:y1, x0:x1][group]).all()
    # The described part is the hair alone (Person-SAM merge), not the face.
    assert (region.part_mask == (labels[y0:y1, x0:x1] == 2)).all()


def test_group_needs_its_first_id():
    image, labels = helpers.draw_person()
    labels[labels == 2] = 0                     # face but no hair
    rng = np.random.default_rng(0)
    assert extract_part_region(image, labels, '2', (2, 11), (2, ), rng) is None
    with pytest.raises(ValueError, match='differ in size'):
        extract_part_region(image[:10], labels, '2', (2, 11), (2, ), rng)


FIXED_WORDS = {'1': 'a {colour} hat', '2': '{length}{colour} hair',
               '3': '{colour} glasses', '4': 'a {colour} top',
               '5': 'a {colour} skirt', '6': '{colour} pants',
               '7': 'a {colour} dress', '9': '{colour} shoes',
               '16': 'a {colour} bag'}


def test_template_phrases_describe_colour_and_class():
    gen = TASK_UTILS.build(dict(type='TemplatePhraseGenerator',
                                templates=FIXED_WORDS))
    short = helpers.draw_person(long_hair=False)
    long_dark = helpers.draw_person(long_hair=True, shade=0.65, seed=1)
    out = gen.generate([short[0], long_dark[0]], [short[1], long_dark[1]],
                       ['a.jpg', 'b.jpg'])
    assert out[0] == {'2': 'short black hair', '4': 'a red top',
                      '6': 'blue pants', '9': 'white shoes',
                      '16': 'a green bag'}
    # Shadowed colours keep their names; long hair is detected.
    assert out[1]['2'] == 'long black hair'
    assert out[1]['4'] == 'a red top' and out[1]['6'] == 'blue pants'


def test_template_class_words_vary_with_the_image_name():
    image, labels = helpers.draw_person()
    gen = TemplatePhraseGenerator(seed=0)
    names = [f'{i}.jpg' for i in range(40)]
    outs = [gen.generate([image], [labels], [n])[0] for n in names]
    uppers = {o['4'] for o in outs}
    assert uppers == {'a red top', 'a red shirt', 'a red t-shirt',
                      'a red jacket', 'a red coat', 'a red sweater'}
    assert {o['6'].split()[1] for o in outs} == {'pants', 'trousers',
                                                 'jeans', 'shorts'}
    # Deterministic per (seed, name).
    assert outs[3] == gen.generate([image], [labels], [names[3]])[0]


def test_crops_depend_on_seed_and_name_only():
    image, labels = helpers.draw_person()
    gen = TemplatePhraseGenerator(seed=3)
    boxes = [r.box for r in gen.regions(image, labels, 'x.jpg')]
    assert boxes == [r.box for r in gen.regions(image, labels, 'x.jpg')]
    other = [r.box for r in TemplatePhraseGenerator(seed=4).regions(
        image, labels, 'x.jpg')]
    assert other != boxes


@pytest.fixture(scope='module')
def tiny_blip2(tmp_path_factory):
    return helpers.build_tiny_blip2(str(tmp_path_factory.mktemp('blip2')))


def test_blip2_generates_one_answer_per_group_batched(tiny_blip2):
    image, labels = helpers.draw_person()
    image2, labels2 = helpers.draw_person(long_hair=True, seed=5)
    one = Blip2PhraseGenerator(tiny_blip2, batch_size=1, max_new_tokens=4)
    many = TASK_UTILS.build(dict(type='Blip2PhraseGenerator',
                                 model_path=tiny_blip2, batch_size=16,
                                 max_new_tokens=4))
    out1 = one.generate([image, image2], [labels, labels2], ['a', 'b'])
    out2 = many.generate([image, image2], [labels, labels2], ['a', 'b'])
    assert set(out1[0]) == {'2', '4', '6', '9', '16'}
    assert out1 == out2                  # batching does not change answers
    for text in out1[0].values():
        assert isinstance(text, str)
        # Only the continuation is kept, not the prompt.
        assert 'question' not in text and 'answer' not in text
        assert len(text.split()) <= 4


def test_blip2_prompts_must_cover_groups(tiny_blip2):
    with pytest.raises(ValueError, match='prompts lacks the groups'):
        Blip2PhraseGenerator(tiny_blip2, prompts={'1': 'Question: hat?'})


@pytest.fixture(scope='module')
def stage1_tool():
    return load_script('tools/data/generate_atr_phrases.py')


def run_stage1(tool, root, out, *extra):
    return tool.main([
        osp.join(REPO, 'configs/parts/atr_phrases_template_synthetic.py'),
        '--cfg-options', f'data_root={root}', f'out_dir={out}', *extra])


def test_stage1_tool_writes_split_files_and_resumes(tmp_path, stage1_tool,
                                                     monkeypatch):
    names = helpers.write_atr(str(tmp_path / 'ATR'), num_images=10)
    out = tmp_path / 'out'
    # Two shards: the first leaves the work unfinished, the second completes.
    assert run_stage1(stage1_tool, tmp_path / 'ATR', out, '--shard',
                      '0/2') is None
    counts = run_stage1(stage1_tool, tmp_path / 'ATR', out, '--shard', '1/2')
    assert counts == {'train': (8, 40), 'dev': (1, 5), 'test': (1, 5)}
    split_names = {}
    for split in ('train', 'dev', 'test'):
        recs = formats.read_atr_descriptions(
            str(out / f'atr_item_descriptions_{split}.json'))
        split_names[split] = {r['name'] for r in recs}
    assert set.union(*split_names.values()) == set(names)
    assert not split_names['train'] & split_names['dev']   # split by image
    assert not split_names['train'] & split_names['test']
    everything = formats.read_atr_descriptions(
        str(out / 'atr_item_descriptions.json'))
    phrases = {r['idx']: r['text'] for r in everything
               if r['name'] == names[0]}
    assert sorted(phrases) == ['16', '2', '4', '6', '9']
    assert phrases['2'] == 'short black hair'
    for key, colour in (('4', 'red'), ('6', 'blue'), ('9', 'white'),
                        ('16', 'green')):
        assert phrases[key].split()[-2] == colour
    raw = json.loads((out / 'descriptions/description_json_0_9.json')
                     .read_text())
    assert [r['name'] for r in raw] == names and raw[0]['id'] == 0
    assert raw[0]['description'] == phrases
    before = (out / 'atr_item_descriptions.json').read_bytes()

    # A rerun skips every image: the generator is never built.
    def fail(*args, **kwargs):
        raise AssertionError('generator built although all work is done')

    monkeypatch.setattr(stage1_tool.TASK_UTILS, 'build', fail)
    run_stage1(stage1_tool, tmp_path / 'ATR', out)
    assert (out / 'atr_item_descriptions.json').read_bytes() == before


def test_stage1_tool_resumes_after_truncated_line(tmp_path, stage1_tool):
    helpers.write_atr(str(tmp_path / 'ATR'), num_images=3)
    out = tmp_path / 'out'
    run_stage1(stage1_tool, tmp_path / 'ATR', out)
    raw = out / 'atr_descriptions_raw.jsonl'
    lines = raw.read_text().splitlines()
    # Simulate a crash while writing the third image's line.
    raw.write_text('\n'.join(lines[:2]) + '\n' + lines[2][:10])
    run_stage1(stage1_tool, tmp_path / 'ATR', out)
    assert [json.loads(x)['name'] for x in raw.read_text().splitlines()] == \
        [json.loads(x)['name'] for x in lines]


def test_stage1_tool_with_tiny_blip2(tmp_path, stage1_tool, tiny_blip2):
    helpers.write_atr(str(tmp_path / 'ATR'), num_images=2)
    out = tmp_path / 'out'
    run_stage1(stage1_tool, tmp_path / 'ATR', out,
               'generator.type=Blip2PhraseGenerator',
               f'generator.model_path={tiny_blip2}',
               'generator.max_new_tokens=3', 'split_ratios=[1,0,1]')
    raw = [json.loads(line) for line in
           (out / 'atr_descriptions_raw.jsonl').read_text().splitlines()]
    assert [r['name'] for r in raw] == ['dataset10k_0.jpg', 'dataset10k_1.jpg']
    assert set(raw[0]['description']) == {'2', '4', '6', '9', '16'}
    records = formats.read_atr_descriptions(
        str(out / 'atr_item_descriptions.json'))
    nonempty = sum(bool(t.strip()) for r in raw
                   for t in r['description'].values())
    assert len(records) == nonempty
