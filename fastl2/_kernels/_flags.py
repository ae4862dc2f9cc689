"""Compiler settings shared by every kernel.

Not ``fastmath=True``: its ``nnan``/``ninf`` flags let LLVM assume no NaN or inf exists, which
silently removes NaN checks. Reductions (dot products) only vectorize when reassociation is
allowed, so kernels use this explicit set. Flags of the *caller* govern code inlined into it,
so parallel entry points carry the same set as the helpers they inline.
"""

FASTMATH = {"reassoc", "contract", "arcp", "nsz", "afn"}

# Kernels are cached on disk: they capture no globals but these constants, so the cache is
# safe; the first call of a new signature costs a compile (seconds, see docs/architecture.md).
CACHE = True
