# Stage 4 settings shared by the part-mask configs. Leaves import a
# Person-SAM model base and set the dataset paths.
default_scope = 'sapsam'

# 'auto': the single <DATASET>_data_final_<N>.json in out_dir.
data_final = 'auto'
img_prefix = 'imgs'
# Trained Person-SAM weights (tools/train.py output); or pass --checkpoint.
checkpoint = None
# Phrases decoded together for one image (the image is encoded once).
phrase_batch_size = 32
device = 'cpu'
# Width / height each image is resized to before Person-SAM (the masks are
# resized back); None segments the image as it is (the official stage 4).
input_aspect = None
