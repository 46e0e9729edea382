from .rank_metrics import (query_rank_stats, rank_metrics,
                           rank_metrics_full_argsort, summarize_rank_stats)

__all__ = [
    'query_rank_stats', 'summarize_rank_stats', 'rank_metrics',
    'rank_metrics_full_argsort'
]
