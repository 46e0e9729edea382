"""One digest of model weights."""
from collections import OrderedDict

import torch

from sapsam.utils.hashing import state_dict_digest


def test_state_dict_digest_sees_every_byte_not_the_order():
    lin = torch.nn.Linear(3, 2)
    sd = lin.state_dict()
    assert state_dict_digest(sd) == state_dict_digest(
        OrderedDict(reversed(list(sd.items()))))
    assert state_dict_digest(sd) != state_dict_digest(sd, extra='x')
    assert len(state_dict_digest(sd, digest_size=20)) == 40
    bf16 = lin.to(torch.bfloat16).state_dict()    # numpy has no bfloat16
    assert state_dict_digest(bf16) != state_dict_digest(sd)
    changed = {k: v.clone() for k, v in sd.items()}
    changed['bias'][0] += 1
    assert state_dict_digest(changed) != state_dict_digest(sd)


def test_model_identity_and_cache_namespace_use_it():
    from sapsam.apis.retrieval_inferencer import compute_model_identity
    from sapsam.models.segmentors import module_fingerprint
    lin = torch.nn.Linear(3, 2)
    assert compute_model_identity(lin)['weights_hash'] == \
        state_dict_digest(lin.state_dict())
    assert module_fingerprint(lin, 'x') == state_dict_digest(
        lin.state_dict(), 'x', digest_size=20)
