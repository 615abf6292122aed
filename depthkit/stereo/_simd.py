"""Explicit int16 vectors of :data:`LANES` lanes for the SGM kernels (private).

Numba auto-vectorises a loop over disparities, but every such loop pays its own set-up at each
pixel and direction (trip-count checks, runtime alias checks between the path rows, a scalar
remainder), which dominated the aggregation at the usual 32-128 disparities. Here the disparity
axis is walked in chunks of :data:`LANES` lanes held in one LLVM ``<32 x i16>`` value (a numba
type of its own), so one pixel's path directions run as straight-line vector code with no
per-loop overhead. 32 lanes of int16 are one 512-bit register on AVX-512BW; LLVM splits them
into two 256-bit halves on AVX2 (or smaller on older targets), so the code stays portable.
32 lanes made the aggregation 0.80-0.92x the time of 16 lanes at 32-224 disparities (A/B in
one process); at 16 disparities half of each vector is padding and it was no faster.

The last, partial chunk of a disparity range that is not a multiple of :data:`LANES` uses
masked loads and stores (:func:`vload_n`, :func:`vstore_n`), so arrays need no padding.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 32

_I16 = ir.IntType(16)
_I32 = ir.IntType(32)
_VT = ir.VectorType(_I16, LANES)
_V8 = ir.VectorType(ir.IntType(8), LANES)


class Int16Vec(types.Type):
    """Numba type of a ``<LANES x i16>`` LLVM vector."""

    def __init__(self):
        super().__init__(name=f"Int16x{LANES}")


int16vec = Int16Vec()


@register_model(Int16Vec)
class _Int16VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VT)


def _elem_ptr(context, builder, aryty, ary, off, vty):
    """Pointer to ``ary.data[off]`` as a pointer to `vty` (no bounds check: callers own it)."""
    a = context.make_array(aryty)(context, builder, ary)
    return builder.bitcast(builder.gep(a.data, [off]), vty.as_pointer())


def _check_array(arr, dtypes=(types.uint8, types.int16, types.uint16)):
    if not isinstance(arr, types.Array) or arr.dtype not in dtypes:
        raise TypeError(f"vector access needs an array of {dtypes}; got {arr}")


def _lane_mask(builder, n, lanes=LANES):
    """``<lanes x i1>``: lane i is on when ``i < n``."""
    n32 = builder.trunc(n, _I32) if n.type.width > 32 else builder.zext(n, _I32) \
        if n.type.width < 32 else n
    iota = ir.Constant(ir.VectorType(_I32, lanes), list(range(lanes)))
    nv = _splat(builder, n32, ir.VectorType(_I32, lanes))
    return builder.icmp_unsigned("<", iota, nv)


def _splat(builder, scalar, vty):
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), scalar, ir.Constant(_I32, 0))
    zeros = ir.Constant(ir.VectorType(_I32, vty.count), [0] * vty.count)
    return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), zeros)


def _type_code(el):
    """LLVM's name of a vector element type in intrinsic names (``i16``, ``f32``, ...)."""
    if isinstance(el, ir.FloatType):
        return "f32"
    if isinstance(el, ir.DoubleType):
        return "f64"
    return f"i{el.width}"


def _masked_load(builder, ptr, mask, passthru):
    vty = passthru.type
    el = vty.element
    code = _type_code(el)
    name = f"llvm.masked.load.v{vty.count}{code}.p0"
    fnty = ir.FunctionType(vty, [vty.as_pointer(), _I32, mask.type, vty])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    return builder.call(fn, [ptr, ir.Constant(_I32, 1), mask, passthru])


def _masked_store(builder, val, ptr, mask):
    vty = val.type
    el = vty.element
    code = _type_code(el)
    name = f"llvm.masked.store.v{vty.count}{code}.p0"
    fnty = ir.FunctionType(ir.VoidType(), [vty, vty.as_pointer(), _I32, mask.type])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    builder.call(fn, [val, ptr, ir.Constant(_I32, 1), mask])


@intrinsic
def vload(typingctx, arr, off):
    """Lanes ``arr[off : off + LANES]`` (uint8 zero-extended) as int16."""
    _check_array(arr)

    def codegen(context, builder, sig, args):
        if sig.args[0].dtype == types.uint8:
            p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], _V8)
            return builder.zext(builder.load(p, align=1), _VT)
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], _VT)
        return builder.load(p, align=1)

    return int16vec(arr, off), codegen


@intrinsic
def vload_n(typingctx, arr, off, n, fill):
    """As :func:`vload` for the first `n` lanes only; the others get `fill` (nothing is read
    past ``arr[off + n - 1]``)."""
    _check_array(arr)

    def codegen(context, builder, sig, args):
        mask = _lane_mask(builder, args[2])
        fillv = _splat(builder, _to16(builder, args[3]), _VT)
        if sig.args[0].dtype == types.uint8:
            p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], _V8)
            v = builder.zext(_masked_load(builder, p, mask, ir.Constant(_V8, [0] * LANES)), _VT)
            return builder.select(mask, v, fillv)
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], _VT)
        return _masked_load(builder, p, mask, fillv)

    return int16vec(arr, off, n, fill), codegen


