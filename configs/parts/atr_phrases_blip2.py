# Stage 1 on the real ATR data set with BLIP-2 (docs/fidelity.md G1, supplement
# Tables 1 and 3). The model is read from a local copy of
# Salesforce/blip2-opt-2.7b (nothing is downloaded).
# python tools/data/generate_atr_phrases.py configs/parts/atr_phrases_blip2.py
from sapsam.parts.phrase_generators import Blip2PhraseGenerator

default_scope = 'sapsam'

data_root = 'data/ATR'
image_dir = 'JPEGImages'
mask_dir = 'SegmentationClassAug'
out_dir = 'data/ATR'

generator = dict(
    type=Blip2PhraseGenerator,
    model_path='checkpoints/blip2-opt-2.7b',
    batch_size=16,
    max_new_tokens=20,
    device='cuda',
    torch_dtype='float16',
    seed=0,
    max_margin=20)
batch_size = 16
split_names = ('train', 'dev', 'test')
split_ratios = (8, 1, 1)
split_seed = 0
