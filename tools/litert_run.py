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
"""

import argparse
import json
import sys

try:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError as e:  # the caller tells a missing install from a failure by the status
    print(f'litert_run.py: {e} (pip install -r tools/requirements.txt)', file=sys.stderr)
    sys.exit(3)


def tensor_json(a):
    a = np.asarray(a)
    return {"shape": [int(s) for s in a.shape], "dtype": str(a.dtype), "data": a.reshape(-1).tolist()}


def run(model, inputs, keep_state):
    """The output lines of `model` on the lines of the file `inputs`."""
    it = Interpreter(model_path=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    details = it.get_input_details()
    out = []
    with open(inputs) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            xs = json.loads(line)['inputs']
            if len(xs) != len(details):
                sys.exit(f'{inputs}:{n}: {len(xs)} inputs, the model has {len(details)}')
            if not keep_state:
                it.reset_all_variables()
            arrays = []
            for d, x in zip(details, xs):
                a = np.array(x['data'], dtype=np.dtype(x['dtype'])).reshape(x['shape'])
                if tuple(d['shape']) != a.shape or d['dtype'] != a.dtype:
                    sys.exit(f'{inputs}:{n}: input {d["name"]} is {d["dtype"].__name__} '
                             f'{list(d["shape"])}, the line gives {a.dtype} {list(a.shape)}')
                it.set_tensor(d['index'], a)
                arrays.append(a)
            it.invoke()
            ys = [it.get_tensor(d['index']) for d in it.get_output_details()]
            out.append(json.dumps({"inputs": [tensor_json(a) for a in arrays],
                                   "outputs": [tensor_json(y) for y in ys]},
                                  separators=(',', ':'), allow_nan=False))
    return ''.join(line + '\n' for line in out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
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
                text = run(model, inputs, 'keep-state' in job[3:])
            except Exception as e:
                sys.exit(f'{model}: {e}')
            with open(output, 'w', newline='\n') as f:
                f.write(text)
    elif args.model and args.inputs:
        sys.stdout.write(run(args.model, args.inputs, args.keep_state))
    else:
        ap.error('MODEL and INPUTS, or --batch LIST, are required')


if __name__ == '__main__':
    main()