@intrinsic
def vstore(typingctx, arr, off, v):
    """``arr[off : off + LANES] = v`` (int16 or uint16 arrays: the bits as they are; uint8: the
    low bytes)."""
    _check_array(arr)

    def codegen(context, builder, sig, args):
        if sig.args[0].dtype == types.uint8:
            p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], _V8)
            builder.store(builder.trunc(args[2], _V8), p, align=1)
        else:
            p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], _VT)
            builder.store(args[2], p, align=1)
        return context.get_dummy_value()

    return types.none(arr, off, v), codegen


@intrinsic
def vstore_n(typingctx, arr, off, v, n):
    """As :func:`vstore` for the first `n` lanes only."""
    _check_array(arr)

    def codegen(context, builder, sig, args):
        mask = _lane_mask(builder, args[3])
        if sig.args[0].dtype == types.uint8:
            p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], _V8)
            _masked_store(builder, builder.trunc(args[2], _V8), p, mask)
        else:
            p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], _VT)
            _masked_store(builder, args[2], p, mask)
        return context.get_dummy_value()

    return types.none(arr, off, v, n), codegen


def _to16(builder, x):
    w = x.type.width
    if w > 16:
        return builder.trunc(x, _I16)
    if w < 16:
        return builder.sext(x, _I16)
    return x


@intrinsic
def vsplat(typingctx, x):
    """All lanes set to the integer `x` (truncated to int16)."""
    if not isinstance(x, types.Integer):
        raise TypeError(f"vsplat needs an integer; got {x}")

    def codegen(context, builder, sig, args):
        return _splat(builder, _to16(builder, args[0]), _VT)

    return int16vec(x), codegen


@intrinsic
def vadd(typingctx, a, b):
    """Lane-wise wrapping int16 addition."""

    def codegen(context, builder, sig, args):
        return builder.add(args[0], args[1])

    return int16vec(int16vec, int16vec), codegen


@intrinsic
def vsub(typingctx, a, b):
    """Lane-wise wrapping int16 subtraction."""

    def codegen(context, builder, sig, args):
        return builder.sub(args[0], args[1])

    return int16vec(int16vec, int16vec), codegen


@intrinsic
def vmin(typingctx, a, b):
    """Lane-wise signed minimum."""

    def codegen(context, builder, sig, args):
        x, y = args
        return builder.select(builder.icmp_signed("<", x, y), x, y)

    return int16vec(int16vec, int16vec), codegen


@intrinsic
def vhmin(typingctx, a):
    """Signed minimum over the lanes."""

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(_I16, [_VT])
        fn = cgutils.get_or_insert_function(builder.module, fnty,
                                            f"llvm.vector.reduce.smin.v{LANES}i16")
        return builder.call(fn, [args[0]])

    return types.int16(int16vec), codegen


@intrinsic
def vshift_up(typingctx, prev, cur):
    """``[prev[LANES - 1], cur[0], ..., cur[LANES - 2]]``: each lane gets its lower neighbour
    (``d - 1``)."""

    def codegen(context, builder, sig, args):
        idx = ir.Constant(ir.VectorType(_I32, LANES), list(range(LANES - 1, 2 * LANES - 1)))
        return builder.shuffle_vector(args[0], args[1], idx)

    return int16vec(int16vec, int16vec), codegen


@intrinsic
def vshift_down(typingctx, cur, nxt):
    """``[cur[1], ..., cur[LANES - 1], nxt[0]]``: each lane gets its upper neighbour
    (``d + 1``)."""

    def codegen(context, builder, sig, args):
        idx = ir.Constant(ir.VectorType(_I32, LANES), list(range(1, LANES + 1)))
        return builder.shuffle_vector(args[0], args[1], idx)

    return int16vec(int16vec, int16vec), codegen


@intrinsic
def vpopxor(typingctx, arr, off, a, n):
    """``popcount(a ^ arr[off + i])`` for lanes ``i < n`` (0 beyond; nothing read past them), as
    int16: the Hamming distances of LANES census strings (uint32 or uint64) to `a`."""
    _check_array(arr, (types.uint32, types.uint64))

    def codegen(context, builder, sig, args):
        ety = context.get_value_type(sig.args[0].dtype)
        wty = ir.VectorType(ety, LANES)
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], wty)
        full = builder.icmp_signed(">=", args[3], ir.Constant(args[3].type, LANES))
        with builder.if_else(full) as (then, otherwise):
            with then:
                bb_full = builder.block
                v_full = builder.load(p, align=1)
            with otherwise:
                bb_part = builder.block
                v_part = _masked_load(builder, p, _lane_mask(builder, args[3]),
                                      ir.Constant(wty, [0] * LANES))
        v = builder.phi(wty)
        v.add_incoming(v_full, bb_full)
        v.add_incoming(v_part, bb_part)
        av = _splat(builder, args[2], wty)
        fnty = ir.FunctionType(wty, [wty])
        ctpop = cgutils.get_or_insert_function(builder.module, fnty,
                                               f"llvm.ctpop.v{LANES}i{ety.width}")
        return builder.trunc(builder.call(ctpop, [builder.xor(v, av)]), _VT)

    return int16vec(arr, off, a, n), codegen


