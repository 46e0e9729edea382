"""Make every epoch's random draws a function of (seed, epoch) only, so
that ``--resume`` from an epoch checkpoint continues bit-identically."""
from mmengine.dataset import BaseDataset
from mmengine.hooks import Hook
from mmengine.runner import set_random_seed

from sapsam.registry import HOOKS


def _datasets(dataset):
    """``dataset`` and the datasets inside its wrappers."""
    yield dataset
    for sub in getattr(dataset, 'datasets', None) or ():
        yield from _datasets(sub)
    inner = getattr(dataset, 'dataset', None)
    if isinstance(inner, BaseDataset) or hasattr(inner, 'datasets'):
        yield from _datasets(inner)


@HOOKS.register_module()
class ReproducibleEpochHook(Hook):
    """Reseed python, numpy and torch at the start of every training epoch
    from ``(runner.seed, epoch)`` and give the training datasets the epoch
    for their per-sample augmentation seeds.

    What an uninterrupted run draws in epoch ``e`` then no longer depends
    on what earlier epochs, validation or the dataloader workers consumed,
    so a run resumed from the checkpoint of epoch ``e - 1`` repeats it
    exactly. Datasets with ``set_augmentation_epoch`` (the sapsam datasets,
    :class:`sapsam.datasets.SeededSampleMixin`) draw the augmentation of
    sample ``i`` in epoch ``e`` from a generator seeded by ``(seed, e, i)``,
    the same in the main process and in any worker.
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        seed, epoch = runner.seed, runner.epoch
        base = 0 if seed is None else int(seed)
        set_random_seed((base * 1000003 + epoch) % (2**31),
                        diff_rank_seed=runner._randomness_cfg.get(
                            'diff_rank_seed', False))
        dataloader = runner.train_loop.dataloader
        for dataset in _datasets(dataloader.dataset):
            if hasattr(dataset, 'set_augmentation_epoch'):
                dataset.set_augmentation_epoch(base, epoch)
