#!/usr/bin/env python3
"""Build single-op .tflite models and their LiteRT reference outputs (the per-op oracle of tflm-runtime).

Usage (from the repository root; exact versions in tools/requirements.txt):
    pip install -r tools/requirements.txt
    python3 tools/gen_op_fixtures.py              # writes tflm-runtime/tests/fixtures/ops/
    python3 tools/gen_op_fixtures.py --check-dropped   # re-try the dropped cases, print LiteRT's errors

For every case CASE this writes into tflm-runtime/tests/fixtures/ops/:
    CASE.tflite            a one-operator model, built here with the flatbuffers object API of
                           ai_edge_litert.schema_py_generated (buffer 0 empty; constants have buffers,
                           activations and variable tensors use buffer 0; data 16-byte aligned)
    CASE.ref.jsonl         one JSON object per line, exactly the format of shared/peer-models:
                           {"inputs":[{"shape","dtype","data"}...],"outputs":[...]}; for stateful
                           ops reset_all_variables() runs before every line
    CASE.seq.ref.jsonl     stateful ops only (SVDF, LSTM): the same inputs, state carried over from line to
                           line (reset once, before the first line)
    MANIFEST.json          every case: op, dtypes, number of inputs, lines, stateful, what it covers
UNIDIRECTIONAL_SEQUENCE_LSTM cases: lstm_keras_* are tf_keras LSTM layers (batch 1, unroll=False)
converted by TensorFlow (tools/keras_lstm.py, run with TFLM_TF_PYTHON, default
/root/venv-models/bin/python = TF 2.21): float32, and int8 full-integer PTQ (8x8->16 with its 5
intermediates); return_sequences=False adds a STRIDED_SLICE after the LSTM. The committed .tflite
files are reused (TensorFlow is needed only with --rebuild-keras or for a new case; conversion is
deterministic, checked). TF 2.21 refuses 16x8 quantization for this op ("Quantization to 16x8-bit
not yet supported for op: 'UNIDIRECTIONAL_SEQUENCE_LSTM'"), and LiteRT's kernel itself only runs
float, hybrid and int8 inputs, so there is no int16x8 LSTM case here: those are built by lstm()
below but run in TensorFlow Lite Micro (tools/gen_tflm_fixtures.py, tflm-runtime/tests/fixtures/
tflm). The other lstm_* cases are built
here (CIFG, peephole, projection, clips, time-major, batch > 1, non-zero state and hidden zero
points), which Keras never produces.

Outputs come from ai-edge-litert's Python interpreter with
experimental_op_resolver_type=OpResolverType.BUILTIN_REF (reference kernels, no delegate).
Everything is deterministic: numpy default_rng seeded from the case name (crc32), so two runs give
byte-identical files (.tflite included).

Input lines per case (integer inputs): 5 lines uniform over the full dtype range, 1 line of values at
the dtype's extremes (min, min+1, max-1, max), 1 line within +-4 of the input zero point, and for
elementwise ops (activations, LOGISTIC/TANH, ADD/SUB/MUL with RELU6) 2 lines within +-3 LSB of
interesting real values (activation bounds such as 0 and 6, saturation regions). Float inputs: 5 uniform lines in the case's range plus, where given, 1 line
of the interesting values +- tiny offsets.

DROPPED CASES (defined below with drop='reason'; `--check-dropped` re-tries them and prints LiteRT's answer).
Errors as printed by ai-edge-litert 2.3.0:
  concat_int8_rescale      CONCATENATION int8 whose inputs have differing scales/zero points (requantizing):
      RuntimeError: tflite/kernels/concatenation.cc:235 t->params.scale != output->params.scale
      (129 != -95477232)Node number 0 (CONCATENATION) failed to prepare.
      (the two numbers are printed with a wrong format and change from run to run). LiteRT's int8
      concatenation requires every input to share the output's scale and zero point.
  svdf_int8_rank2_none     SVDF full-integer without fused activation (NONE):
      RuntimeError: tflite/kernels/svdf.cc:394 params->activation != kTfLiteActRelu (0 != 1)Node
      number 0 (SVDF) failed to invoke.
      LiteRT's integer SVDF requires the RELU flag, yet its reference kernel never applies RELU (the
      result is only clamped to [-128, 127]); the int8 SVDF cases here all carry RELU.
  softmax_int8_int16_zp0   SOFTMAX int8 -> int16 with output scale 1/32768 and zero point 0:
      LiteRT accepts the model without error but ignores the declared output
      quantization and writes values for scale 1/65536, zero point -32768 (probabilities come out
      negative), so the outputs are no oracle. TFLite's converter (and keyword_scrambled.tflite) use
      1/65536, -32768: that is case softmax_int8_int16.
  add_int16_pot / sub_int16_pot with both input scales different from the output scale were
      rejected ("tflite/kernels/add.cc:227 data->input1_shift == 0 || data->input2_shift == 0 was not
      true."); the kept pot cases use input1 scale == output scale, as the converter produces.

Not dropped but worth knowing: dequantize_uint8 has a "uint8" input, the only dtype outside
int8/int16/int32/float32 in these fixtures; dequantize_f16_const has no inputs ("inputs":[], 1 line).
"""
import argparse
import json
import os
import sys
import zlib
from importlib import metadata

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as S
from ai_edge_litert.interpreter import Interpreter, OpResolverType

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
OUT = os.path.join(ROOT, 'tflm-runtime', 'tests', 'fixtures', 'ops')
REF = OpResolverType.BUILTIN_REF

TT = {'float32': S.TensorType.FLOAT32, 'float16': S.TensorType.FLOAT16, 'int8': S.TensorType.INT8,
      'int16': S.TensorType.INT16, 'int32': S.TensorType.INT32, 'int64': S.TensorType.INT64,
      'uint8': S.TensorType.UINT8}
NP = {k: np.dtype(k) for k in TT}
ACT = {'NONE': S.ActivationFunctionType.NONE, 'RELU': S.ActivationFunctionType.RELU,
       'RELU6': S.ActivationFunctionType.RELU6, 'RELU_N1_TO_1': S.ActivationFunctionType.RELU_N1_TO_1}
PAD = {'SAME': S.Padding.SAME, 'VALID': S.Padding.VALID}
# builtin op -> name of its options table (None: op has no options)
OPTIONS = {
    'FULLY_CONNECTED': 'FullyConnectedOptions', 'CONV_2D': 'Conv2DOptions',
    'DEPTHWISE_CONV_2D': 'DepthwiseConv2DOptions', 'AVERAGE_POOL_2D': 'Pool2DOptions',
    'MAX_POOL_2D': 'Pool2DOptions', 'ADD': 'AddOptions', 'SUB': 'SubOptions', 'MUL': 'MulOptions',
    'SOFTMAX': 'SoftmaxOptions', 'LEAKY_RELU': 'LeakyReluOptions', 'HARD_SWISH': 'HardSwishOptions',
    'CONCATENATION': 'ConcatenationOptions', 'MEAN': 'ReducerOptions', 'PAD': 'PadOptions',
    'PADV2': 'PadV2Options', 'STRIDED_SLICE': 'StridedSliceOptions', 'TRANSPOSE': 'TransposeOptions',
    'RESHAPE': 'ReshapeOptions', 'SQUEEZE': 'SqueezeOptions', 'EXPAND_DIMS': 'ExpandDimsOptions',
    'SVDF': 'SVDFOptions', 'QUANTIZE': 'QuantizeOptions', 'DEQUANTIZE': 'DequantizeOptions',
    'UNIDIRECTIONAL_SEQUENCE_LSTM': 'UnidirectionalSequenceLSTMOptions',
    'LOGISTIC': None, 'TANH': None, 'RELU': None, 'RELU6': None,
}


def f32(x):
    return float(np.float32(x))


# --------------------------------------------------------------------------- flatbuffer model builder

class AlignedBufferT(S.BufferT):
    """BufferT whose data vector starts on a 16-byte boundary (as the TFLite converter does)."""

    def Pack(self, builder):
        data = None
        if self.data is not None:
            raw = bytes(self.data)
            builder.StartVector(1, len(raw), 16)
            builder.head = builder.head - len(raw)
            builder.Bytes[builder.head:builder.head + len(raw)] = raw
            builder.vectorNumElems = len(raw)
            data = builder.EndVector()
        S.BufferStart(builder)
        if data is not None:
            S.BufferAddData(builder, data)
        return S.BufferEnd(builder)


class Model:
    def __init__(self):
        self.tensors, self.buffers, self.opcodes, self.ops = [], [AlignedBufferT()], [], []
        self.inputs, self.outputs = [], []

    def tensor(self, shape, dtype, q=None, data=None, name=None, variable=False, is_input=False,
               is_output=False):
        """q: None (float / unquantized), (scale, zp) per tensor, or (scales, zps, axis) per channel."""
        t = S.TensorT()
        t.shape = [int(s) for s in shape]
        t.type = TT[dtype]
        t.name = name or f't{len(self.tensors)}'
        t.isVariable = variable
        if q is not None:
            qp = S.QuantizationParametersT()
            if len(q) == 2:
                qp.scale, qp.zeroPoint, qp.quantizedDimension = [f32(q[0])], [int(q[1])], 0
            else:
                qp.scale = [f32(s) for s in q[0]]
                qp.zeroPoint = [int(z) for z in q[1]]
                qp.quantizedDimension = int(q[2])
            t.quantization = qp
        if data is not None:
            a = np.asarray(data, dtype=NP[dtype])
            assert a.size == int(np.prod(t.shape, dtype=np.int64)), (a.shape, t.shape)
            b = AlignedBufferT()
            b.data = a.astype(a.dtype.newbyteorder('<')).tobytes()
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        i = len(self.tensors) - 1
        if is_input:
            self.inputs.append(i)
        if is_output:
            self.outputs.append(i)
        return i

    def inp(self, shape, dtype, q=None):
        return self.tensor(shape, dtype, q, name=f'input{len(self.inputs)}', is_input=True)

    def out(self, shape, dtype, q=None):
        return self.tensor(shape, dtype, q, name=f'output{len(self.outputs)}', is_output=True)

    def const(self, shape, dtype, data, q=None):
        return self.tensor(shape, dtype, q, data=data, name=f'const{len(self.tensors)}')

    def op(self, name, ins, outs, version=1, intermediates=None, **opts):
        code = getattr(S.BuiltinOperator, name)
        oc = S.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), version
        self.opcodes.append(oc)
        o = S.OperatorT()
        o.opcodeIndex = len(self.opcodes) - 1
        o.inputs, o.outputs = list(ins), list(outs)
        if intermediates:
            o.intermediates = list(intermediates)
        oname = OPTIONS[name]
        if oname is not None:
            ot = getattr(S, oname + 'T')()
            for k, v in opts.items():
                assert hasattr(ot, k), (oname, k)
                setattr(ot, k, v)
            o.builtinOptionsType = getattr(S.BuiltinOptions, oname)
            o.builtinOptions = ot
        else:
            assert not opts
        self.ops.append(o)

    def finish(self):
        sg = S.SubGraphT()
        sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = \
            self.tensors, self.inputs, self.outputs, self.ops, 'main'
        m = S.ModelT()
        m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, self.opcodes, [sg], self.buffers
        m.description = 'tflm-rs tools/gen_op_fixtures.py'
        b = flatbuffers.Builder(4096)
        b.Finish(m.Pack(b), file_identifier=b'TFL3')
        return bytes(b.Output())


