# Stage 3 with a local causal/chat LLM (docs/fidelity.md G5): greedy decoding,
# few-shot prompt whose answers match their sentences, strict parsing, one
# retry with a stricter reminder; failures go to <DATASET>_err_list.txt.
# Leaves set `dataset` and `out_dir`.
from sapsam.parts.caption_splitters import LLMCaptionSplitter

default_scope = 'sapsam'

splitter = dict(
    type=LLMCaptionSplitter,
    # Any local transformers causal LM directory, e.g. a copy of
    # Qwen/Qwen2.5-7B-Instruct or THUDM/chatglm2-6b (trust_remote_code).
    model_path='checkpoints/llm',
    use_chat_template='auto',
    batch_size=16,
    max_new_tokens=96,
    max_retries=1,
    device='cuda',
    torch_dtype='bfloat16')
batch_size = 64
