"""Fixed-width SIMD vectors for the dense kernels, as a tiny Numba extension.

Numba runs LLVM's loop vectorizer but not its SLP vectorizer, so a loop only becomes vector
code along its own index. A register-blocked outer product (the Gram and Cholesky kernels in
:mod:`.linalg`) needs the opposite: accumulators that are vectors *across* features, kept in
registers over a loop on ratings. :class:`Vector` is such a value: a Numba type whose LLVM
representation is ``<W x T>`` (one machine vector register), so a local ``Vector`` variable
lives in a register, and a loop over ratings updating eight of them compiles to broadcasts
and fused multiply-adds with no horizontal reductions.

``W = VECTOR_BYTES // itemsize``: 64-byte vectors where the CPU has AVX-512, 32 bytes
otherwise (16 or 8 float32 lanes); ``hload``/``hzero`` give half-width vectors (on Zen 4 a
half-width multiply-add issues at twice the rate of a full one). Numba's on-disk cache is keyed by the CPU, so code cached
on one machine is never loaded on another with a different width.

Loads and stores touch ``row[start : start + W]`` of a contiguous 1-D float array; callers
keep that inside the array by construction. Under ``NUMBA_BOUNDSCHECK=1`` (the debug mode)
both ends are checked and an ``IndexError`` is raised instead.
"""

import llvmlite.binding as llvm
from llvmlite import ir
from numba.core import cgutils, config, types
from numba.extending import intrinsic, models, register_model


def _host_vector_bytes() -> int:
    features = llvm.get_host_cpu_features()
    return 64 if features.get("avx512f", False) else 32


VECTOR_BYTES = _host_vector_bytes()


def lanes(dtype) -> int:
    """Elements of ``dtype`` (a Numba float type) in one vector."""
    return VECTOR_BYTES // (dtype.bitwidth // 8)


class Vector(types.Type):
    """``lanes`` elements of ``dtype`` held in one vector register (default: a full one)."""

    def __init__(self, dtype, lanes_=None):
        self.dtype = dtype
        self.lanes = lanes_ or lanes(dtype)
        super().__init__(name=f"Vector({dtype}x{self.lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, fe_type.lanes))


def _is_row(a) -> bool:
    return (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
            and isinstance(a.dtype, types.Float))


def _vector_ptr(context, builder, arrty, arr, start, n):
    """Pointer to ``arr[start]`` as a pointer to an ``n``-lane vector (bounds-checked in
    the debug mode)."""
    ary = context.make_array(arrty)(context, builder, arr)
    start = context.cast(builder, start, types.intp, types.intp)
    if context.enable_boundscheck:
        dim = builder.extract_value(ary.shape, 0)
        last = builder.add(start, ir.Constant(start.type, n - 1))
        cgutils.do_boundscheck(context, builder, start, dim, 0)
        cgutils.do_boundscheck(context, builder, last, dim, 0)
    ptr = builder.gep(ary.data, [start])
    vty = ir.VectorType(ptr.type.pointee, n)
    return builder.bitcast(ptr, vty.as_pointer()), vty


def _align(context, vty):
    return context.get_abi_sizeof(vty.element)


def _load(row, start, half):
    if not (_is_row(row) and isinstance(start, types.Integer)):
        return None
    vt = Vector(row.dtype, lanes(row.dtype) // 2 if half else None)

    def codegen(context, builder, sig, args):
        ptr, vty = _vector_ptr(context, builder, sig.args[0], args[0], args[1], vt.lanes)
        return builder.load(ptr, align=_align(context, vty))
    return vt(row, start), codegen


@intrinsic
def vload(typingctx, row, start):
    """``row[start : start + W]`` as a vector."""
    return _load(row, start, False)


@intrinsic
def hload(typingctx, row, start):
    """``row[start : start + W/2]`` as a half-width vector."""
    return _load(row, start, True)


@intrinsic
def vstore(typingctx, row, start, v):
    """``row[start : start + len(v)] = v`` (full or half width)."""
    if not (_is_row(row) and isinstance(start, types.Integer) and isinstance(v, Vector)
            and v.dtype == row.dtype):
        return None

    def codegen(context, builder, sig, args):
        ptr, vty = _vector_ptr(context, builder, sig.args[0], args[0], args[1],
                               sig.args[2].lanes)
        builder.store(args[2], ptr, align=_align(context, vty))
        return context.get_dummy_value()
    return types.void(row, start, v), codegen


def _zero(like, half):
    if not isinstance(like, types.Float):
        return None
    vt = Vector(like, lanes(like) // 2 if half else None)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vt), None)
    return vt(like), codegen


@intrinsic
def vzero(typingctx, like):
    """A vector of zeros of the type of the scalar ``like``."""
    return _zero(like, False)


@intrinsic
def hzero(typingctx, like):
    """A half-width vector of zeros."""
    return _zero(like, True)


@intrinsic
def vwidth(typingctx, like):
    """W for the type of the scalar ``like`` (a compile-time constant)."""
    if not isinstance(like, types.Float):
        return None
    n = lanes(like)

    def codegen(context, builder, sig, args):
        return ir.Constant(ir.IntType(64), n)
    return types.int64(like), codegen


def _splat(builder, x, vty):
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), vty.count), [0] * vty.count)
    return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), mask)