@intrinsic
def vpopxor_grad(typingctx, arr, off, a, grad, g, g_cap, g_weight, n):
    """:func:`vpopxor` plus the truncated gradient term of the ``census_grad`` cost, as the
    scalar ``uint8(min(h + min(|g - grad[off + i]|, g_cap) * g_weight, 255))`` in float32
    (the operations in that order, not fused, as numpy's reference): lanes ``i < n`` (0
    beyond), int16. `grad` is a float32 row indexed like `arr`."""
    _check_array(arr, (types.uint32, types.uint64))
    _check_array(grad, (types.float32,))

    def codegen(context, builder, sig, args):
        arr_, off, a_, grad_, g_, cap, w, n_ = args
        ety = context.get_value_type(sig.args[0].dtype)
        wty = ir.VectorType(ety, LANES)
        fty = ir.VectorType(ir.FloatType(), LANES)
        mask = _lane_mask(builder, n_)
        v = _masked_load(builder, _elem_ptr(context, builder, sig.args[0], arr_, off, wty), mask,
                         ir.Constant(wty, [0] * LANES))
        gv = _masked_load(builder, _elem_ptr(context, builder, sig.args[3], grad_, off, fty),
                          mask, ir.Constant(fty, [0.0] * LANES))
        ctpop = cgutils.get_or_insert_function(builder.module, ir.FunctionType(wty, [wty]),
                                               f"llvm.ctpop.v{LANES}i{ety.width}")
        h = builder.uitofp(builder.call(ctpop, [builder.xor(v, _splat(builder, a_, wty))]), fty)
        fabs = cgutils.get_or_insert_function(builder.module, ir.FunctionType(fty, [fty]),
                                              f"llvm.fabs.v{LANES}f32")
        diff = builder.call(fabs, [builder.fsub(_splat(builder, g_, fty), gv)])
        capv = _splat(builder, cap, fty)
        t = builder.select(builder.fcmp_ordered("<", diff, capv), diff, capv)
        t = builder.fmul(t, _splat(builder, w, fty))
        r = builder.fadd(h, t)
        top = ir.Constant(fty, [255.0] * LANES)
        r = builder.select(builder.fcmp_ordered("<", r, top), r, top)
        r = builder.fptoui(r, _VT)
        return builder.select(mask, r, ir.Constant(_VT, [0] * LANES))

    return int16vec(arr, off, a, grad, g, g_cap, g_weight, n), codegen


# --------------------------------------------------------------------------------------------
# 16-lane float32 / uint32 vectors (the WTA and the left-right check)

CENSUS_LANES = 16  # float32 / uint32 lanes of one 512-bit register

_F32 = ir.FloatType()
_VF = ir.VectorType(_F32, CENSUS_LANES)
_VU = ir.VectorType(_I32, CENSUS_LANES)


class Float32Vec(types.Type):
    """Numba type of a ``<CENSUS_LANES x float>`` LLVM vector."""

    def __init__(self):
        super().__init__(name=f"Float32x{CENSUS_LANES}")


class UInt32Vec(types.Type):
    """Numba type of a ``<CENSUS_LANES x i32>`` LLVM vector (unsigned use)."""

    def __init__(self):
        super().__init__(name=f"UInt32x{CENSUS_LANES}")


float32vec = Float32Vec()
uint32vec = UInt32Vec()


@register_model(Float32Vec)
class _Float32VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VF)


@register_model(UInt32Vec)
class _UInt32VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VU)


@intrinsic
def ustore(typingctx, arr, off, v):
    """``arr[off : off + CENSUS_LANES] = v`` for a uint32 array (no bounds check)."""
    _check_array(arr, (types.uint32,))

    def codegen(context, builder, sig, args):
        builder.store(args[2], _elem_ptr(context, builder, sig.args[0], args[0], args[1], _VU),
                      align=1)
        return context.get_dummy_value()

    return types.none(arr, off, v), codegen


# --------------------------------------------------------------------------------------------
# census as byte planes: CENSUS_GROUP pixels at a time, bit k of each string in byte plane k // 8

CENSUS_GROUP = 64  # uint8 lanes of one 512-bit register
_VB64 = ir.VectorType(ir.IntType(8), CENSUS_GROUP)


class Byte64(types.Type):
    """Numba type of a ``<CENSUS_GROUP x i8>`` LLVM vector (unsigned use)."""

    def __init__(self):
        super().__init__(name=f"Byte{CENSUS_GROUP}")


byte64 = Byte64()


@register_model(Byte64)
class _Byte64Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VB64)


@intrinsic
def bzero(typingctx):
    """A byte vector of zeros."""

    def codegen(context, builder, sig, args):
        return ir.Constant(_VB64, [0] * CENSUS_GROUP)

    return byte64(), codegen


