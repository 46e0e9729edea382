# Stage 1 on the synthetic ATR data: colour/class-word template phrases.
# python tools/data/generate_atr_phrases.py \
#     configs/parts/atr_phrases_template_synthetic.py
from sapsam.parts.phrase_generators import TemplatePhraseGenerator

default_scope = 'sapsam'

data_root = 'data/synthetic/ATR'
image_dir = 'JPEGImages'
mask_dir = 'SegmentationClassAug'
# Kept apart from the synthetic ground-truth phrase files in data_root.
out_dir = 'work_dirs/parts/synthetic/ATR'

generator = dict(type=TemplatePhraseGenerator, seed=0, max_margin=20)
batch_size = 32
split_names = ('train', 'dev', 'test')
split_ratios = (8, 1, 1)
split_seed = 0