# --------------------------------------------------------------------------- quantization helpers

QRANGE = {'int8': (-128, 127), 'int16': (-32768, 32767)}
STD_Q = {'int8': 74.0, 'int16': 18918.0}  # std of a uniform full-range integer
STD_W = 73.0                               # std of uniform int8 weights in [-127, 127]


def out_q(dt, lo, hi):
    """Asymmetric (int8) or symmetric zp-0 (int16) params covering the real range [lo, hi]."""
    if dt == 'int16':
        return (max(abs(lo), abs(hi)) / 32767.0, 0)
    qmin, qmax = QRANGE[dt]
    scale = (hi - lo) / (qmax - qmin)
    zp = int(np.clip(round(qmin - lo / scale), qmin, qmax))
    return (scale, zp)


def out_range(r, std, act):
    """A plausible output range (real units) for an accumulation of std `std`, extending beyond the
    fused activation's bounds so that the clamp itself is exercised."""
    a, b = r.uniform(0.7, 1.3, 2)
    if act == 'RELU':
        return (-0.6 * std * a, 3.5 * std * b)
    if act == 'RELU6':
        return (-1.5 * a, 6.0 + 2.0 * b)
    if act == 'RELU_N1_TO_1':
        return (-1.6 * a, 1.6 * b)
    return (-3.5 * std * a, 3.5 * std * b)


def weights_int8(r, shape):
    return r.integers(-127, 127, size=shape, endpoint=True, dtype=np.int8)


def bias_q(r, n, std_acc, dtype='int32', mean=0.0):
    return np.round(r.normal(mean, 0.5, n) * std_acc).astype(NP[dtype])


def bias_scales(in_scale, w_scales):
    return [float(np.float32(np.float64(f32(in_scale)) * np.float64(f32(w)))) for w in w_scales]


# --------------------------------------------------------------------------- op builders

def fully_connected(m, r, dt, in_shape, units, act='NONE', bias=True, per_channel=False,
                    keep_num_dims=False, in_q=None):
    k = in_shape[-1] if keep_num_dims else int(np.prod(in_shape[1:]))
    batch = int(np.prod(in_shape)) // k
    out_shape = list(in_shape[:-1]) + [units] if keep_num_dims else [batch, units]
    if dt == 'float32':
        x = m.inp(in_shape, 'float32')
        w = m.const([units, k], 'float32', r.uniform(-1, 1, (units, k)))
        b = m.const([units], 'float32', r.uniform(-1, 1, units)) if bias else -1
        y = m.out(out_shape, 'float32')
        m.op('FULLY_CONNECTED', [x, w, b], [y], version=5 if keep_num_dims else 1,
             fusedActivationFunction=ACT[act], keepNumDims=keep_num_dims)
        return
    act_dt = 'int16' if dt == 'int16x8' else 'int8'
    if in_q is None:
        in_q = (f32(r.uniform(0.02, 0.06)), 0 if act_dt == 'int16' else int(r.integers(-20, 20)))
        if act_dt == 'int16':
            in_q = (in_q[0] / 256, 0)
    ws = r.uniform(0.003, 0.02, units if per_channel else 1).astype(np.float32)
    x = m.inp(in_shape, act_dt, in_q)
    wq = (ws, [0] * len(ws), 0) if per_channel else (ws[0], 0)
    w = m.const([units, k], 'int8', weights_int8(r, (units, k)), wq)
    std_acc_q = np.sqrt(k) * STD_Q[act_dt] * STD_W
    if bias:
        bdt = 'int64' if act_dt == 'int16' else 'int32'
        bs = bias_scales(in_q[0], ws)
        bq = (bs, [0] * len(bs), 0) if per_channel else (bs[0], 0)
        b = m.const([units], bdt, bias_q(r, units, std_acc_q, bdt), bq)
    else:
        b = -1
    std = std_acc_q * in_q[0] * float(np.mean(ws))
    y = m.out(out_shape, act_dt, out_q(act_dt, *out_range(r, std, act)))
    version = 7 if act_dt == 'int16' else 6 if not bias else 5 if keep_num_dims else 4
    m.op('FULLY_CONNECTED', [x, w, b] if bias else [x, w, -1], [y], version=version,
         fusedActivationFunction=ACT[act], keepNumDims=keep_num_dims)