@intrinsic
def census_bits(typingctx, acc, arr, oa, ob, bit):
    """``acc + (arr[oa + i] < arr[ob + i] ? bit : 0)`` for CENSUS_GROUP lanes ``i`` of a uint8
    or float32 image (no bounds check): one census bit of CENSUS_GROUP pixels set in their
    byte plane, whose other bits differ, so adding is or-ing (a uint8 image: one ``vpcmpub``
    into a mask register and a masked ``vpaddb``)."""
    _check_array(arr, (types.uint8, types.float32))
    u8 = arr.dtype == types.uint8
    vty = _VB64 if u8 else ir.VectorType(_F32, CENSUS_GROUP)

    def codegen(context, builder, sig, args):
        acc_, arr_, oa_, ob_, bit_ = args
        a = builder.load(_elem_ptr(context, builder, sig.args[1], arr_, oa_, vty), align=1)
        b = builder.load(_elem_ptr(context, builder, sig.args[1], arr_, ob_, vty), align=1)
        lt = builder.icmp_unsigned("<", a, b) if u8 else builder.fcmp_ordered("<", a, b)
        bv = _splat(builder, builder.trunc(bit_, ir.IntType(8)), _VB64)
        return builder.add(acc_, builder.select(lt, bv, ir.Constant(_VB64, [0] * CENSUS_GROUP)))

    return byte64(acc, arr, oa, ob, bit), codegen


@intrinsic
def bstore(typingctx, arr, off, v, reverse):
    """``arr[off : off + CENSUS_GROUP] = v`` for a uint8 array, the lanes in reverse order with
    `reverse` (a compile-time bool; no bounds check)."""
    _check_array(arr, (types.uint8,))
    if not isinstance(reverse, types.BooleanLiteral):
        return None
    rev = reverse.literal_value

    def codegen(context, builder, sig, args):
        v = args[2]
        if rev:
            v = builder.shuffle_vector(v, v, ir.Constant(
                ir.VectorType(_I32, CENSUS_GROUP), list(range(CENSUS_GROUP - 1, -1, -1))))
        builder.store(v, _elem_ptr(context, builder, sig.args[0], args[0], args[1], _VB64),
                      align=1)
        return context.get_dummy_value()

    return types.none(arr, off, v, reverse), codegen


# --------------------------------------------------------------------------------------------
# winner-takes-all: CENSUS_LANES pixels at a time on disparity-major (transposed) sums


def _usplat(builder, x):
    w = x.type.width
    x32 = builder.trunc(x, _I32) if w > 32 else builder.zext(x, _I32) if w < 32 else x
    return _splat(builder, x32, _VU)


@intrinsic
def uload16(typingctx, arr, off):
    """Lanes ``arr[off : off + CENSUS_LANES]`` of a uint16 array, zero-extended to uint32."""
    _check_array(arr, (types.uint16,))
    v16 = ir.VectorType(_I16, CENSUS_LANES)

    def codegen(context, builder, sig, args):
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], v16)
        return builder.zext(builder.load(p, align=1), _VU)

    return uint32vec(arr, off), codegen


@intrinsic
def ulanes(typingctx, x, step):
    """``x + step * [0, 1, ..., CENSUS_LANES - 1]`` (uint32, wrapping; `step` +1 or -1)."""
    if not isinstance(x, types.Integer) or not isinstance(step, types.Integer):
        raise TypeError(f"ulanes needs integers; got {x}, {step}")

    def codegen(context, builder, sig, args):
        iota = ir.Constant(_VU, list(range(CENSUS_LANES)))
        return builder.add(_usplat(builder, args[0]),
                           builder.mul(iota, _usplat(builder, args[1])))

    return uint32vec(x, step), codegen


@intrinsic
def ukey_min(typingctx, best, s, d, t, lim):
    """The WTA step of one disparity `d` for CENSUS_LANES pixels: the keys ``(s << 16) | d``
    replace `best` where smaller and where ``t - d <= lim`` (unsigned: the pixel's right
    pixel at `d` lies in the image)."""

    def codegen(context, builder, sig, args):
        best, s, d, t, lim = args
        dv = _usplat(builder, d)
        key = builder.or_(builder.shl(s, ir.Constant(_VU, [16] * CENSUS_LANES)), dv)
        ok = builder.icmp_unsigned("<=", builder.sub(t, dv), _usplat(builder, lim))
        better = builder.and_(ok, builder.icmp_unsigned("<", key, best))
        return builder.select(better, key, best)

    return uint32vec(uint32vec, uint32vec, d, uint32vec, lim), codegen


