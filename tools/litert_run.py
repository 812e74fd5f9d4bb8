#!/usr/bin/env python3
"""Runs a .tflite model in LiteRT's reference kernels and prints its outputs as JSON lines.

Usage (exact versions in tools/requirements.txt):

    python3 tools/litert_run.py MODEL.tflite INPUTS.jsonl [--keep-state]
    python3 tools/litert_run.py --batch LIST     # many models in one process

INPUTS.jsonl is in the fixture format of tflm-runtime/tests/fixtures/ops and
../shared/peer-models: one {"inputs":[{"shape","dtype","data"}, ...]} object per line (other keys
are ignored). For each line this prints {"inputs":[...],"outputs":[...]} in the same format, so
the output is itself a fixture, comparable with `tflm run MODEL --inputs INPUTS.jsonl`.
With --batch, LIST has one tab-separated `MODEL INPUTS OUTPUT [keep-state]` per line and each
model's lines go to its OUTPUT file instead (one Python start for all: the tests use this).

The interpreter uses the reference kernels (experimental_op_resolver_type=BUILTIN_REF, no
delegate), the ones tflm-runtime is bit-exact with. Variable tensors are reset before every line
unless --keep-state. Exit status: 0 on success, 3 when ai_edge_litert or numpy cannot be imported,
1 on any other error (message on stderr).

tools/tflm_run.py runs the same loop in TensorFlow Lite Micro's interpreter (`Session` below is
what the two share).
"""

import argparse
import json
import os
import sys


def missing(e):
    """Exits with status 3 (the caller tells a missing install from a failure by it)."""
    print(f'{os.path.basename(sys.argv[0])}: {e} (pip install -r tools/requirements.txt)', file=sys.stderr)
    sys.exit(3)


try:
    import numpy as np
except ImportError as e:
    missing(e)


class LiteRT:
    """A model in LiteRT's reference kernels. A session gives `inputs()` (name, shape, dtype of
    each input), `set(k, array)`, `invoke()`, `outputs()` (arrays) and `reset()` (variable
    tensors to zero)."""

    def __init__(self, model):
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError as e:
            missing(e)
        self.it = Interpreter(model_path=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        self.it.allocate_tensors()
        self.ins = self.it.get_input_details()

    def inputs(self):
        return [(d['name'], tuple(d['shape']), np.dtype(d['dtype'])) for d in self.ins]

    def set(self, k, a):
        self.it.set_tensor(self.ins[k]['index'], a)

    def invoke(self):
        self.it.invoke()

    def outputs(self):
        return [self.it.get_tensor(d['index']) for d in self.it.get_output_details()]

    def reset(self):
        self.it.reset_all_variables()


def tensor_json(a):
    a = np.asarray(a)
    return {"shape": [int(s) for s in a.shape], "dtype": str(a.dtype), "data": a.reshape(-1).tolist()}


def run(model, inputs, keep_state, session=LiteRT):
    """The output lines of `model` on the lines of the file `inputs`."""
    it = session(model)
    details = it.inputs()
    out = []
    with open(inputs) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            xs = json.loads(line)['inputs']
            if len(xs) != len(details):
                sys.exit(f'{inputs}:{n}: {len(xs)} inputs, the model has {len(details)}')
            if not keep_state:
                it.reset()
            arrays = []
            for k, ((name, shape, dtype), x) in enumerate(zip(details, xs)):
                a = np.array(x['data'], dtype=np.dtype(x['dtype'])).reshape(x['shape'])
                if shape != a.shape or dtype != a.dtype:
                    sys.exit(f'{inputs}:{n}: input {name} is {dtype} {list(shape)}, '
                             f'the line gives {a.dtype} {list(a.shape)}')
                it.set(k, a)
                arrays.append(a)
            it.invoke()
            out.append(json.dumps({"inputs": [tensor_json(a) for a in arrays],
                                   "outputs": [tensor_json(y) for y in it.outputs()]},
                                  separators=(',', ':'), allow_nan=False))
    return ''.join(line + '\n' for line in out)


def main(session=LiteRT, doc=__doc__):
    ap = argparse.ArgumentParser(description=doc.split('\n')[0])
    ap.add_argument('model', nargs='?')
    ap.add_argument('inputs', nargs='?')
    ap.add_argument('--keep-state', action='store_true',
                    help='carry variable tensors over from line to line')
    ap.add_argument('--batch', metavar='LIST', help='run every MODEL INPUTS OUTPUT line of LIST')
    args = ap.parse_args()
    if args.batch:
        with open(args.batch) as f:
            jobs = [line.rstrip('\n').split('\t') for line in f if line.strip()]
        for job in jobs:
            model, inputs, output = job[:3]
            try:
                text = run(model, inputs, 'keep-state' in job[3:], session)
            except Exception as e:
                sys.exit(f'{model}: {e}')
            with open(output, 'w', newline='\n') as f:
                f.write(text)
    elif args.model and args.inputs:
        sys.stdout.write(run(args.model, args.inputs, args.keep_state, session))
    else:
        ap.error('MODEL and INPUTS, or --batch LIST, are required')


if __name__ == '__main__':
    main()