@intrinsic
def vfma(typingctx, x, y, acc):
    """``acc + x·y`` in every lane, fused (one rounding); ``x`` a scalar (broadcast) or a
    vector like ``y``. With three scalars, the scalar fused multiply-add."""
    scalar = isinstance(y, types.Float) and x == y and acc == y
    if not (scalar or (isinstance(y, Vector) and acc == y and (x == y or x == y.dtype))):
        return None

    def codegen(context, builder, sig, args):
        xs, yv, av = args
        vty = yv.type
        if scalar:
            name = "f32" if isinstance(vty, ir.FloatType) else "f64"
            fn = cgutils.get_or_insert_function(builder.module,
                                                ir.FunctionType(vty, [vty] * 3),
                                                f"llvm.fma.{name}")
            return builder.call(fn, [xs, yv, av])
        suffix = "f32" if isinstance(vty.element, ir.FloatType) else "f64"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3),
                                            f"llvm.fma.v{vty.count}{suffix}")
        xv = xs if isinstance(sig.args[0], Vector) else _splat(builder, xs, vty)
        return builder.call(fn, [xv, yv, av])
    return y(x, y, acc), codegen


@intrinsic
def vsum(typingctx, v):
    """The sum of the lanes, by a fixed pairwise tree."""
    if not isinstance(v, Vector):
        return None

    def codegen(context, builder, sig, args):
        x = args[0]
        n = x.type.count
        i32 = ir.IntType(32)
        while n > 1:
            n //= 2
            lo = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(i32, n), list(range(n))))
            hi = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(i32, n),
                                                          list(range(n, 2 * n))))
            x = builder.fadd(lo, hi)
        return builder.extract_element(x, ir.Constant(i32, 0))
    return v.dtype(v), codegen


@intrinsic
def vadd(typingctx, x, y):
    """``x + y`` lane by lane (two vectors of one type)."""
    if not (isinstance(x, Vector) and x == y):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])
    return x(x, y), codegen


@intrinsic
def vscale(typingctx, x, y):
    """``x·y`` in every lane; ``x`` a scalar (``y`` a vector, or a scalar too)."""
    scalar = isinstance(y, types.Float) and x == y
    if not (isinstance(x, types.Float) and (scalar or (isinstance(y, Vector)
                                                         and x == y.dtype))):
        return None

    def codegen(context, builder, sig, args):
        if scalar:
            return builder.fmul(args[0], args[1])
        return builder.fmul(_splat(builder, args[0], args[1].type), args[1])
    return y(x, y), codegen


@intrinsic
def prefetch(typingctx, row, start):
    """Hint the CPU to bring the cache line holding ``row[start]`` into cache (no effect on
    results; a prefetch never faults)."""
    if not (_is_row(row) and isinstance(start, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [context.cast(builder, args[1], sig.args[1], types.intp)])
        i8p = ir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p] + [ir.IntType(32)] * 3),
            "llvm.prefetch.p0")
        i32 = ir.IntType(32)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.void(row, start), codegen



def _python_meanings() -> dict:
    """The NumPy meaning of every intrinsic, for NUMBA_DISABLE_JIT=1 (kernels run as plain
    Python: line coverage of the kernels, debugging). A vector is a NumPy array of W lanes;
    multiply-adds are not fused, so results differ from compiled ones in the last bits."""
    import numpy as np  # deferred: needed only with NUMBA_DISABLE_JIT=1

    def width(like) -> int:
        return VECTOR_BYTES // np.dtype(type(like)).itemsize

    def span(row, start, n) -> slice:  # bounds-checked like the debug mode of the intrinsics
        if start < 0 or start + n > row.shape[0]:
            raise IndexError(f"vector [{start}, {start + n}) outside a row of {row.shape[0]}")
        return slice(start, start + n)

    return {
        "vload": lambda row, start: row[span(row, start, width(row[0]))].copy(),
        "hload": lambda row, start: row[span(row, start, width(row[0]) // 2)].copy(),
        "vstore": lambda row, start, v: row.__setitem__(span(row, start, len(v)), v),
        "vzero": lambda like: np.zeros(width(like), dtype=type(like)),
        "hzero": lambda like: np.zeros(width(like) // 2, dtype=type(like)),
        "vwidth": width,
        "vfma": lambda x, y, acc: (x * y + acc).astype(acc.dtype, copy=False),
        "vsum": lambda v: v.sum(dtype=v.dtype),
        "vadd": lambda x, y: x + y,
        "vscale": lambda x, y: (x * y).astype(y.dtype, copy=False),
        "prefetch": lambda row, start: None,
    }


if config.DISABLE_JIT:  # pragma: no cover - only with NUMBA_DISABLE_JIT=1
    globals().update(_python_meanings())