def conv_out(n, k, s, d, padding):
    ek = (k - 1) * d + 1
    return -(-n // s) if padding == 'SAME' else (n - ek) // s + 1


def conv2d(m, r, dt, in_shape, cout, kh, kw, stride=(1, 1), dil=(1, 1), padding='SAME', act='NONE',
           in_q=None, out_zp=None, bias_mean=0.0, depthwise=False, dm=1, bias=True):
    n, h, wd, cin = in_shape
    oh = conv_out(h, kh, stride[0], dil[0], padding)
    ow = conv_out(wd, kw, stride[1], dil[1], padding)
    if depthwise:
        cout = cin * dm
        fshape, k = [1, kh, kw, cout], kh * kw
    else:
        fshape, k = [cout, kh, kw, cin], kh * kw * cin
    out_shape = [n, oh, ow, cout]
    opname = 'DEPTHWISE_CONV_2D' if depthwise else 'CONV_2D'
    opts = dict(padding=PAD[padding], strideH=stride[0], strideW=stride[1],
                dilationHFactor=dil[0], dilationWFactor=dil[1], fusedActivationFunction=ACT[act])
    if depthwise:
        opts['depthMultiplier'] = dm
    if dt == 'float32':
        x = m.inp(in_shape, 'float32')
        f = m.const(fshape, 'float32', r.uniform(-1, 1, fshape) / np.sqrt(k))
        b = m.const([cout], 'float32', r.uniform(-0.5, 0.5, cout))
        y = m.out(out_shape, 'float32')
        m.op(opname, [x, f, b], [y], version=2 if depthwise and dil != (1, 1) else 1, **opts)
        return
    act_dt = 'int16' if dt == 'int16x8' else 'int8'
    if in_q is None:
        in_q = (f32(r.uniform(0.02, 0.06)), int(r.integers(-20, 20))) if act_dt == 'int8' else \
            (f32(r.uniform(0.02, 0.06) / 256), 0)
    qdim = 3 if depthwise else 0
    ws = r.uniform(0.003, 0.02, cout).astype(np.float32)
    x = m.inp(in_shape, act_dt, in_q)
    f = m.const(fshape, 'int8', weights_int8(r, fshape), (ws, [0] * cout, qdim))
    std_acc_q = np.sqrt(k) * STD_Q[act_dt] * STD_W
    bdt = 'int64' if act_dt == 'int16' else 'int32'
    bs = bias_scales(in_q[0], ws)
    # Without a bias: two inputs (LiteRT refuses a -1 bias index here).
    b = [m.const([cout], bdt, bias_q(r, cout, std_acc_q, bdt, bias_mean), (bs, [0] * cout, 0))] if bias else []
    std = std_acc_q * in_q[0] * float(np.mean(ws))
    oq = out_q(act_dt, *out_range(r, std, act))
    if out_zp is not None:
        oq = (oq[0], out_zp)
    y = m.out(out_shape, act_dt, oq)
    version = (5 if depthwise else 4) if act_dt == 'int16' else 3
    m.op(opname, [x, f, *b], [y], version=version, **opts)


def pool(m, r, opname, dt, in_shape, k, stride, padding, act='NONE'):
    n, h, w, c = in_shape
    out_shape = [n, conv_out(h, k, stride, 1, padding), conv_out(w, k, stride, 1, padding), c]
    q = None
    if dt == 'int8':
        q = (f32(r.uniform(0.02, 0.06)), int(r.integers(-30, 30)))
    elif dt == 'int16':
        q = (f32(r.uniform(0.02, 0.06) / 256), 0)
    x = m.inp(in_shape, dt, q)
    y = m.out(out_shape, dt, q)
    m.op(opname, [x], [y], version={'float32': 1, 'int8': 2, 'int16': 3}[dt], padding=PAD[padding],
         strideW=stride, strideH=stride, filterWidth=k, filterHeight=k, fusedActivationFunction=ACT[act])


def binary(m, r, opname, dt, s1, s2, act='NONE', qs=None, pot=None):
    so = list(np.broadcast_shapes(tuple(s1), tuple(s2)))
    if dt == 'float32':
        qa = qb = qo = None
    elif qs is not None:
        qa, qb, qo = qs
    else:  # int8
        qa = (f32(r.uniform(0.02, 0.06)), int(r.integers(-20, 20)))
        qb = (f32(r.uniform(0.02, 0.06)), int(r.integers(-20, 20)))
        ra = (np.array([-128, 127]) - qa[1]) * qa[0]
        rb = (np.array([-128, 127]) - qb[1]) * qb[0]
        if opname == 'MUL':
            lo, hi = -0.6 * ra[1] * rb[1], 0.6 * ra[1] * rb[1]
        elif opname == 'ADD':
            lo, hi = 0.8 * (ra[0] + rb[0]), 0.8 * (ra[1] + rb[1])
        else:
            lo, hi = 0.8 * (ra[0] - rb[1]), 0.8 * (ra[1] - rb[0])
        if act == 'RELU6':
            lo, hi = -1.5, 8.0
        qo = out_q('int8', lo, hi)
    a = m.inp(s1, dt, qa)
    b = m.inp(s2, dt, qb)
    y = m.out(so, dt, qo)
    opts = dict(fusedActivationFunction=ACT[act])
    if pot is not None:
        opts['potScaleInt16'] = pot
    version = 1
    if dt == 'int8':
        version = 2
    elif dt == 'int16':
        version = {'ADD': 2 if pot else 3, 'SUB': 2 if pot else 5, 'MUL': 4}[opname]
    m.op(opname, [a, b], [y], version=version, **opts)


def unary(m, opname, dt, shape, in_q=None, out_q_=None, out_dt=None, version=None, **opts):
    out_dt = out_dt or dt
    x = m.inp(shape, dt, in_q)
    y = m.out(shape, out_dt, out_q_)
    if version is None:
        version = {'float32': 1, 'int8': 2, 'int16': 3}.get(dt, 1)
    m.op(opname, [x], [y], version=version, **opts)


def svdf(m, r, dt, batch, input_size, units, rank, memory, act='NONE', bias=True):
    nf = units * rank
    if dt == 'float32':
        x = m.inp([batch, input_size], 'float32')
        wf = m.const([nf, input_size], 'float32', r.uniform(-1, 1, (nf, input_size)) / np.sqrt(input_size))
        wt = m.const([nf, memory], 'float32', r.uniform(-1, 1, (nf, memory)))
        b = m.const([units], 'float32', r.uniform(-0.5, 0.5, units)) if bias else -1
        st = m.tensor([batch, memory * nf], 'float32', name='activation_state', variable=True)
        y = m.out([batch, units], 'float32')
        m.op('SVDF', [x, wf, wt, b, st], [y], version=1, rank=rank, fusedActivationFunction=ACT[act])
        return
    # Full-integer SVDF as the TFLite converter quantizes it (see keyword_scrambled.tflite):
    # int8 input/weights_feature/output, int16 weights_time and state (zp 0), int32 bias with scale
    # state_scale * weights_time_scale.
    in_q = (f32(r.uniform(0.02, 0.06)), int(r.integers(-20, 20)))
    wf_s = f32(r.uniform(0.005, 0.02))
    std_feat = np.sqrt(input_size) * STD_Q['int8'] * STD_W * in_q[0] * wf_s
    st_s = f32(4 * std_feat / 32767)          # state holds the feature activations (int16)
    wt_s = f32(1.0 / 32767)                   # weights_time in [-1, 1]
    std_time = np.sqrt(memory) * std_feat * 0.577
    b_s = bias_scales(st_s, [wt_s])[0]
    x = m.inp([batch, input_size], 'int8', in_q)
    wf = m.const([nf, input_size], 'int8', weights_int8(r, (nf, input_size)), (wf_s, 0))
    wt = m.const([nf, memory], 'int16', r.integers(-32767, 32767, (nf, memory), endpoint=True), (wt_s, 0))
    b = m.const([units], 'int32', bias_q(r, units, std_time / b_s), (b_s, 0)) if bias else -1
    st = m.tensor([batch, memory * nf], 'int16', (st_s, 0), name='activation_state', variable=True)
    # LiteRT's integer SVDF insists on fused RELU (svdf.cc) but never applies it: the result is only
    # clamped to the int8 range. So the output range is symmetric.
    y = m.out([batch, units], 'int8', out_q('int8', *out_range(r, std_time * np.sqrt(rank), 'NONE')))
    m.op('SVDF', [x, wf, wt, b, st], [y], version=3, rank=rank, fusedActivationFunction=ACT[act])


# --------------------------------------------------------------------------- case table

CASES, DROPPED = [], []


def case(name, op, desc, build, near=None, frange=(-4.0, 4.0), stateful=False, lines=None, drop=None):
    """Register a case; drop='reason' keeps it out of the fixtures (see DROPPED CASES above)."""
    (DROPPED if drop else CASES).append(dict(name=name, op=op, desc=desc, build=build, near=near,
                                             frange=frange, stateful=stateful, lines=lines, drop=drop))


# FULLY_CONNECTED
case('fc_int8_relu', 'FULLY_CONNECTED', 'int8 per-tensor weights, int32 bias, fused RELU (clamp at output zp)',
     lambda m, r: fully_connected(m, r, 'int8', [1, 16], 8, act='RELU'))
case('fc_int8_nobias', 'FULLY_CONNECTED', 'int8 without bias (input index -1)',
     lambda m, r: fully_connected(m, r, 'int8', [1, 12], 6, bias=False))
case('fc_int8_4d_input', 'FULLY_CONNECTED', 'int8 4-D input [1,2,2,3] flattened to 12 features',
     lambda m, r: fully_connected(m, r, 'int8', [1, 2, 2, 3], 5))
case('fc_int8_batch2', 'FULLY_CONNECTED', 'int8 batch of 2 rows',
     lambda m, r: fully_connected(m, r, 'int8', [2, 10], 7))
case('fc_int8_per_channel', 'FULLY_CONNECTED', 'int8 per-channel weight scales (quantized_dimension 0)',
     lambda m, r: fully_connected(m, r, 'int8', [1, 12], 6, per_channel=True))
case('fc_int8_keep_num_dims', 'FULLY_CONNECTED', 'int8 3-D input [1,3,8] with keep_num_dims=true -> [1,3,4]',
     lambda m, r: fully_connected(m, r, 'int8', [1, 3, 8], 4, keep_num_dims=True))
case('fc_float32', 'FULLY_CONNECTED', 'float32, batch 2, bias, RELU6',
     lambda m, r: fully_connected(m, r, 'float32', [2, 10], 6, act='RELU6'))
case('fc_int16x8', 'FULLY_CONNECTED', 'int16 activations (zp 0), int8 weights, int64 bias',
     lambda m, r: fully_connected(m, r, 'int16x8', [1, 16], 8))
case('fc_int16x8_relu_batch2', 'FULLY_CONNECTED', 'int16x8, batch 2, fused RELU',
     lambda m, r: fully_connected(m, r, 'int16x8', [2, 12], 5, act='RELU'))

# CONV_2D
case('conv_int8_same_s1', 'CONV_2D', 'int8 per-channel 3x3 SAME stride 1 (zero-point padding at borders)',
     lambda m, r: conv2d(m, r, 'int8', [1, 5, 5, 3], 4, 3, 3))
case('conv_int8_valid_s2', 'CONV_2D', 'int8 per-channel 3x3 VALID stride 2, batch 2',
     lambda m, r: conv2d(m, r, 'int8', [2, 7, 7, 2], 3, 3, 3, stride=(2, 2), padding='VALID'))
case('conv_int8_dilation2', 'CONV_2D', 'int8 per-channel 3x3 dilation 2 SAME',
     lambda m, r: conv2d(m, r, 'int8', [1, 6, 6, 2], 3, 3, 3, dil=(2, 2)))
case('conv_int8_relu6_s2_same', 'CONV_2D', 'int8 RELU6, stride 2 SAME on even input (asymmetric padding)',
     lambda m, r: conv2d(m, r, 'int8', [1, 6, 6, 3], 4, 3, 3, stride=(2, 2), act='RELU6'))
case('conv_int8_zp_edges', 'CONV_2D', 'int8 input zp -128 and output zp 127 (extreme zero points), 1x1 filter',
     lambda m, r: conv2d(m, r, 'int8', [1, 4, 4, 4], 3, 1, 1, in_q=(0.02, -128), out_zp=127, bias_mean=-1.0))
case('conv_int8_nonsquare', 'CONV_2D', 'int8 2x3 filter, strides (1,2), dilation (2,1), SAME, RELU',
     lambda m, r: conv2d(m, r, 'int8', [1, 6, 7, 2], 3, 2, 3, stride=(1, 2), dil=(2, 1), act='RELU'))
case('conv_float32_same', 'CONV_2D', 'float32 3x3 SAME stride 1, bias',
     lambda m, r: conv2d(m, r, 'float32', [1, 4, 4, 2], 2, 3, 3))
case('conv_float32_valid_s2_relu', 'CONV_2D', 'float32 3x3 VALID stride 2, RELU',
     lambda m, r: conv2d(m, r, 'float32', [1, 5, 5, 2], 3, 3, 3, stride=(2, 2), padding='VALID', act='RELU'))
case('conv_int16x8', 'CONV_2D', 'int16 activations (zp 0), int8 per-channel weights, int64 bias, SAME',
     lambda m, r: conv2d(m, r, 'int16x8', [1, 5, 5, 2], 3, 3, 3))
case('conv_int16x8_relu_s2', 'CONV_2D', 'int16x8 VALID stride 2 with RELU',
     lambda m, r: conv2d(m, r, 'int16x8', [1, 6, 6, 2], 2, 3, 3, stride=(2, 2), padding='VALID', act='RELU'))

# DEPTHWISE_CONV_2D
case('dw_int8_m1_same', 'DEPTHWISE_CONV_2D', 'int8 per-channel depth_multiplier 1, 3x3 SAME stride 1',
     lambda m, r: conv2d(m, r, 'int8', [1, 5, 5, 4], 0, 3, 3, depthwise=True))
case('dw_int8_m1_nobias', 'DEPTHWISE_CONV_2D', 'int8 depth_multiplier 1 without bias (input index -1), '
     '3x3 SAME stride 1 (refused by DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8)',
     lambda m, r: conv2d(m, r, 'int8', [1, 5, 5, 8], 0, 3, 3, depthwise=True, bias=False))
case('dw_int8_m2_valid_s2', 'DEPTHWISE_CONV_2D', 'int8 depth_multiplier 2, 3x3 VALID stride 2',
     lambda m, r: conv2d(m, r, 'int8', [1, 7, 7, 2], 0, 3, 3, stride=(2, 2), padding='VALID', depthwise=True, dm=2))
case('dw_int8_dil2_relu', 'DEPTHWISE_CONV_2D', 'int8 dilation 2 SAME with RELU',
     lambda m, r: conv2d(m, r, 'int8', [1, 6, 6, 3], 0, 3, 3, dil=(2, 2), act='RELU', depthwise=True))
case('dw_int8_m2_s2_same_relu6', 'DEPTHWISE_CONV_2D', 'int8 depth_multiplier 2, stride 2 SAME, RELU6',
     lambda m, r: conv2d(m, r, 'int8', [1, 6, 6, 2], 0, 3, 3, stride=(2, 2), act='RELU6', depthwise=True, dm=2))
case('dw_int8_m4_nonsquare', 'DEPTHWISE_CONV_2D', 'int8 depth_multiplier 4 (1 input channel), 4x2 filter SAME',
     lambda m, r: conv2d(m, r, 'int8', [1, 6, 5, 1], 0, 4, 2, depthwise=True, dm=4))
case('dw_int8_m12_9x9_one_channel', 'DEPTHWISE_CONV_2D',
     'int8 depth_multiplier 12 (1 input channel), 9x9 filter SAME: beyond the one-channel kernel\'s tables',
     lambda m, r: conv2d(m, r, 'int8', [1, 10, 9, 1], 0, 9, 9, depthwise=True, dm=12))
case('dw_float32_m2_same', 'DEPTHWISE_CONV_2D', 'float32 depth_multiplier 2, 3x3 SAME',
     lambda m, r: conv2d(m, r, 'float32', [1, 4, 3, 2], 0, 3, 3, depthwise=True, dm=2))
case('dw_float32_dil2_valid', 'DEPTHWISE_CONV_2D', 'float32 dilation 2 VALID, RELU6',
     lambda m, r: conv2d(m, r, 'float32', [1, 6, 5, 2], 0, 3, 3, dil=(2, 2), padding='VALID', act='RELU6',
                         depthwise=True))
case('dw_int16x8', 'DEPTHWISE_CONV_2D', 'int16 activations, int8 per-channel weights, int64 bias, SAME',
     lambda m, r: conv2d(m, r, 'int16x8', [1, 5, 5, 3], 0, 3, 3, depthwise=True))


# Hybrid (dynamic range): float input and output, int8 symmetric weights (FULLY_CONNECTED
# per-tensor, convolutions per channel), float bias. The input is quantized on the fly per batch.
def hybrid(m, r, op, in_shape, units=None, kh=3, kw=3, stride=(1, 1), dil=(1, 1), padding='SAME',
           act='NONE', asym=True, bias=True, dm=1, equal_scales=False):
    x = m.inp(in_shape, 'float32')
    if op == 'FULLY_CONNECTED':
        k = int(np.prod(in_shape[1:]))
        w = m.const([units, k], 'int8', weights_int8(r, (units, k)), (f32(r.uniform(0.003, 0.02)), 0))
        b = m.const([units], 'float32', r.uniform(-1, 1, units)) if bias else -1
        y = m.out([in_shape[0], units], 'float32')
        m.op('FULLY_CONNECTED', [x, w, b], [y], version=12 if asym else 3,
             fusedActivationFunction=ACT[act], asymmetricQuantizeInputs=asym)
        return
    n, h, wd, cin = in_shape
    depthwise = op == 'DEPTHWISE_CONV_2D'
    cout = cin * dm if depthwise else units
    fshape = [1, kh, kw, cout] if depthwise else [cout, kh, kw, cin]
    ws = r.uniform(0.003, 0.02, cout).astype(np.float32)
    if equal_scales:
        ws[:] = ws[0]
    f = m.const(fshape, 'int8', weights_int8(r, fshape), (ws, [0] * cout, 3 if depthwise else 0))
    b = m.const([cout], 'float32', r.uniform(-0.5, 0.5, cout)) if bias else -1
    oh = conv_out(h, kh, stride[0], dil[0], padding)
    ow = conv_out(wd, kw, stride[1], dil[1], padding)
    y = m.out([n, oh, ow, cout], 'float32')
    opts = dict(padding=PAD[padding], strideH=stride[0], strideW=stride[1], dilationHFactor=dil[0],
                dilationWFactor=dil[1], fusedActivationFunction=ACT[act])
    if depthwise:
        opts['depthMultiplier'] = dm
    m.op(op, [x, f, b], [y], version=6 if depthwise else 5, **opts)


case('fc_hybrid_asym', 'FULLY_CONNECTED', 'hybrid: float input, int8 per-tensor weights, float bias, '
     'asymmetric_quantize_inputs (as TensorFlow converts dynamic range)',
     lambda m, r: hybrid(m, r, 'FULLY_CONNECTED', [1, 24], 7), near=[0.0])
case('fc_hybrid_sym_relu', 'FULLY_CONNECTED', 'hybrid, symmetric input quantization, RELU',
     lambda m, r: hybrid(m, r, 'FULLY_CONNECTED', [1, 20], 6, act='RELU', asym=False))
case('fc_hybrid_asym_batch3_nobias', 'FULLY_CONNECTED', 'hybrid asymmetric, 3 rows quantized '
     'separately, no bias, RELU6', lambda m, r: hybrid(m, r, 'FULLY_CONNECTED', [3, 9], 5, act='RELU6',
                                                      bias=False), frange=(-1.0, 7.0))
case('fc_hybrid_positive', 'FULLY_CONNECTED', 'hybrid asymmetric on non-negative inputs (zero point -128)',
     lambda m, r: hybrid(m, r, 'FULLY_CONNECTED', [1, 16], 4), frange=(0.0, 3.0))
case('conv_hybrid_same', 'CONV_2D', 'hybrid: float input, int8 per-channel weights, 3x3 SAME '
     '(skipped border taps), asymmetric per-batch input quantization',
     lambda m, r: hybrid(m, r, 'CONV_2D', [1, 5, 5, 3], 4))
case('conv_hybrid_s2_dil_relu_batch2', 'CONV_2D', 'hybrid, batch 2 (one quantization per image), '
     'stride 2, dilation 2, VALID, RELU',
     lambda m, r: hybrid(m, r, 'CONV_2D', [2, 9, 9, 2], 3, stride=(2, 2), dil=(2, 2), padding='VALID',
                         act='RELU'))
case('conv_hybrid_equal_scales', 'CONV_2D', 'hybrid whose channel scales are all equal: LiteRT takes '
     'its optimized per-tensor hybrid path (the runtime refuses this model)',
     lambda m, r: hybrid(m, r, 'CONV_2D', [1, 4, 4, 2], 3, equal_scales=True),
     drop='not an oracle for the reference path: LiteRT runs optimized_ops::HybridConv here')
case('dw_hybrid_m1_same', 'DEPTHWISE_CONV_2D', 'hybrid: float input, int8 per-channel weights, '
     'depth multiplier 1, 3x3 SAME',
     lambda m, r: hybrid(m, r, 'DEPTHWISE_CONV_2D', [1, 5, 5, 4], kh=3, kw=3))
case('dw_hybrid_m2_s2_relu6', 'DEPTHWISE_CONV_2D', 'hybrid, depth multiplier 2, stride 2 SAME, RELU6, '
     'batch 2', lambda m, r: hybrid(m, r, 'DEPTHWISE_CONV_2D', [2, 6, 6, 2], dm=2, stride=(2, 2),
                                    act='RELU6'))

# AVERAGE_POOL_2D / MAX_POOL_2D
for _op, _p in (('AVERAGE_POOL_2D', 'avgpool'), ('MAX_POOL_2D', 'maxpool')):
    case(f'{_p}_int8_2x2_s2_valid', _op, 'int8 2x2 stride 2 VALID (odd input: last row/col dropped)',
         lambda m, r, _op=_op: pool(m, r, _op, 'int8', [1, 5, 5, 3], 2, 2, 'VALID'))
    case(f'{_p}_int8_3x3_s1_same_relu', _op, 'int8 3x3 stride 1 SAME (partial windows at edges) with RELU',
         lambda m, r, _op=_op: pool(m, r, _op, 'int8', [1, 4, 5, 2], 3, 1, 'SAME', 'RELU'))
    case(f'{_p}_int8_3x3_s2_same_relu6', _op, 'int8 3x3 stride 2 SAME, RELU6, batch 2',
         lambda m, r, _op=_op: pool(m, r, _op, 'int8', [2, 6, 6, 2], 3, 2, 'SAME', 'RELU6'))
    case(f'{_p}_float32_3x3_s1_same', _op, 'float32 3x3 stride 1 SAME (edge counts)',
         lambda m, r, _op=_op: pool(m, r, _op, 'float32', [1, 4, 4, 2], 3, 1, 'SAME'))
    case(f'{_p}_float32_2x2_s2_valid_relu', _op, 'float32 2x2 stride 2 VALID with RELU (odd height)',
         lambda m, r, _op=_op: pool(m, r, _op, 'float32', [1, 5, 4, 2], 2, 2, 'VALID', 'RELU'))
    case(f'{_p}_int16_3x3_s1_same', _op, 'int16 (zp 0) 3x3 stride 1 SAME',
         lambda m, r, _op=_op: pool(m, r, _op, 'int16', [1, 4, 5, 2], 3, 1, 'SAME'))
    case(f'{_p}_int16_2x2_s2_valid_relu', _op, 'int16 2x2 stride 2 VALID with RELU',
         lambda m, r, _op=_op: pool(m, r, _op, 'int16', [1, 6, 6, 2], 2, 2, 'VALID', 'RELU'))

case('avgpool_int8_256x256_same_wide', 'AVERAGE_POOL_2D', 'int8 256x256 stride 1 SAME over a 3x5 image '
     '(2^16-element windows: beyond AVERAGE_POOL_2D_INT8\'s i32 sums, every window clipped to the image)',
     lambda m, r: pool(m, r, 'AVERAGE_POOL_2D', 'int8', [1, 3, 5, 6], 256, 1, 'SAME'))

# ADD / SUB / MUL
I16_BIN = {  # (input1, input2, output) int16 params, zp 0
    'ADD': ((1 / 3000, 0), (1 / 5000, 0), (1 / 2500, 0)),
    'SUB': ((1 / 3000, 0), (1 / 5000, 0), (1 / 2500, 0)),
    'MUL': ((1 / 3000, 0), (1 / 5000, 0), (1 / 800, 0)),
}
for _op in ('ADD', 'SUB', 'MUL'):
    _p = _op.lower()
    case(f'{_p}_int8_same_shape', _op, 'int8 same shapes [1,3,4,3], different input scales and zero points',
         lambda m, r, _op=_op: binary(m, r, _op, 'int8', [1, 3, 4, 3], [1, 3, 4, 3]))
    case(f'{_p}_int8_bcast_4d', _op, 'int8 broadcast [1,2,3,1] with [1,1,3,4] -> [1,2,3,4]',
         lambda m, r, _op=_op: binary(m, r, _op, 'int8', [1, 2, 3, 1], [1, 1, 3, 4]))
    case(f'{_p}_int8_bcast_scalar', _op, 'int8 [1,2,3,4] with a one-element [1] second input',
         lambda m, r, _op=_op: binary(m, r, _op, 'int8', [1, 2, 3, 4], [1]))
    case(f'{_p}_int8_bcast_relu6', _op, 'int8 [1,2,3,4] with [1,1,1,4], fused RELU6 (clamps at 0 and 6)',
         lambda m, r, _op=_op: binary(m, r, _op, 'int8', [1, 2, 3, 4], [1, 1, 1, 4], act='RELU6'),
         near=[0.0, 3.0, 6.0])
    case(f'{_p}_float32_bcast', _op, 'float32 broadcast [2,1,3] with [1,4,1], RELU',
         lambda m, r, _op=_op: binary(m, r, _op, 'float32', [2, 1, 3], [1, 4, 1], act='RELU'))
    _pot = None if _op == 'MUL' else False
    case(f'{_p}_int16' + ('' if _op == 'MUL' else '_general'), _op,
         'int16 zp 0' + ('' if _op == 'MUL' else ', pot_scale_int16=false (general scales)'),
         lambda m, r, _op=_op, _pot=_pot: binary(m, r, _op, 'int16', [1, 3, 4, 2], [1, 3, 4, 2],
                                                 qs=I16_BIN[_op], pot=_pot))
    case(f'{_p}_int16_bcast', _op, 'int16 broadcast [1,2,3,1] with [1,1,3,4]',
         lambda m, r, _op=_op, _pot=_pot: binary(m, r, _op, 'int16', [1, 2, 3, 1], [1, 1, 3, 4],
                                                 qs=I16_BIN[_op], pot=_pot))
for _op in ('ADD', 'SUB'):
    case(f'{_op.lower()}_int16_pot', _op, 'int16 pot_scale_int16=true, power-of-two scales 2^-12 + 2^-14 -> 2^-12',
         lambda m, r, _op=_op: binary(m, r, _op, 'int16', [1, 3, 4, 2], [1, 3, 4, 2],
                                      qs=((2 ** -12, 0), (2 ** -14, 0), (2 ** -12, 0)), pot=True))

# SOFTMAX
case('softmax_int8_beta1', 'SOFTMAX', 'int8 -> int8 (scale 1/256, zp -128), beta 1',
     lambda m, r: unary(m, 'SOFTMAX', 'int8', [1, 10], (0.05, 5), (1 / 256, -128), beta=1.0))
case('softmax_int8_beta05_batch', 'SOFTMAX', 'int8 -> int8, beta 0.5, [2,3,6] (softmax over last axis)',
     lambda m, r: unary(m, 'SOFTMAX', 'int8', [2, 3, 6], (0.07, -12), (1 / 256, -128), beta=0.5))
case('softmax_int8_int16', 'SOFTMAX', 'int8 -> int16 (scale 1/65536, zp -32768, as keyword_scrambled)',
     lambda m, r: unary(m, 'SOFTMAX', 'int8', [1, 8], (0.08, 3), (1 / 65536, -32768), out_dt='int16', beta=1.0))
case('softmax_int8_int16_zp0', 'SOFTMAX', 'int8 -> int16 with scale 1/32768, zp 0',
     lambda m, r: unary(m, 'SOFTMAX', 'int8', [1, 8], (0.08, 3), (1 / 32768, 0), out_dt='int16', beta=1.0),
     drop='LiteRT accepts it but ignores the declared output quantization (writes values for scale 1/65536, '
          'zp -32768: identical to softmax_int8_int16), so the outputs are no oracle')
case('softmax_int16', 'SOFTMAX', 'int16 -> int16 (in zp 0, out scale 1/32768 zp 0), beta 1',
     lambda m, r: unary(m, 'SOFTMAX', 'int16', [2, 7], (10 / 32768, 0), (1 / 32768, 0), beta=1.0))
case('softmax_float32', 'SOFTMAX', 'float32 [1,2,2,5], beta 1',
     lambda m, r: unary(m, 'SOFTMAX', 'float32', [1, 2, 2, 5], beta=1.0), frange=(-8.0, 8.0))
case('softmax_float32_beta05', 'SOFTMAX', 'float32 [2,6], beta 0.5',
     lambda m, r: unary(m, 'SOFTMAX', 'float32', [2, 6], beta=0.5), frange=(-8.0, 8.0))

# LOGISTIC / TANH
case('logistic_int8', 'LOGISTIC', 'int8 (out scale 1/256, zp -128), input range about +-8',
     lambda m, r: unary(m, 'LOGISTIC', 'int8', [2, 16], (0.05, -6), (1 / 256, -128)), near=[-6.0, 0.0, 6.0])
case('logistic_int8_narrow', 'LOGISTIC', 'int8, small input scale 0.01 (near-linear region)',
     lambda m, r: unary(m, 'LOGISTIC', 'int8', [1, 24], (0.01, 10), (1 / 256, -128)))
case('tanh_int8', 'TANH', 'int8 (out scale 1/128, zp 0), input range about +-4',
     lambda m, r: unary(m, 'TANH', 'int8', [2, 16], (0.03, 4), (1 / 128, 0)), near=[-4.0, 0.0, 4.0])
case('tanh_int8_narrow', 'TANH', 'int8, small input scale 0.005',
     lambda m, r: unary(m, 'TANH', 'int8', [1, 24], (0.005, -20), (1 / 128, 0)))
for _op in ('LOGISTIC', 'TANH'):
    for _tag, _s in (('pot12', 2 ** -12), ('pot11', 2 ** -11), ('s3', 3 / 32768), ('s10', 10 / 32768)):
        case(f'{_op.lower()}_int16_{_tag}', _op,
             f'int16 zp 0, input scale {_s:.6g} ({"2^-12 / 2^-11: shift path" if _tag.startswith("pot") else "other: input multiplier path"}), '
             'out scale 1/32768 zp 0',
             lambda m, r, _op=_op, _s=_s: unary(m, _op, 'int16', [2, 16], (_s, 0), (1 / 32768, 0)),
             near=[0.0, 1.0, -3.0])
case('logistic_float32', 'LOGISTIC', 'float32', lambda m, r: unary(m, 'LOGISTIC', 'float32', [2, 12]),
     frange=(-10.0, 10.0))
case('tanh_float32', 'TANH', 'float32', lambda m, r: unary(m, 'TANH', 'float32', [2, 12]), frange=(-5.0, 5.0))

# RELU / RELU6 / LEAKY_RELU / HARD_SWISH
case('relu_int8', 'RELU', 'int8, input scale 0.05 zp 10 -> output scale 0.025 zp -128',
     lambda m, r: unary(m, 'RELU', 'int8', [2, 20], (0.05, 10), (0.025, -128)), near=[0.0, 3.0])
case('relu_int8_out_zp', 'RELU', 'int8, output zp -100 (clamp at a zero point other than qmin)',
     lambda m, r: unary(m, 'RELU', 'int8', [1, 24], (0.04, -5), (0.03, -100)), near=[0.0])
case('relu_float32', 'RELU', 'float32', lambda m, r: unary(m, 'RELU', 'float32', [2, 12]), near=[0.0])
case('relu_int16', 'RELU', 'int16 zp 0, input scale != output scale',
     lambda m, r: unary(m, 'RELU', 'int16', [2, 16], (1 / 4096, 0), (1 / 5000, 0)), near=[0.0])
case('relu6_int8', 'RELU6', 'int8, input scale 0.06 zp 0 -> output scale 8/255 zp -128 (6 below qmax)',
     lambda m, r: unary(m, 'RELU6', 'int8', [2, 20], (0.06, 0), (8 / 255, -128)), near=[0.0, 6.0])
case('relu6_int8_tight', 'RELU6', 'int8, output range exactly [0,6] (scale 6/255, zp -128)',
     lambda m, r: unary(m, 'RELU6', 'int8', [1, 24], (0.05, -10), (6 / 255, -128)), near=[0.0, 6.0])
case('relu6_float32', 'RELU6', 'float32', lambda m, r: unary(m, 'RELU6', 'float32', [2, 12]),
     frange=(-8.0, 8.0), near=[0.0, 6.0])
case('relu6_int16', 'RELU6', 'int16 zp 0', lambda m, r: unary(m, 'RELU6', 'int16', [2, 16], (8 / 32768, 0),
                                                               (7 / 32768, 0)), near=[0.0, 6.0])
case('leaky_relu_int8', 'LEAKY_RELU', 'int8 alpha 0.2, input scale != output scale',
     lambda m, r: unary(m, 'LEAKY_RELU', 'int8', [2, 20], (0.05, 3), (0.03, -85), alpha=0.2), near=[0.0])
case('leaky_relu_float32', 'LEAKY_RELU', 'float32 alpha 0.2',
     lambda m, r: unary(m, 'LEAKY_RELU', 'float32', [2, 12], alpha=0.2), near=[0.0])
case('leaky_relu_int16', 'LEAKY_RELU', 'int16 zp 0 alpha 0.2',
     lambda m, r: unary(m, 'LEAKY_RELU', 'int16', [2, 16], (1 / 4096, 0), (1 / 5000, 0), version=2, alpha=0.2),
     near=[0.0])
case('hard_swish_int8', 'HARD_SWISH', 'int8, input scale 0.04 zp 5 -> output scale 0.027 zp -114',
     lambda m, r: unary(m, 'HARD_SWISH', 'int8', [2, 20], (0.04, 5), (0.027, -114), version=1), near=[-3.0, 0.0, 3.0])
case('hard_swish_int8_wide', 'HARD_SWISH', 'int8, wide input range (scale 0.1), output scale 0.05 zp -120',
     lambda m, r: unary(m, 'HARD_SWISH', 'int8', [1, 24], (0.1, -3), (0.05, -120), version=1), near=[-3.0, 3.0])
case('hard_swish_float32', 'HARD_SWISH', 'float32', lambda m, r: unary(m, 'HARD_SWISH', 'float32', [2, 12]),
     frange=(-6.0, 6.0), near=[-3.0, 0.0, 3.0])

# QUANTIZE
case('quantize_f32_int8', 'QUANTIZE', 'float32 -> int8 (scale 0.05, zp -3), inputs beyond the range saturate',
     lambda m, r: unary(m, 'QUANTIZE', 'float32', [2, 16], None, (0.05, -3), out_dt='int8'), frange=(-8.0, 8.0))
case('quantize_f32_int8_ties', 'QUANTIZE', 'float32 -> int8, scale 1/16: exact .5 ties (round half away from 0)',
     lambda m, r: unary(m, 'QUANTIZE', 'float32', [1, 32], None, (0.0625, 1), out_dt='int8'),
     frange=(-9.0, 9.0), near='ties:0.0625')
case('quantize_f32_int16', 'QUANTIZE', 'float32 -> int16 (scale 1/1024, zp 0)',
     lambda m, r: unary(m, 'QUANTIZE', 'float32', [2, 16], None, (1 / 1024, 0), out_dt='int16', version=2),
     frange=(-40.0, 40.0))
case('quantize_int8_int8', 'QUANTIZE', 'int8 -> int8 requantization (0.05, 3) -> (0.04, -10)',
     lambda m, r: unary(m, 'QUANTIZE', 'int8', [2, 16], (0.05, 3), (0.04, -10), out_dt='int8', version=1))
case('quantize_int16_int8', 'QUANTIZE', 'int16 -> int8 (1/1024, 0) -> (0.2, 5) (as keyword_scrambled input)',
     lambda m, r: unary(m, 'QUANTIZE', 'int16', [2, 16], (1 / 1024, 0), (0.2, 5), out_dt='int8', version=1))
case('quantize_int16_int32', 'QUANTIZE', 'int16 -> int32 with keyword_scrambled params (1/65535, -32768) -> (1/32767, 0)',
     lambda m, r: unary(m, 'QUANTIZE', 'int16', [2, 8], (1.5259021893143654e-05, -32768),
                        (3.0518509447574615e-05, 0), out_dt='int32', version=1))
case('quantize_int8_int16', 'QUANTIZE', 'int8 -> int16 (0.05, 3) -> (1/2048, 0)',
     lambda m, r: unary(m, 'QUANTIZE', 'int8', [2, 16], (0.05, 3), (1 / 2048, 0), out_dt='int16', version=2))
case('quantize_int16_int16', 'QUANTIZE', 'int16 -> int16 requantization (1/1024, 0) -> (1/1500, 0)',
     lambda m, r: unary(m, 'QUANTIZE', 'int16', [2, 16], (1 / 1024, 0), (1 / 1500, 0), out_dt='int16', version=2))


# DEQUANTIZE
def dequantize_f16(m, r):
    c = m.const([2, 8], 'float16', r.uniform(-100, 100, (2, 8)).astype(np.float16))
    y = m.out([2, 8], 'float32')
    m.op('DEQUANTIZE', [c], [y], version=3)


case('dequantize_int8', 'DEQUANTIZE', 'int8 (0.05, -7) -> float32',
     lambda m, r: unary(m, 'DEQUANTIZE', 'int8', [2, 16], (0.05, -7), None, out_dt='float32', version=2))
case('dequantize_int16', 'DEQUANTIZE', 'int16 (1/3000, 0) -> float32',
     lambda m, r: unary(m, 'DEQUANTIZE', 'int16', [2, 16], (1 / 3000, 0), None, out_dt='float32', version=3))
case('dequantize_f16_const', 'DEQUANTIZE', 'constant float16 tensor -> float32; model has no inputs (1 line)',
     dequantize_f16)
case('dequantize_uint8', 'DEQUANTIZE', 'uint8 (0.02, 128) -> float32 (input dtype "uint8", the only one outside int8/int16/int32/float32)',
     lambda m, r: unary(m, 'DEQUANTIZE', 'uint8', [2, 16], (0.02, 128), None, out_dt='float32', version=1))


# CONCATENATION
def concat(m, r, dt, shapes, axis, qs=None, act='NONE'):
    rank = len(shapes[0])
    ax = axis % rank
    so = list(shapes[0])
    so[ax] = sum(s[ax] for s in shapes)
    qs = qs or [None] * (len(shapes) + 1)
    xs = [m.inp(s, dt, q) for s, q in zip(shapes, qs)]
    y = m.out(so, dt, qs[-1])
    m.op('CONCATENATION', xs, [y], version={'float32': 1, 'int8': 2, 'int16': 3}[dt], axis=axis,
         fusedActivationFunction=ACT[act])


_cq = (0.05, -4)
case('concat_int8_axis3', 'CONCATENATION', 'int8 along channels: [1,2,3,2] + [1,2,3,4]',
     lambda m, r: concat(m, r, 'int8', [[1, 2, 3, 2], [1, 2, 3, 4]], 3, [_cq] * 3))
case('concat_int8_axis1_3in', 'CONCATENATION', 'int8 three inputs along axis 1',
     lambda m, r: concat(m, r, 'int8', [[1, 1, 3, 2], [1, 2, 3, 2], [1, 3, 3, 2]], 1, [_cq] * 4))
case('concat_int8_negaxis', 'CONCATENATION', 'int8 axis -1 on 2-D [2,3] + [2,5]',
     lambda m, r: concat(m, r, 'int8', [[2, 3], [2, 5]], -1, [_cq] * 3))
case('concat_int8_rescale', 'CONCATENATION', 'int8 inputs with differing scales (requantization)',
     lambda m, r: concat(m, r, 'int8', [[1, 2, 2, 3], [1, 2, 2, 2]], 3, [(0.05, -4), (0.03, 10), (0.06, 0)]),
     drop='tflite/kernels/concatenation.cc:235 t->params.scale != output->params.scale (...) Node number 0 '
          '(CONCATENATION) failed to prepare.')
case('concat_float32_axis2', 'CONCATENATION', 'float32 along axis 2 of 4-D',
     lambda m, r: concat(m, r, 'float32', [[1, 2, 2, 3], [1, 2, 3, 3]], 2))
case('concat_int16_axis0', 'CONCATENATION', 'int16 along axis 0',
     lambda m, r: concat(m, r, 'int16', [[1, 6], [2, 6]], 0, [(1 / 1000, 0)] * 3))


# MEAN
def mean(m, r, dt, shape, axes, keep, in_q=None, oq=None):
    rank = len(shape)
    axn = sorted(a % rank for a in axes)
    so = [1 if i in axn else s for i, s in enumerate(shape)] if keep else \
        [s for i, s in enumerate(shape) if i not in axn]
    x = m.inp(shape, dt, in_q)
    a = m.const([len(axes)], 'int32', axes)
    y = m.out(so, dt, oq)
    m.op('MEAN', [x, a], [y], version={'float32': 1, 'int8': 2, 'int16': 3}[dt], keepDims=keep)


case('mean_int8_hw_keep_same', 'MEAN', 'int8 axes [1,2] keep_dims, same in/out quantization',
     lambda m, r: mean(m, r, 'int8', [1, 4, 4, 3], [1, 2], True, (0.05, -3), (0.05, -3)))
case('mean_int8_hw_keep_rescale', 'MEAN', 'int8 axes [1,2] keep_dims, different out scale and zp',
     lambda m, r: mean(m, r, 'int8', [1, 4, 5, 3], [1, 2], True, (0.05, -3), (0.02, 7)))
case('mean_int8_c_nokeep', 'MEAN', 'int8 axis [3] keep_dims=false -> [1,3,4]',
     lambda m, r: mean(m, r, 'int8', [1, 3, 4, 5], [3], False, (0.04, 6), (0.03, -2)))
case('mean_int8_negaxis_batch2', 'MEAN', 'int8 axes [1,-2] (=[1,2]) keep_dims=false, batch 2',
     lambda m, r: mean(m, r, 'int8', [2, 3, 3, 2], [1, -2], False, (0.05, 0), (0.05, 0)))
case('mean_int16_hw_keep', 'MEAN', 'int16 axes [1,2] keep_dims',
     lambda m, r: mean(m, r, 'int16', [1, 4, 4, 3], [1, 2], True, (1 / 2048, 0), (1 / 4096, 0)))
case('mean_float32_hw_keep', 'MEAN', 'float32 axes [1,2] keep_dims',
     lambda m, r: mean(m, r, 'float32', [1, 4, 4, 3], [1, 2], True))
case('mean_float32_c_nokeep', 'MEAN', 'float32 axis [-1] keep_dims=false',
     lambda m, r: mean(m, r, 'float32', [2, 3, 5], [-1], False))


# PAD / PADV2
def pad(m, r, dt, shape, pads, q=None, v2=None):
    so = [s + a + b for s, (a, b) in zip(shape, pads)]
    x = m.inp(shape, dt, q)
    p = m.const([len(shape), 2], 'int32', np.array(pads).reshape(-1))
    ins = [x, p]
    if v2 is not None:
        ins.append(m.const([], dt, [v2], q))
    y = m.out(so, dt, q)
    m.op('PADV2' if v2 is not None else 'PAD', ins, [y], version={'float32': 1, 'int8': 2, 'int16': 3}[dt])


case('pad_int8', 'PAD', 'int8 4-D, asymmetric paddings; pad value is the zero point (-7)',
     lambda m, r: pad(m, r, 'int8', [1, 3, 3, 2], [[0, 0], [1, 2], [2, 1], [0, 0]], (0.05, -7)))
case('pad_int8_2d', 'PAD', 'int8 2-D with padding on both axes',
     lambda m, r: pad(m, r, 'int8', [3, 4], [[2, 0], [1, 3]], (0.02, 20)))
case('pad_int16', 'PAD', 'int16 4-D (pad value 0)',
     lambda m, r: pad(m, r, 'int16', [1, 2, 3, 2], [[0, 0], [1, 1], [0, 2], [0, 0]], (1 / 1000, 0)))
case('pad_float32', 'PAD', 'float32 4-D, pads with 0.0',
     lambda m, r: pad(m, r, 'float32', [1, 3, 3, 2], [[0, 0], [2, 1], [1, 1], [0, 1]]))
case('padv2_int8', 'PADV2', 'int8 with a constant scalar pad value 50 (not the zero point)',
     lambda m, r: pad(m, r, 'int8', [1, 3, 3, 2], [[0, 0], [1, 1], [1, 2], [0, 0]], (0.05, -7), v2=50))
case('padv2_float32', 'PADV2', 'float32 with constant pad value -1.5',
     lambda m, r: pad(m, r, 'float32', [1, 2, 3, 2], [[0, 0], [1, 1], [2, 0], [0, 0]], v2=-1.5))


# STRIDED_SLICE
def strided_slice(m, r, dt, shape, begin, end, strides, out_shape, q=None, **masks):
    x = m.inp(shape, dt, q)
    n = len(shape)
    b = m.const([n], 'int32', begin)
    e = m.const([n], 'int32', end)
    s = m.const([n], 'int32', strides)
    y = m.out(out_shape, dt, q)
    m.op('STRIDED_SLICE', [x, b, e, s], [y], version=2 if dt == 'int8' else 1, **masks)


_sq = (0.05, 3)
case('ss_int8_stride2', 'STRIDED_SLICE', 'int8 positive strides (1,2,2,1), interior begin/end',
     lambda m, r: strided_slice(m, r, 'int8', [1, 6, 6, 3], [0, 1, 0, 0], [1, 6, 5, 3], [1, 2, 2, 1],
                                [1, 3, 3, 3], _sq))
case('ss_int8_negstride', 'STRIDED_SLICE', 'int8 negative strides (-1, -2) with negative begin/end',
     lambda m, r: strided_slice(m, r, 'int8', [1, 5, 6, 3], [0, -1, 5, 0], [1, -6, 0, 3], [1, -1, -2, 1],
                                [1, 5, 3, 3], _sq))
case('ss_int8_masks', 'STRIDED_SLICE', 'int8 begin_mask 0b0110, end_mask 0b1010 (masked bounds ignored)',
     lambda m, r: strided_slice(m, r, 'int8', [1, 5, 6, 4], [0, 3, 4, 1], [1, 4, 5, 2], [1, 1, 2, 1],
                                [1, 5, 3, 3], _sq, beginMask=0b0110, endMask=0b1010))
case('ss_int8_shrink', 'STRIDED_SLICE', 'int8 shrink_axis_mask 0b0101 (axes 0 and 2 removed)',
     lambda m, r: strided_slice(m, r, 'int8', [2, 4, 5, 3], [1, 1, 2, 0], [2, 3, 3, 3], [1, 1, 1, 2],
                                [2, 2], _sq, shrinkAxisMask=0b0101))
case('ss_int8_negstride_masks', 'STRIDED_SLICE', 'int8 stride -1 with begin/end masks (full reversal of axis 1)',
     lambda m, r: strided_slice(m, r, 'int8', [3, 5], [0, 0], [0, 0], [1, -1], [3, 5], _sq,
                                beginMask=0b11, endMask=0b11))
case('ss_int16_stride2', 'STRIDED_SLICE', 'int16 (zp 0) positive strides, as int16x8 models use it',
     lambda m, r: strided_slice(m, r, 'int16', [1, 6, 6, 3], [0, 1, 0, 0], [1, 6, 5, 3], [1, 2, 2, 1],
                                [1, 3, 3, 3], (1 / 3000, 0)))
case('ss_float32', 'STRIDED_SLICE', 'float32 2-D negative begin/end, strides (2,3)',
     lambda m, r: strided_slice(m, r, 'float32', [6, 8], [-5, 1], [-1, -1], [2, 3], [2, 2]))
case('ss_float32_negstride_shrink', 'STRIDED_SLICE', 'float32 stride -2 and shrink_axis_mask on axis 0',
     lambda m, r: strided_slice(m, r, 'float32', [3, 7, 2], [1, 6, 0], [2, 0, 2], [1, -2, 1], [3, 2],
                                shrinkAxisMask=0b001))


# TRANSPOSE
def transpose(m, r, dt, shape, perm, q=None):
    x = m.inp(shape, dt, q)
    p = m.const([len(perm)], 'int32', perm)
    y = m.out([shape[i] for i in perm], dt, q)
    m.op('TRANSPOSE', [x, p], [y], version=2 if dt == 'int8' else 1)


case('transpose_int8_3d', 'TRANSPOSE', 'int8 3-D perm [2,0,1]',
     lambda m, r: transpose(m, r, 'int8', [2, 3, 4], [2, 0, 1], (0.05, 3)))
case('transpose_int8_4d_nchw', 'TRANSPOSE', 'int8 4-D perm [0,3,1,2] (NHWC -> NCHW)',
     lambda m, r: transpose(m, r, 'int8', [1, 2, 3, 4], [0, 3, 1, 2], (0.05, 3)))
case('transpose_int8_4d_rev', 'TRANSPOSE', 'int8 4-D perm [3,2,1,0]',
     lambda m, r: transpose(m, r, 'int8', [2, 3, 1, 4], [3, 2, 1, 0], (0.05, 3)))
case('transpose_int16_4d_nchw', 'TRANSPOSE', 'int16 (zp 0) 4-D perm [0,3,1,2]',
     lambda m, r: transpose(m, r, 'int16', [1, 2, 3, 4], [0, 3, 1, 2], (1 / 3000, 0)))
case('transpose_float32_3d', 'TRANSPOSE', 'float32 3-D perm [1,0,2]',
     lambda m, r: transpose(m, r, 'float32', [3, 2, 4], [1, 0, 2]))
case('transpose_float32_4d', 'TRANSPOSE', 'float32 4-D perm [0,2,3,1] (NCHW -> NHWC)',
     lambda m, r: transpose(m, r, 'float32', [1, 3, 2, 4], [0, 2, 3, 1]))


# RESHAPE / SQUEEZE / EXPAND_DIMS
def reshape(m, r, shape, new_shape, out_shape, with_tensor, q=(0.05, 3)):
    x = m.inp(shape, 'int8', q)
    ins = [x]
    if with_tensor:
        ins.append(m.const([len(new_shape)], 'int32', new_shape))
    y = m.out(out_shape, 'int8', q)
    opts = {} if with_tensor else {'newShape': list(new_shape)}
    m.op('RESHAPE', ins, [y], **opts)


def squeeze(m, r, shape, dims, out_shape, q=(0.05, 3)):
    x = m.inp(shape, 'int8', q)
    y = m.out(out_shape, 'int8', q)
    m.op('SQUEEZE', [x], [y], squeezeDims=list(dims))


def expand_dims(m, r, shape, axis, out_shape, q=(0.05, 3)):
    x = m.inp(shape, 'int8', q)
    a = m.const([1], 'int32', [axis])
    y = m.out(out_shape, 'int8', q)
    m.op('EXPAND_DIMS', [x, a], [y])


case('reshape_int8_shape_tensor', 'RESHAPE', 'int8 [1,2,3,4] -> const shape tensor [1,-1,4] (inferred dim)',
     lambda m, r: reshape(m, r, [1, 2, 3, 4], [1, -1, 4], [1, 6, 4], True))
case('reshape_int8_new_shape_option', 'RESHAPE', 'int8 single input; target shape only in new_shape option [4,6]',
     lambda m, r: reshape(m, r, [1, 2, 3, 4], [4, 6], [4, 6], False))
case('squeeze_int8_dims', 'SQUEEZE', 'int8 squeeze_dims [0,3] on [1,4,3,1,2]',
     lambda m, r: squeeze(m, r, [1, 4, 3, 1, 2], [0, 3], [4, 3, 2]))
case('squeeze_int8_all', 'SQUEEZE', 'int8 no squeeze_dims: every size-1 axis of [1,4,1,3] removed',
     lambda m, r: squeeze(m, r, [1, 4, 1, 3], [], [4, 3]))
case('expand_dims_int8_axis1', 'EXPAND_DIMS', 'int8 [2,3] axis 1 -> [2,1,3]',
     lambda m, r: expand_dims(m, r, [2, 3], 1, [2, 1, 3]))
case('expand_dims_int8_negaxis', 'EXPAND_DIMS', 'int8 [2,3] axis -1 -> [2,3,1]',
     lambda m, r: expand_dims(m, r, [2, 3], -1, [2, 3, 1]))

# SVDF (stateful: variable activation_state tensor)
case('svdf_float32_rank1', 'SVDF', 'float32 rank 1, batch 2, 4 units, memory 5', stateful=True,
     build=lambda m, r: svdf(m, r, 'float32', 2, 6, 4, 1, 5))
case('svdf_float32_rank2_relu', 'SVDF', 'float32 rank 2, RELU, memory 4', stateful=True,
     build=lambda m, r: svdf(m, r, 'float32', 1, 5, 3, 2, 4, act='RELU'))
case('svdf_int8_rank1_relu', 'SVDF', 'int8 in/out, int16 weights_time and state, rank 1, RELU flag (as '
     'keyword_scrambled; LiteRT requires the flag but does not apply RELU: outputs below the zp occur)',
     stateful=True, build=lambda m, r: svdf(m, r, 'int8', 1, 8, 4, 1, 6, act='RELU'))
case('svdf_int8_rank2_relu', 'SVDF', 'int8/int16 rank 2, batch 2, RELU', stateful=True,
     build=lambda m, r: svdf(m, r, 'int8', 2, 6, 3, 2, 4, act='RELU'))
case('svdf_int8_rank2_none', 'SVDF', 'int8/int16 rank 2, batch 2, no activation', stateful=True,
     build=lambda m, r: svdf(m, r, 'int8', 2, 6, 3, 2, 4),
     drop='tflite/kernels/svdf.cc:394 params->activation != kTfLiteActRelu (0 != 1)Node number 0 (SVDF) failed to '
          'invoke.')
case('svdf_int8_rank1_nobias', 'SVDF', 'int8/int16 rank 1 without bias (input -1), RELU', stateful=True,
     build=lambda m, r: svdf(m, r, 'int8', 1, 7, 3, 1, 5, act='RELU', bias=False))


def lstm(m, r, dt, batch, steps, n_in, n_cell, n_out=None, cifg=False, peephole=False, proj=False,
         proj_bias=True, time_major=False, cell_clip=0.0, proj_clip=0.0, state_zp=0, hidden_zp=0,
         cell_log2=-11):
    """UNIDIRECTIONAL_SEQUENCE_LSTM with all 24 inputs (absent ones -1), built by hand: the options
    TF's Keras conversion never produces (CIFG, peephole, projection, time-major, batch > 1, clips).
    Integer: TFLite's 8x8->16 scheme, 5 intermediates (4 float32 placeholders, as the converter
    writes them without layer norm, and the int8 hidden state's scale and zero point).
    int16: TFLite Micro's 16x8 scheme (tools/gen_tflm_fixtures.py; the standard LSTM only)."""
    n_out = n_out or n_cell
    in_shape = [steps, batch, n_in] if time_major else [batch, steps, n_in]
    gates = [g for g in range(4) if not (cifg and g == 0)]
    ins = [-1] * 24
    if dt == 'int16':
        lstm_int16(m, r, ins, in_shape, batch, n_in, n_cell, time_major, cell_clip, cell_log2)
        return
    if dt == 'float32':
        ins[0] = m.inp(in_shape, 'float32')
        for g in gates:
            ins[1 + g] = m.const([n_cell, n_in], dt, r.uniform(-1, 1, (n_cell, n_in)) / np.sqrt(n_in))
            ins[5 + g] = m.const([n_cell, n_out], dt, r.uniform(-1, 1, (n_cell, n_out)) / np.sqrt(n_out))
            ins[12 + g] = m.const([n_cell], dt, r.uniform(-0.5, 0.5, n_cell) + (1.0 if g == 1 else 0.0))
            if peephole and g != 2:
                ins[9 + {0: 0, 1: 1, 3: 2}[g]] = m.const([n_cell], dt, r.uniform(-0.5, 0.5, n_cell))
        if proj:
            ins[16] = m.const([n_out, n_cell], dt, r.uniform(-1, 1, (n_out, n_cell)) / np.sqrt(n_cell))
            if proj_bias:
                ins[17] = m.const([n_out], dt, r.uniform(-0.2, 0.2, n_out))
        ins[18] = m.tensor([batch, n_out], dt, name='output_state', variable=True)
        ins[19] = m.tensor([batch, n_cell], dt, name='cell_state', variable=True)
        y = m.out(in_shape[:2] + [n_out], dt)
        m.op('UNIDIRECTIONAL_SEQUENCE_LSTM', ins, [y], version=1,
             fusedActivationFunction=S.ActivationFunctionType.TANH, cellClip=cell_clip, projClip=proj_clip,
             timeMajor=time_major)
        return
    in_q = (f32(r.uniform(0.01, 0.03)), int(r.integers(-10, 10)))
    state_q = (f32(1.0 / 128), state_zp)
    hidden_q = (f32(1.0 / 128), hidden_zp) if proj else state_q
    ins[0] = m.inp(in_shape, 'int8', in_q)
    for g in gates:
        ws = f32(1.0 / (127 * np.sqrt(n_in)) * r.uniform(0.8, 1.2))
        rs = f32(1.0 / (127 * np.sqrt(n_out)) * r.uniform(0.8, 1.2))
        ins[1 + g] = m.const([n_cell, n_in], 'int8', weights_int8(r, (n_cell, n_in)), (ws, 0))
        ins[5 + g] = m.const([n_cell, n_out], 'int8', weights_int8(r, (n_cell, n_out)), (rs, 0))
        bs = in_q[0] * ws
        b = (r.uniform(-0.5, 0.5, n_cell) + (1.0 if g == 1 else 0.0)) / bs
        ins[12 + g] = m.const([n_cell], 'int32', np.round(b), (f32(bs), 0))
        if peephole and g != 2:
            ins[9 + {0: 0, 1: 1, 3: 2}[g]] = m.const(
                [n_cell], 'int16', r.integers(-32767, 32767, n_cell, endpoint=True), (f32(0.5 / 32767), 0))
    if proj:
        ps = f32(1.0 / (127 * np.sqrt(n_cell)))
        ins[16] = m.const([n_out, n_cell], 'int8', weights_int8(r, (n_out, n_cell)), (ps, 0))
        if proj_bias:
            pbs = f32(hidden_q[0] * ps)
            ins[17] = m.const([n_out], 'int32', np.round(r.uniform(-0.2, 0.2, n_out) / pbs), (pbs, 0))
    ins[18] = m.tensor([batch, n_out], 'int8', state_q, name='output_state', variable=True)
    ins[19] = m.tensor([batch, n_cell], 'int16', (f32(2.0 ** -11), 0), name='cell_state', variable=True)
    inter = [m.tensor([0], 'float32', name=f'input_to_{g}_intermediate') for g in
             ('input', 'forget', 'cell', 'output')]
    inter.append(m.tensor([0], 'int8', hidden_q, name='effective_hidden_scale_intermediate'))
    y = m.out(in_shape[:2] + [n_out], 'int8', state_q)
    m.op('UNIDIRECTIONAL_SEQUENCE_LSTM', ins, [y], version=1, intermediates=inter,
         fusedActivationFunction=S.ActivationFunctionType.TANH, cellClip=cell_clip, projClip=proj_clip,
         timeMajor=time_major)


def lstm_int16(m, r, ins, in_shape, batch, n_in, n_cell, time_major, cell_clip, cell_log2):
    """The int16x8 LSTM as TFLite Micro runs it (EvalLstm<int16_t, int8_t, int16_t, int64_t>):
    int16 input, output and output state with zero point 0 (the state has the output's scale),
    per-tensor int8 weights, int64 biases at input x weight scale, an int16 cell state of scale
    2^cell_log2, no intermediates (the kernel does not read them)."""
    in_q = (f32(r.uniform(2.0, 4.0) / 32767), 0)
    state_q = (f32(1.0 / 32767), 0)
    ins[0] = m.inp(in_shape, 'int16', in_q)
    for g in range(4):
        ws = f32(1.0 / (127 * np.sqrt(n_in)) * r.uniform(1.6, 2.4))
        rs = f32(1.0 / (127 * np.sqrt(n_cell)) * r.uniform(0.8, 1.2))
        ins[1 + g] = m.const([n_cell, n_in], 'int8', weights_int8(r, (n_cell, n_in)), (ws, 0))
        ins[5 + g] = m.const([n_cell, n_cell], 'int8', weights_int8(r, (n_cell, n_cell)), (rs, 0))
        bs = in_q[0] * ws
        b = (r.uniform(-0.5, 0.5, n_cell) + (1.0 if g == 1 else 0.0)) / bs
        ins[12 + g] = m.const([n_cell], 'int64', np.round(b), (f32(bs), 0))
    ins[18] = m.tensor([batch, n_cell], 'int16', state_q, name='output_state', variable=True)
    ins[19] = m.tensor([batch, n_cell], 'int16', (f32(2.0 ** cell_log2), 0), name='cell_state',
                       variable=True)
    y = m.out(in_shape[:2] + [n_cell], 'int16', state_q)
    m.op('UNIDIRECTIONAL_SEQUENCE_LSTM', ins, [y], version=1,
         fusedActivationFunction=S.ActivationFunctionType.TANH, cellClip=cell_clip, timeMajor=time_major)


# UNIDIRECTIONAL_SEQUENCE_LSTM (stateful: variable output and cell states). The lstm_keras_* cases
# are converted from tf_keras models by TensorFlow (tools/keras_lstm.py); the others are built here.
LSTM_NEAR = [float(v) for v in np.linspace(-2.0, 2.0, 9)]
for (name, q, steps, feats, units, rs, desc) in [
        ('lstm_keras_float32_seq', 'float32', 6, 3, 5, True, 'TF-converted Keras LSTM, float32, return_sequences'),
        ('lstm_keras_float32_last', 'float32', 9, 4, 8, False, 'TF-converted Keras LSTM, float32, last step only '
         '(LSTM then STRIDED_SLICE)'),
        ('lstm_keras_int8_seq', 'int8', 6, 3, 5, True, 'TF-converted Keras LSTM, int8 PTQ (8x8->16), '
         'return_sequences'),
        ('lstm_keras_int8_last', 'int8', 12, 4, 16, False, 'TF-converted Keras LSTM, int8 PTQ, 12 steps, 16 units, '
         'last step only'),
        ('lstm_keras_int8_long', 'int8', 28, 8, 20, True, 'TF-converted Keras LSTM, int8 PTQ, 28 steps, 20 units')]:
    case(name, 'UNIDIRECTIONAL_SEQUENCE_LSTM', desc, stateful=True, frange=(-2.0, 2.0),
         near=LSTM_NEAR if q == 'int8' else None,
         build=dict(keras=dict(name=name, steps=steps, features=feats, units=units, return_sequences=rs,
                               quant=q, seed=zlib.crc32(name.encode()) % 1000)))
case('lstm_float32_cifg_peephole_proj', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'float32, CIFG, peephole, projection '
     'with bias, cell and projection clips, batch 2', stateful=True, frange=(-2.0, 2.0),
     build=lambda m, r: lstm(m, r, 'float32', 2, 5, 3, 6, 4, cifg=True, peephole=True, proj=True, cell_clip=3.0,
                             proj_clip=0.8))
case('lstm_float32_time_major', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'float32, time-major, batch 3, peephole',
     stateful=True, frange=(-2.0, 2.0),
     build=lambda m, r: lstm(m, r, 'float32', 3, 4, 5, 7, peephole=True, time_major=True))
case('lstm_int8_batch2', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'int8 8x8->16, batch-major, batch 2, output state zp 5, '
     'cell clip', stateful=True, near=LSTM_NEAR,
     build=lambda m, r: lstm(m, r, 'int8', 2, 6, 4, 8, cell_clip=2.5, state_zp=5))
case('lstm_int8_cifg_peephole', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'int8, CIFG, int16 peephole weights, time-major, '
     'batch 2', stateful=True, near=LSTM_NEAR,
     build=lambda m, r: lstm(m, r, 'int8', 2, 5, 3, 6, cifg=True, peephole=True, time_major=True))
case('lstm_int8_projection', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'int8, projection 8 -> 5 with bias and clip, '
     'hidden zero point 3, output state zp -2', stateful=True, near=LSTM_NEAR,
     build=lambda m, r: lstm(m, r, 'int8', 1, 7, 4, 8, 5, proj=True, proj_clip=0.6, hidden_zp=3, state_zp=-2))
case('lstm_int8_projection_nobias', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'int8, CIFG, projection 6 -> 6 without bias, '
     'hidden zero point -4', stateful=True, near=LSTM_NEAR,
     build=lambda m, r: lstm(m, r, 'int8', 1, 5, 3, 6, 6, cifg=True, proj=True, proj_bias=False, hidden_zp=-4))


# --------------------------------------------------------------------------- running and writing

def seed(name, k):
    return [zlib.crc32(name.encode()), k]


def gen_inputs(c, details):
    """The list of input lines (each a list of arrays, one per subgraph input)."""
    if not details:
        return [[]]
    rng = np.random.default_rng(seed(c['name'], 1))
    near = c['near']
    lines = []
    kinds = ['full'] * 5 + ['extreme', 'zp'] if details[0]['dtype'] != np.float32 else ['uniform'] * 5
    if near is not None:
        kinds += ['near'] * (2 if details[0]['dtype'] != np.float32 else 1)
    if c['lines']:
        kinds = kinds[:c['lines']]
    for kind in kinds:
        xs = []
        for d in details:
            shape = tuple(int(s) for s in d['shape'])
            dt = np.dtype(d['dtype'])
            if dt == np.float32:
                if kind == 'near' and isinstance(near, str) and near.startswith('ties:'):
                    s = float(near.split(':')[1])
                    x = (rng.integers(-140, 140, size=shape) + 0.5) * s
                elif kind == 'near':
                    x = rng.choice(np.array(near, np.float64), size=shape) + \
                        rng.choice([-1e-3, -1e-6, 0.0, 1e-6, 1e-3], size=shape)
                else:
                    x = rng.uniform(c['frange'][0], c['frange'][1], size=shape)
                xs.append(x.astype(np.float32))
                continue
            info = np.iinfo(dt)
            scale, zp = d['quantization']
            if kind == 'full':
                x = rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
            elif kind == 'extreme':
                x = rng.choice(np.array([info.min, info.min + 1, info.max - 1, info.max], dt), size=shape)
            elif kind == 'zp':
                x = np.clip(zp + rng.integers(-4, 4, size=shape, endpoint=True), info.min, info.max).astype(dt)
            else:  # near interesting real values
                v = rng.choice(np.array(near, np.float64), size=shape)
                q = np.round(v / scale) + zp + rng.integers(-3, 3, size=shape, endpoint=True)
                x = np.clip(q, info.min, info.max).astype(dt)
            xs.append(x)
        lines.append(xs)
    return lines


def tj(a):
    a = np.asarray(a)
    return {"shape": [int(s) for s in a.shape], "dtype": str(a.dtype), "data": a.reshape(-1).tolist()}


def run(it, xs, reset):
    if reset:
        it.reset_all_variables()
    for d, x in zip(it.get_input_details(), xs):
        assert tuple(d['shape']) == x.shape and d['dtype'] == x.dtype, (d, x.shape, x.dtype)
        it.set_tensor(d['index'], x)
    it.invoke()
    return [it.get_tensor(d['index']).copy() for d in it.get_output_details()]


def dump(path, recs):
    with open(path, 'w', newline='\n') as f:
        for xs, ys in recs:
            f.write(json.dumps({"inputs": [tj(x) for x in xs], "outputs": [tj(y) for y in ys]},
                               separators=(',', ':'), allow_nan=False) + '\n')


TF_PYTHON = os.environ.get('TFLM_TF_PYTHON', '/root/venv-models/bin/python')


def convert_keras(cases, out, rebuild):
    """Runs tools/keras_lstm.py (TensorFlow) for the Keras cases whose .tflite is missing (all of
    them with --rebuild-keras); the committed models are reused otherwise, so regenerating the
    fixtures needs TensorFlow only for new Keras cases."""
    import subprocess
    todo = [c['build']['keras'] for c in cases if isinstance(c['build'], dict) and
            (rebuild or not os.path.exists(os.path.join(out, c['name'] + '.tflite')))]
    if todo:
        subprocess.run([TF_PYTHON, os.path.join(ROOT, 'tools', 'keras_lstm.py'), out],
                       input=json.dumps(todo).encode(), check=True)


def build(c, out=OUT):
    if isinstance(c['build'], dict):  # converted by TensorFlow (convert_keras)
        with open(os.path.join(out, c['name'] + '.tflite'), 'rb') as f:
            return f.read()
    m = Model()
    c['build'](m, np.random.default_rng(seed(c['name'], 0)))
    return m.finish()


def interpreter(buf):
    it = Interpreter(model_content=buf, experimental_op_resolver_type=REF)
    it.allocate_tensors()
    ops = [o['op_name'] for o in it._get_ops_details()]
    # One operator, except TF-converted Keras LSTMs that keep the last step (+ STRIDED_SLICE).
    assert (len(ops) == 1 or ops[0] == 'UNIDIRECTIONAL_SEQUENCE_LSTM') and 'DELEGATE' not in ops, ops
    return it


def saturation(outs, it):
    """Fraction of integer outputs at the dtype bounds (printed as a sanity check of the scales)."""
    tot = sat = 0
    for ys in outs:
        for y in ys:
            if y.dtype.kind == 'i':
                info = np.iinfo(y.dtype)
                tot += y.size
                sat += int(np.sum((y == info.min) | (y == info.max)))
    return sat / tot if tot else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=OUT, help='output folder (default: %(default)s)')
    ap.add_argument('--check-dropped', action='store_true', help='only re-try the dropped cases')
    ap.add_argument('--rebuild-keras', action='store_true',
                    help='re-convert the Keras LSTM models with TensorFlow (see tools/keras_lstm.py)')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()

    if args.check_dropped:
        for c in DROPPED:
            try:
                it = interpreter(build(c))
                run(it, gen_inputs(c, it.get_input_details())[0], reset=True)
                print(f'{c["name"]}: accepted by LiteRT (load and invoke)')
            except Exception as e:  # noqa: BLE001 - report whatever LiteRT raises
                print(f'{c["name"]}: {type(e).__name__}: {e}')
        return

    os.makedirs(args.out, exist_ok=True)
    names = [c['name'] for c in CASES]
    assert len(set(names)) == len(names), 'duplicate case names'
    manifest = []
    convert_keras(CASES, args.out, args.rebuild_keras)
    for c in CASES:
        buf = build(c, args.out)
        it = interpreter(buf)
        ind, outd = it.get_input_details(), it.get_output_details()
        samples = gen_inputs(c, ind)
        outs = [run(it, xs, reset=True) for xs in samples]
        with open(os.path.join(args.out, c['name'] + '.tflite'), 'wb') as f:
            f.write(buf)
        dump(os.path.join(args.out, c['name'] + '.ref.jsonl'), zip(samples, outs))
        entry = {
            "name": c['name'], "op": c['op'],
            "input_dtypes": [str(np.dtype(d['dtype'])) for d in ind],
            "output_dtypes": [str(np.dtype(d['dtype'])) for d in outd],
            "tensor_dtypes": sorted({str(np.dtype(t['dtype'])) for t in it.get_tensor_details()}),
            "inputs": len(ind), "outputs": len(outd), "lines": len(samples),
            "stateful": c['stateful'], "files": [c['name'] + '.tflite', c['name'] + '.ref.jsonl'],
            "description": c['desc'],
        }
        if c['stateful']:
            it.reset_all_variables()
            seq = [run(it, xs, reset=False) for xs in samples]
            dump(os.path.join(args.out, c['name'] + '.seq.ref.jsonl'), zip(samples, seq))
            entry['files'].append(c['name'] + '.seq.ref.jsonl')
        manifest.append(entry)
        if args.verbose:
            print(f'{c["name"]:36s} {len(buf):6d} B  saturated {saturation(outs, it):.2f}  '
                  f'out {[tuple(int(s) for s in d["shape"]) for d in outd]}')
    produced = {f for e in manifest for f in e['files']} | {'MANIFEST.json'}
    for f in sorted(os.listdir(args.out)):  # remove fixtures of cases that no longer exist
        if f not in produced and (f.endswith('.tflite') or f.endswith('.jsonl')):
            os.remove(os.path.join(args.out, f))
    dropped = [{"name": c['name'], "op": c['op'], "description": c['desc'], "reason": c['drop']} for c in DROPPED]
    head = {
        "generator": "tools/gen_op_fixtures.py",
        "oracle": "ai-edge-litert %s Interpreter, experimental_op_resolver_type=BUILTIN_REF" %
                  metadata.version('ai-edge-litert'),
        "format": "same JSON-lines format as shared/peer-models/*.ref.jsonl; *.seq.ref.jsonl carry the "
                  "variable state over from line to line (reset once at the start); in *.ref.jsonl the "
                  "state is reset before every line",
    }
    path = os.path.join(args.out, 'MANIFEST.json')
    with open(path, 'w', newline='\n') as f:  # one case per line
        f.write('{\n')
        for k, v in head.items():
            f.write(f' {json.dumps(k)}: {json.dumps(v)},\n')
        for key, rows in (('dropped', dropped), ('cases', manifest)):
            f.write(f' {json.dumps(key)}: [\n')
            f.write(',\n'.join('  ' + json.dumps(e, separators=(', ', ': ')) for e in rows))
            f.write('\n ]' + (',' if key == 'dropped' else '') + '\n')
        f.write('}\n')
    with open(path) as f:
        json.load(f)  # well-formed
    print(f'{len(CASES)} cases written to {os.path.relpath(args.out, ROOT)}')


if __name__ == '__main__':
    sys.exit(main())
