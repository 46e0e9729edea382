"""Registries of sapsam, children of MMEngine's root registries.

Every registry is a child of the matching MMEngine root and names the modules
that register its members (``locations``), so a config with
``default_scope = 'sapsam'`` builds without importing sapsam by hand.

Neural-network components (backbones, heads, losses, Person-SAM's prompt
encoders, the alignment heads) all register in :data:`MODELS`; helpers that
are not ``nn.Module`` (the CLIP tokenizer, the stage-1 phrase generators, the
stage-3 caption splitters, the image-embedding cache) in :data:`TASK_UTILS`.
Registries that MMEngine's Runner builds through the default scope (model
wrappers, weight initialisers, optimisers, evaluators, log processors, vis
backends) are kept even where sapsam registers nothing in them: without a
``sapsam`` child, each such build under ``default_scope='sapsam'`` logs a
"Failed to search registry" warning.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

# Loops and hooks.
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['sapsam.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['sapsam.engine'])

# Data.
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS,
                    locations=['sapsam.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS,
                         locations=['sapsam.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS,
                      locations=['sapsam.datasets.transforms'])

# Neural-network modules (``nn.Module``), components included.
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['sapsam.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS,
                          locations=['sapsam.models'])
WEIGHT_INITIALIZERS = Registry('weight initializer',
                               parent=MMENGINE_WEIGHT_INITIALIZERS,
                               locations=['sapsam.models'])
# Helpers that are not modules: tokenizers, phrase generators, caption
# splitters, the image-embedding cache.
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS,
                      locations=['sapsam.models',
                                 'sapsam.parts.phrase_generators',
                                 'sapsam.parts.caption_splitters'])

# Optimisation.
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS,
                      locations=['sapsam.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS,
                          locations=['sapsam.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['sapsam.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler',
                            parent=MMENGINE_PARAM_SCHEDULERS,
                            locations=['sapsam.engine'])

# Evaluation.
METRICS = Registry('metric', parent=MMENGINE_METRICS,
                   locations=['sapsam.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR,
                     locations=['sapsam.evaluation'])

# Visualisation and logging.
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS,
                       locations=['sapsam.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS,
                       locations=['sapsam.visualization'])
LOG_PROCESSORS = Registry('log_processor', parent=MMENGINE_LOG_PROCESSORS,
                          locations=['sapsam.engine'])

__all__ = [
    'LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
    'METRICS', 'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS'
]
