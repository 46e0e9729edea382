"""Type aliases shared across sapsam."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import ConfigDict
from mmengine.structures import BaseDataElement

ConfigType = Union[ConfigDict, dict]
OptConfigType = Optional[ConfigType]
MultiConfig = Union[ConfigType, List[ConfigType]]
OptMultiConfig = Optional[MultiConfig]
SampleList = Sequence[BaseDataElement]
OptSampleList = Optional[SampleList]
TensorDict = Dict[str, torch.Tensor]
