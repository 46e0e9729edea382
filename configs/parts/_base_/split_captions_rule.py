# Stage 3 without a model: the deterministic rule splitter. Leaves set
# `dataset` and `out_dir`.
from sapsam.parts.caption_splitters import RuleCaptionSplitter

default_scope = 'sapsam'

splitter = dict(type=RuleCaptionSplitter, max_phrase_words=8)
batch_size = 256
