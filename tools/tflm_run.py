#!/usr/bin/env python3
"""Runs a .tflite model in TensorFlow Lite Micro's interpreter and prints its outputs as JSON lines.

Usage (exact versions in tools/requirements.txt):

    python3 tools/tflm_run.py MODEL.tflite INPUTS.jsonl [--keep-state]
    python3 tools/tflm_run.py --batch LIST     # many models in one process

The same format, options and exit statuses as tools/litert_run.py (whose loop this reuses), with
TFLite Micro's own Python interpreter (`pip install tflite-micro`:
`tflite_micro.python.tflite_micro.runtime.Interpreter`, its reference kernels) in place of
LiteRT's. It is the oracle of the int16x8 UNIDIRECTIONAL_SEQUENCE_LSTM: LiteRT has no int16 LSTM
kernel and TensorFlow's converter refuses 16x8 for that operator, while TFLite Micro's kernel
(`EvalLstm<int16_t, int8_t, int16_t, int64_t>`) runs it. Variable tensors are reset
(`Interpreter.reset()`) before every line unless --keep-state. Exit status 3 when tflite_micro or
numpy cannot be imported.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import litert_run  # noqa: E402  (the shared loop; tools/ is not a package)
from litert_run import np  # noqa: E402


class Tflm:
    """A model in TFLite Micro's interpreter (the session interface of litert_run.LiteRT)."""

    def __init__(self, model):
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError as e:
            litert_run.missing(e)
        with open(model, 'rb') as f:
            data = f.read()
        # The default arena (10x the model) is too small for tiny models with long sequences.
        self.it = runtime.Interpreter.from_bytes(data, arena_size=max(64 * 1024, 10 * len(data)))
        graph = runtime.convert_bytearray_to_object(bytearray(data)).subgraphs[0]
        self.ins = [self.it.get_input_details(k) for k in range(len(graph.inputs))]
        self.n_out = len(graph.outputs)

    def inputs(self):
        return [(f'input {k}', tuple(int(s) for s in d['shape']), np.dtype(d['dtype']))
                for k, d in enumerate(self.ins)]

    def set(self, k, a):
        self.it.set_input(a, k)

    def invoke(self):
        self.it.invoke()

    def outputs(self):
        return [np.array(self.it.get_output(k)) for k in range(self.n_out)]

    def reset(self):
        self.it.reset()


if __name__ == '__main__':
    litert_run.main(Tflm, __doc__)
