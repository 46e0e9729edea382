from .backbones import *  # noqa: F401,F403
from .alignment_heads import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .image_tokenizers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .retrievers import *  # noqa: F401,F403
from .tokenizers import *  # noqa: F401,F403
from .prompt_encoders import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .text_encoders import *  # noqa: F401,F403
from .official_fp16 import (CLIPRetrieverFP16, SAPSAMFP16,  # noqa: F401
                            convert_to_official_fp16)
