"""mlaps: AITER's persistent-scheduled MLA prefill on the CPU.

Drop-ins with upstream's signatures (the CU count a keyword, never a device query):
    get_ps_metadata_info_v1(batch_size, num_head_k, max_qlen, qlen_granularity=256, *, num_cu=256, ...)
    get_ps_metadata_v1(seqlens_qo_indptr, pages_kv_indptr, context_lens, gqa_ratio, num_heads_k, ...)
and the rest of mlaps on numpy arrays: Problem, plan, validate, cost, emulate, reference, compare, policies,
workloads, per_tensor_quant, and isa_path (the emulator's instruction-set path).
"""
from ._version import __version__
from ._mlaps import __version__ as _native_version

if _native_version != __version__:  # both come from CMake's project(VERSION): a stale build tree otherwise
    raise ImportError(f"mlaps: the extension is {_native_version}, the package {__version__}: rebuild")

from ._mlaps import (Plan, Problem, compare, cost, emulate, get_ps_metadata_info_v1, isa_path,  # noqa: E402
                     per_tensor_quant, plan, policies, read_aiter_dump, reference, validate, workload, workloads)
from ._dropins import get_ps_metadata_v1  # noqa: E402  (its keywords bound in Python: _dropins.py says why)

__all__ = ["Plan", "Problem", "__version__", "compare", "cost", "emulate", "get_ps_metadata_info_v1", "get_ps_metadata_v1",
           "isa_path", "per_tensor_quant", "plan", "policies", "read_aiter_dump", "reference", "validate", "workload",
           "workloads"]