@intrinsic
def usecond_min(typingctx, sec, s, d, t, lim, best):
    """The uniqueness test's step of disparity `d`: `sec` gets ``min(sec, s)`` where the
    disparity is valid (as :func:`ukey_min`) and not the winner ``best & 0xFFFF`` or next to
    it."""

    def codegen(context, builder, sig, args):
        sec, s, d, t, lim, best = args
        dv = _usplat(builder, d)
        one = ir.Constant(_VU, [1] * CENSUS_LANES)
        bd = builder.and_(best, ir.Constant(_VU, [0xFFFF] * CENSUS_LANES))
        ok = builder.icmp_unsigned("<=", builder.sub(t, dv), _usplat(builder, lim))
        far = builder.or_(builder.icmp_unsigned("<", builder.add(dv, one), bd),
                          builder.icmp_unsigned(">", dv, builder.add(bd, one)))
        take = builder.and_(builder.and_(ok, far), builder.icmp_unsigned("<", s, sec))
        return builder.select(take, s, sec)

    return uint32vec(uint32vec, uint32vec, d, uint32vec, lim, uint32vec), codegen


@intrinsic
def usplat(typingctx, x):
    """All lanes set to the integer `x` (uint32)."""
    if not isinstance(x, types.Integer):
        raise TypeError(f"usplat needs an integer; got {x}")

    def codegen(context, builder, sig, args):
        return _usplat(builder, args[0])

    return uint32vec(x), codegen


@intrinsic
def transpose16(typingctx, src, soff, sstride, dst, doff, dstride, nrows):
    """A 16 x 16 block of uint16: ``dst[doff + r * dstride + i] = src[soff + i * sstride + r]``
    for ``i < 16`` and ``r < nrows`` (16 row loads, four stages of two-vector shuffles that
    swap the off-diagonal sub-blocks, `nrows` row stores; reads 16 elements of every source
    row)."""
    _check_array(src, (types.uint16,))
    _check_array(dst, (types.uint16,))
    n = 16
    vty = ir.VectorType(_I16, n)

    def codegen(context, builder, sig, args):
        src, soff, sstride, dst, doff, dstride, nrows = args
        sty, dty = sig.args[0], sig.args[3]
        i64 = ir.IntType(64)

        def off(base, stride, k):
            return builder.add(base, builder.mul(stride, ir.Constant(stride.type, k)))

        rows = [builder.load(_elem_ptr(context, builder, sty, src, off(soff, sstride, i), vty),
                             align=1) for i in range(n)]
        s = n // 2
        while s >= 1:
            # rows i and i + s (i & s == 0): swap row i's upper-s lanes of each 2s group with
            # row i + s's lower-s lanes
            for i in range(n):
                if i & s:
                    continue
                a, b = rows[i], rows[i + s]
                lo = [j if not (j & s) else n + j - s for j in range(n)]
                hi = [j + s if not (j & s) else n + j for j in range(n)]
                rows[i] = builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(_I32, n), lo))
                rows[i + s] = builder.shuffle_vector(a, b,
                                                     ir.Constant(ir.VectorType(_I32, n), hi))
            s //= 2
        nr = builder.sext(nrows, i64) if nrows.type.width < 64 else nrows
        for r in range(n):
            with builder.if_then(builder.icmp_signed("<", ir.Constant(i64, r), nr)):
                p = _elem_ptr(context, builder, dty, dst, off(doff, dstride, r), vty)
                builder.store(rows[r], p, align=1)
        return context.get_dummy_value()

    return types.none(src, soff, sstride, dst, doff, dstride, nrows), codegen


# --------------------------------------------------------------------------------------------
# left-right check: CENSUS_LANES pixels at a time


_VF64 = ir.VectorType(ir.DoubleType(), CENSUS_LANES)
_I64 = ir.IntType(64)
_VI64 = ir.VectorType(_I64, CENSUS_LANES)
_VI16 = ir.VectorType(_I16, CENSUS_LANES)
_VI1 = ir.VectorType(ir.IntType(1), CENSUS_LANES)


def _int64(builder, x):
    """An integer value sign-extended to i64."""
    return builder.sext(x, _I64) if x.type.width < 64 else x


def _gather32(builder, addr, align, mask, passthru):
    """``llvm.masked.gather`` of CENSUS_LANES 32-bit words at the byte addresses `addr`
    (``<CENSUS_LANES x i64>``); lanes off in `mask` get `passthru`."""
    ptrty = ir.VectorType(ir.PointerType(), CENSUS_LANES)
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(_VU, [ptrty, _I32, _VI1, _VU]),
        f"llvm.masked.gather.v{CENSUS_LANES}i32.v{CENSUS_LANES}p0")
    return builder.call(fn, [builder.inttoptr(addr, ptrty), ir.Constant(_I32, align), mask,
                             passthru])


