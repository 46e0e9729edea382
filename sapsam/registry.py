"""Registries of sapsam, children of MMEngine's root registries.

Every registry is a child of the matching MMEngine root and names the module
that registers its members (``locations``), so a config with
``default_scope = 'sapsam'`` builds without importing sapsam by hand.

Component registries (prompt encoders, alignment heads, phrase generators,
caption splitters) are children of :data:`MODELS`. They build from their own
table (falling back to their parents) instead of switching to the default
scope's root registry, so a config entry such as
``alignment_head=dict(type='ELCAAlign')`` resolves in ``ALIGNMENT_HEADS``.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
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
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry


def build_in_own_table(cfg, registry: Registry, default_args=None):
    """Build ``cfg`` from ``registry`` itself (then its parents).

    MMEngine's ``build_from_cfg`` switches to the registry of the default
    scope, which for a component registry nested under :data:`MODELS` would
    be :data:`MODELS` and miss the component. This builder resolves the type
    in the registry it is called on and names the known types on failure.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f'{registry.name}: cfg must be a dict, got {type(cfg)}')
    args = dict(cfg)
    if 'type' not in args:
        raise KeyError(f'{registry.name}: cfg has no "type" key: {cfg}')
    for key, value in (default_args or {}).items():
        args.setdefault(key, value)
    obj_type = args.pop('type')
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        if obj_cls is None:
            known = sorted(registry.module_dict)
            raise KeyError(f'{obj_type!r} is not in the {registry.name} '
                           f'registry; known: {known}')
    else:
        obj_cls = obj_type
    return obj_cls(**args)


# Runners, loops, hooks.
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, locations=['sapsam.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['sapsam.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['sapsam.engine'])

# Data.
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['sapsam.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS,
                         locations=['sapsam.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS,
                      locations=['sapsam.datasets.transforms'])

# Models and their swappable components.
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['sapsam.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS,
                          locations=['sapsam.models'])
WEIGHT_INITIALIZERS = Registry('weight initializer',
                               parent=MMENGINE_WEIGHT_INITIALIZERS,
                               locations=['sapsam.models'])
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS,
                      locations=['sapsam.models'])
PROMPT_ENCODERS = Registry('prompt encoder', parent=MODELS,
                           scope='sapsam_prompt_encoders',
                           build_func=build_in_own_table,
                           locations=['sapsam.models.prompt_encoders'])
ALIGNMENT_HEADS = Registry('alignment head', parent=MODELS,
                           scope='sapsam_alignment_heads',
                           build_func=build_in_own_table,
                           locations=['sapsam.models.alignment_heads'])
TOKENIZERS = Registry('tokenizer', parent=MODELS, scope='sapsam_tokenizers',
                      build_func=build_in_own_table,
                      locations=['sapsam.models.tokenizers'])
PHRASE_GENERATORS = Registry('phrase generator', parent=MODELS,
                             scope='sapsam_phrase_generators',
                             build_func=build_in_own_table,
                             locations=['sapsam.parts.phrase_generators'])
CAPTION_SPLITTERS = Registry('caption splitter', parent=MODELS,
                             scope='sapsam_caption_splitters',
                             build_func=build_in_own_table,
                             locations=['sapsam.parts.caption_splitters'])

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
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['sapsam.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR,
                     locations=['sapsam.evaluation'])

# Visualisation and logging.
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS,
                       locations=['sapsam.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS,
                       locations=['sapsam.visualization'])
LOG_PROCESSORS = Registry('log_processor', parent=MMENGINE_LOG_PROCESSORS,
                          locations=['sapsam.engine'])
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS,
                     locations=['sapsam.datasets'])

__all__ = [
    'RUNNERS', 'LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS',
    'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS',
    'PROMPT_ENCODERS', 'ALIGNMENT_HEADS', 'TOKENIZERS', 'PHRASE_GENERATORS',
    'CAPTION_SPLITTERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR',
    'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS', 'FUNCTIONS',
    'build_in_own_table'
]
