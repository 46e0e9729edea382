"""benchmarks/person_sam_cache.py runs at a tiny size."""
import pytest

pytestmark = pytest.mark.usefixtures('one_thread')


def test_cache_benchmark_tiny(load_tool, sapsam_scope):
    bench = load_tool('benchmarks/person_sam_cache.py')
    result = bench.run(arch='tiny', num_images=2, epochs=2, batch_size=2)
    assert len(result['epoch_s_no_cache']) == len(result['epoch_s_cache'])
    assert len(result['epoch_s_cache']) == 2
    # Epoch 1 fills the cache (2 misses), epoch 2 reads it (2 hits).
    assert (result['cache_misses'], result['cache_hits']) == (2, 2)
    assert result['later_epoch_speedup'] > 0
