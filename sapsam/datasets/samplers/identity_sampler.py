"""P x K identity sampler."""
import math
from collections import defaultdict
from typing import Iterator, Optional, Sized

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from sapsam.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class IdentitySampler(Sampler):
    """Yield groups of ``num_instances`` samples of one identity.

    With a batch size of ``P * num_instances`` every batch holds P
    identities with K samples each (IRRA's ``identity`` sampler). Identities
    with fewer than K samples are drawn with replacement. In distributed
    runs the groups are split across ranks; every rank gets the same number
    of groups.

    Args:
        dataset: A dataset whose ``get_data_info(i)['pid']`` is the identity.
        num_instances (int): K, samples per identity per batch.
        seed (int, optional): Shared random seed.
    """

    def __init__(self, dataset: Sized, num_instances: int = 4,
                 seed: Optional[int] = None) -> None:
        if num_instances < 1:
            raise ValueError(f'num_instances must be >= 1, got '
                             f'{num_instances}')
        self.dataset = dataset
        self.num_instances = num_instances
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.index_by_pid = defaultdict(list)
        for index in range(len(dataset)):
            self.index_by_pid[dataset.get_data_info(index)['pid']].append(index)
        self.pids = sorted(self.index_by_pid)
        groups = sum(max(1, len(v) // num_instances)
                     for v in self.index_by_pid.values())
        self.groups_per_rank = math.ceil(groups / self.world_size)

    def _groups(self, rng: np.random.Generator):
        groups = []
        for pid in self.pids:
            indices = list(self.index_by_pid[pid])
            if len(indices) < self.num_instances:
                indices = list(rng.choice(indices, self.num_instances,
                                          replace=True))
            rng.shuffle(indices)
            full = len(indices) // self.num_instances
            groups += [indices[i * self.num_instances:(i + 1) *
                               self.num_instances] for i in range(full)]
        order = rng.permutation(len(groups))
        return [groups[i] for i in order]

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed + self.epoch)
        groups = self._groups(rng)
        total = self.groups_per_rank * self.world_size
        groups = (groups * math.ceil(total / len(groups)))[:total]
        mine = groups[self.rank:total:self.world_size]
        return iter(int(i) for group in mine for i in group)

    def __len__(self) -> int:
        return self.groups_per_rank * self.num_instances

    def set_epoch(self, epoch: int) -> None:
        """Reseed the group order for ``epoch``."""
        self.epoch = epoch
