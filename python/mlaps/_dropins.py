"""get_ps_metadata_v1 with upstream's signature: the binding in Python, the work in C++.

Python binds the keyword arguments and the defaults, and the C++ side (_mlaps._get_ps_metadata_v1) takes every
argument by position: pybind11's own keyword binding cost ~1.1 us per call (2.8 vs 1.7 us for the seed
scenario's call with and without num_cu=, on a 2-core Zen 4 box), this function ~0.1 us. The defaults live
here only.
"""
import inspect

from ._mlaps import _get_ps_metadata_v1, _time_make_plan_into as _timed


def get_ps_metadata_v1(seqlens_qo_indptr, pages_kv_indptr, context_lens, gqa_ratio, num_heads_k,
                       work_metadata_ptrs, work_indptr, work_info, reduce_indptr, reduce_final_map,
                       reduce_partial_map, qhead_granularity=1, qlen_granularity=256, kvlen_granularity=16,
                       block_size=16, is_causal=True, *, num_cu=256, policy="aiter", need_lse=True,
                       allow_causal_qo_gt_kv=False):
    """Upstream's PS scheduler: writes the plan into the caller's arrays.

    The arrays are numpy arrays or torch CPU tensors, int32, C-contiguous, sized by get_ps_metadata_info_v1;
    unused tails are zeroed and reduce_indptr's tail is set to the partial count. The defaults are upstream's
    Python stub's (kvlen_granularity=16, block_size=16; upstream's pybind layer has 1/1 in effect: pass them
    to get that). num_cu is a keyword: no device is queried. A bad argument raises ValueError naming it
    before anything is written. Causal qo_len > kv_len is rejected unless allow_causal_qo_gt_kv (to study
    upstream's behaviour on it, contract 2.5.3).
    """
    _get_ps_metadata_v1(seqlens_qo_indptr, pages_kv_indptr, context_lens, gqa_ratio, num_heads_k,
                        work_metadata_ptrs, work_indptr, work_info, reduce_indptr, reduce_final_map,
                        reduce_partial_map, qhead_granularity, qlen_granularity, kvlen_granularity, block_size,
                        is_causal, num_cu, policy, need_lse, allow_causal_qo_gt_kv)


def _time_make_plan_into(*args, calls=1000, with_arguments=False, **kwargs):
    """For python/tools/time_dropin.py: get_ps_metadata_v1's arguments (bound as it binds them) once through
    it, then make_plan_into `calls` more times in a C++ loop (with_arguments: the whole C++ side of the
    drop-in, argument checks included); returns the mean microseconds per call."""
    bound = inspect.signature(get_ps_metadata_v1).bind(*args, **kwargs)
    bound.apply_defaults()
    return _timed(*bound.arguments.values(), calls, with_arguments)
