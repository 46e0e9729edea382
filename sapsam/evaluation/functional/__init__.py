from .rank_metrics import (GalleryRanker, check_topk, feature_rank_stats,
                           query_rank_stats, summarize_rank_stats)

__all__ = [
    'GalleryRanker', 'check_topk', 'feature_rank_stats', 'query_rank_stats',
    'summarize_rank_stats'
]