@intrinsic
def lr_check16(typingctx, dint, dsub, rkey, off, x0, n, W, max_diff):
    """The left-right check of pixels ``x0 .. x0 + n - 1`` (``n <= CENSUS_LANES``) of one row
    of `W` pixels: ``dint``, ``dsub`` and ``rkey`` are the flat WTA outputs (int16, float32,
    uint32; the right keys x-reversed) and `off` the row's first element. A pixel keeps its
    sub-pixel disparity ``v`` if the right pixel ``floor(x - v)`` or the next one lies in the
    row and holds a key whose disparity is within `max_diff` of the pixel's; otherwise NaN
    (pixels with no winner keep their NaN). The two right keys are gathered. Returns the
    float32 lanes (NaN past `n`)."""
    _check_array(dint, (types.int16,))
    _check_array(dsub, (types.float32,))
    _check_array(rkey, (types.uint32,))
    L = CENSUS_LANES
    f32v, f64v, i64, i64v, i16v, i1v = _VF, _VF64, _I64, _VI64, _VI16, _VI1
    i64_of = _int64

    def codegen(context, builder, sig, args):
        adint, adsub, arkey, off, x0, n, w, md = args
        start = builder.add(i64_of(builder, off), i64_of(builder, x0))
        mask = _lane_mask(builder, n, L)
        pd = _elem_ptr(context, builder, sig.args[0], adint, start, i16v)
        d = builder.sext(_masked_load(builder, pd, mask, ir.Constant(i16v, [-1] * L)), _VU)
        ps = _elem_ptr(context, builder, sig.args[1], adsub, start, f32v)
        nan = ir.Constant(f32v, [float("nan")] * L)
        v = _masked_load(builder, ps, mask, nan)
        ok = builder.and_(mask, builder.icmp_signed(">=", d, ir.Constant(_VU, [0] * L)))
        vz = builder.select(ok, v, ir.Constant(f32v, [0.0] * L))
        xs = builder.add(_splat(builder, i64_of(builder, x0), i64v),
                         ir.Constant(i64v, list(range(L))))
        xf = builder.fsub(builder.sitofp(xs, f64v), builder.fpext(vz, f64v))
        floor = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f64v, [f64v]),
                                               f"llvm.floor.v{L}f64")
        xr0 = builder.fptosi(builder.call(floor, [xf]), i64v)
        wv = _splat(builder, i64_of(builder, w), i64v)
        zero = ir.Constant(i64v, [0] * L)
        base = builder.ptrtoint(context.make_array(sig.args[2])(context, builder, arkey).data,
                                i64)
        rowend = builder.add(_splat(builder, builder.add(base, builder.mul(
            builder.add(i64_of(builder, off), builder.sub(i64_of(builder, w),
                                                          ir.Constant(i64, 1))),
            ir.Constant(i64, 4))), i64v), zero)
        inv = ir.Constant(_VU, [0xFFFFFFFF] * L)
        mdv = _splat(builder, builder.trunc(md, _I32) if md.type.width > 32 else md, _VU)
        agree = ir.Constant(i1v, [0] * L)
        for j in (0, 1):
            xr = builder.add(xr0, ir.Constant(i64v, [j] * L))
            inb = builder.and_(builder.icmp_signed(">=", xr, zero),
                               builder.icmp_signed("<", xr, wv))
            gm = builder.and_(ok, inb)
            xc = builder.select(inb, xr, zero)
            # key of right pixel xc at rkey[off + W - 1 - xc]
            addr = builder.sub(rowend, builder.mul(xc, ir.Constant(i64v, [4] * L)))
            k = _gather32(builder, addr, 4, gm, inv)
            dr = builder.and_(k, ir.Constant(_VU, [0xFFFF] * L))
            diff = builder.sub(dr, d)
            neg = builder.sub(ir.Constant(_VU, [0] * L), diff)
            adiff = builder.select(builder.icmp_signed("<", diff, ir.Constant(_VU, [0] * L)),
                                   neg, diff)
            good = builder.and_(builder.icmp_unsigned("!=", k, inv),
                                builder.icmp_signed("<=", adiff, mdv))
            agree = builder.or_(agree, builder.and_(gm, good))
        keep = builder.or_(agree, builder.not_(ok))
        return builder.select(keep, v, nan)

    return float32vec(dint, dsub, rkey, off, x0, n, W, max_diff), codegen


@intrinsic
def fstore_n(typingctx, arr, off, v, n):
    """``arr[off : off + n] = v[:n]`` for a float32 array (a masked store)."""
    _check_array(arr, (types.float32,))

    def codegen(context, builder, sig, args):
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1], _VF)
        _masked_store(builder, args[2], p, _lane_mask(builder, args[3], CENSUS_LANES))
        return context.get_dummy_value()

    return types.none(arr, off, v, n), codegen


@intrinsic
def wta_finish16(typingctx, best, sec, T, lpx, TW, x0, n, W, D, min_disp, uniq, subpix, dint,
                 dsub, off):
    """The WTA's per-pixel end for pixels ``x0 .. x0 + n - 1`` of a row, from their keys `best`
    and second-best costs `sec` (used when ``uniq > 0``): ``dint[off + x]`` gets the winning
    index (-1 without a winner or when not unique) and ``dsub[off + x]`` the disparity with the
    sub-pixel offset of a parabola (``subpix`` 1) or a symmetric V (2) through the sums at the
    winner's neighbours, which are gathered from the disparity-major row `T` (column ``lpx +
    lane``, row stride `TW`), or NaN. The same arithmetic as a scalar loop, in float64."""
    _check_array(T, (types.uint16,))
    _check_array(dint, (types.int16,))
    _check_array(dsub, (types.float32,))
    L = CENSUS_LANES
    f32v, f64v, i64, i64v, i16v, i1v = _VF, _VF64, _I64, _VI64, _VI16, _VI1
    i64_of = _int64

    def i32_of(builder, x):
        w = x.type.width
        return builder.trunc(x, _I32) if w > 32 else (builder.sext(x, _I32) if w < 32 else x)

    def codegen(context, builder, sig, args):
        (best, sec, aT, lpx, tw, x0, n, w, nd, md, uq, sp, adint, adsub, off) = args
        c32 = lambda v: ir.Constant(_VU, [v] * L)  # noqa: E731
        mask = _lane_mask(builder, n, L)
        bd = builder.and_(best, c32(0xFFFF))
        bs = builder.lshr(best, c32(16))
        ok = builder.and_(mask, builder.icmp_unsigned("!=", best, c32(0xFFFFFFFF)))
        uqv = _splat(builder, i32_of(builder, uq), _VU)
        unique = builder.icmp_signed(">=", builder.mul(sec, builder.sub(c32(100), uqv)),
                                     builder.mul(bs, c32(100)))
        use_uq = builder.icmp_signed(">", i32_of(builder, uq), ir.Constant(_I32, 0))
        ok = builder.and_(ok, builder.or_(_splat(builder, builder.not_(use_uq), i1v), unique))
        # disparities with a right pixel: dlo <= d < dhi
        xs = builder.add(_splat(builder, i32_of(builder, x0), _VU),
                         ir.Constant(_VU, list(range(L))))
        t = builder.sub(xs, _splat(builder, i32_of(builder, md), _VU))
        wv = _splat(builder, i32_of(builder, w), _VU)
        dv = _splat(builder, i32_of(builder, nd), _VU)
        zero = c32(0)

        def smax(a, b):
            return builder.select(builder.icmp_signed(">", a, b), a, b)

        def smin(a, b):
            return builder.select(builder.icmp_signed("<", a, b), a, b)

        dlo = smin(smax(zero, builder.sub(t, builder.sub(wv, c32(1)))), dv)
        dhi = smax(smin(dv, builder.add(t, c32(1))), dlo)
        fit = builder.and_(ok, builder.and_(builder.icmp_signed(">", bd, dlo),
                                            builder.icmp_signed("<", bd, builder.sub(dhi, c32(1)))))
        # the neighbours' sums: T[(bd -+ 1) * TW + lpx + lane], read as 32 bits (low half)
        base = builder.ptrtoint(context.make_array(sig.args[2])(context, builder, aT).data, i64)
        col = builder.add(_splat(builder, i64_of(builder, lpx), i64v),
                          ir.Constant(i64v, list(range(L))))
        twv = _splat(builder, i64_of(builder, tw), i64v)
        bd64 = builder.zext(bd, i64v)
        def neighbour(delta):
            row = builder.add(bd64, ir.Constant(i64v, [delta] * L))
            idx = builder.add(builder.mul(row, twv), col)
            addr = builder.add(_splat(builder, base, i64v),
                               builder.mul(idx, ir.Constant(i64v, [2] * L)))
            g = _gather32(builder, addr, 2, fit, zero)
            return builder.uitofp(builder.and_(g, c32(0xFFFF)), f64v)

        a = neighbour(-1)
        c = neighbour(1)
        b = builder.uitofp(bs, f64v)
        f0 = ir.Constant(f64v, [0.0] * L)
        # parabola: (a - c) / (2 (a + c - 2 b)); V: 0.5 (a - c) / (max side - b)
        den1 = builder.fsub(builder.fadd(a, c), builder.fmul(ir.Constant(f64v, [2.0] * L), b))
        off1 = builder.fdiv(builder.fsub(a, c), builder.fmul(ir.Constant(f64v, [2.0] * L), den1))
        den2 = builder.select(builder.fcmp_ordered("<", c, a), builder.fsub(a, b),
                              builder.fsub(c, b))
        off2 = builder.fdiv(builder.fmul(ir.Constant(f64v, [0.5] * L), builder.fsub(a, c)), den2)
        spv = i32_of(builder, sp)
        is1 = builder.icmp_signed("==", spv, ir.Constant(_I32, 1))
        is2 = builder.icmp_signed("==", spv, ir.Constant(_I32, 2))
        o1 = builder.select(builder.fcmp_ordered(">", den1, f0), off1, f0)
        o2 = builder.select(builder.fcmp_ordered(">", den2, f0), off2, f0)
        offv = builder.select(is1, o1, builder.select(is2, o2, f0))
        offv = builder.select(fit, offv, f0)
        dd = builder.sitofp(builder.add(bd, _splat(builder, i32_of(builder, md), _VU)), f64v)
        disp = builder.fptrunc(builder.fadd(dd, offv), f32v)
        disp = builder.select(ok, disp, ir.Constant(f32v, [float("nan")] * L))
        di = builder.trunc(builder.select(ok, bd, c32(0xFFFFFFFF)), i16v)
        start = builder.add(i64_of(builder, off), i64_of(builder, x0))
        _masked_store(builder, di, _elem_ptr(context, builder, sig.args[12], adint, start, i16v),
                      mask)
        _masked_store(builder, disp,
                      _elem_ptr(context, builder, sig.args[13], adsub, start, f32v), mask)
        return context.get_dummy_value()

    return types.none(best, sec, T, lpx, TW, x0, n, W, D, min_disp, uniq, subpix, dint, dsub,
                      off), codegen


@intrinsic
def box_fit16(typingctx, C, r0, r1, r2, dint, off, x0, D, mode, offs):
    """Sub-pixel offsets of the 3 x 3 box fit (``_kernels._box_fit``) of 16 pixels ``x0 ..
    x0 + 15`` of one row, all in ``1 .. W - 3``, into ``offs[x0:x0 + 16]`` (float64, as the
    scalar fit): `C` the flat uint8 costs, ``r0, r1, r2`` the first elements of the rows
    ``y - 1, y, y + 1``, ``dint[off + x]`` the winners (clamped to ``1 .. D - 2``; callers
    drop the pixels outside). For each row and column one 32-bit gather at ``d - 1`` brings
    the three costs ``d - 1, d, d + 1`` (the fourth byte stays inside the row, as ``x + 1 <=
    W - 2``); a parabola (`mode` 1) or a symmetric V (2), clipped to +-0.5."""
    _check_array(C, (types.uint8,))
    _check_array(dint, (types.int16,))
    _check_array(offs, (types.float64,))
    L = CENSUS_LANES
    f64v, i64, i64v, i16v = _VF64, _I64, _VI64, _VI16
    i64_of = _int64

    def codegen(context, builder, sig, args):
        aC, ar0, ar1, ar2, adint, aoff, ax0, aD, amode, aoffs = args

        def c32(v):
            return ir.Constant(_VU, [v] * L)

        start = builder.add(i64_of(builder, aoff), i64_of(builder, ax0))
        d = builder.sext(builder.load(_elem_ptr(context, builder, sig.args[4], adint, start,
                                                i16v), align=1), _VU)
        dmax = builder.sub(_splat(builder, builder.trunc(i64_of(builder, aD), _I32), _VU),
                           c32(2))
        d = builder.select(builder.icmp_signed("<", d, c32(1)), c32(1), d)
        d = builder.select(builder.icmp_signed(">", d, dmax), dmax, d)
        dv = _splat(builder, i64_of(builder, aD), i64v)
        xs = builder.add(_splat(builder, i64_of(builder, ax0), i64v),
                         ir.Constant(i64v, [i - 1 for i in range(L)]))
        col = builder.add(builder.mul(xs, dv),
                          builder.sub(builder.sext(d, i64v), ir.Constant(i64v, [1] * L)))
        base = builder.ptrtoint(context.make_array(sig.args[0])(context, builder, aC).data, i64)
        ones = ir.Constant(_VI1, [1] * L)
        zero = c32(0)
        a = m = c = zero
        for r in (ar0, ar1, ar2):
            rowv = builder.add(_splat(builder, builder.add(base, i64_of(builder, r)), i64v), col)
            for j in range(3):
                addr = builder.add(rowv, builder.mul(dv, ir.Constant(i64v, [j] * L)))
                g = _gather32(builder, addr, 1, ones, zero)
                a = builder.add(a, builder.and_(g, c32(0xFF)))
                m = builder.add(m, builder.and_(builder.lshr(g, c32(8)), c32(0xFF)))
                c = builder.add(c, builder.and_(builder.lshr(g, c32(16)), c32(0xFF)))
        # in float64 as _fit_offset: parabola (a - c) / (2 (a + c - 2 m)),
        # V 0.5 (a - c) / (max side - m)
        f0 = ir.Constant(f64v, [0.0] * L)
        amc = builder.sitofp(builder.sub(a, c), f64v)
        den1 = builder.sitofp(builder.sub(builder.add(a, c), builder.add(m, m)), f64v)
        off1 = builder.fdiv(amc, builder.fmul(ir.Constant(f64v, [2.0] * L), den1))
        side = builder.select(builder.icmp_signed("<", c, a), a, c)
        den2 = builder.sitofp(builder.sub(side, m), f64v)
        off2 = builder.fdiv(builder.fmul(ir.Constant(f64v, [0.5] * L), amc), den2)
        is1 = builder.icmp_signed("==", i64_of(builder, amode), ir.Constant(i64, 1))
        o = builder.select(is1, builder.select(builder.fcmp_ordered(">", den1, f0), off1, f0),
                           builder.select(builder.fcmp_ordered(">", den2, f0), off2, f0))
        half = ir.Constant(f64v, [0.5] * L)
        mhalf = ir.Constant(f64v, [-0.5] * L)
        o = builder.select(builder.fcmp_ordered(">", o, half), half, o)
        o = builder.select(builder.fcmp_ordered("<", o, mhalf), mhalf, o)
        builder.store(o, _elem_ptr(context, builder, sig.args[9], aoffs, i64_of(builder, ax0),
                                   f64v), align=1)
        return context.get_dummy_value()

    return types.none(C, r0, r1, r2, dint, off, x0, D, mode, offs), codegen
