#!/usr/bin/env python3
"""Build int16x8 UNIDIRECTIONAL_SEQUENCE_LSTM models and their TensorFlow Lite Micro outputs.

Usage (from the repository root; exact versions in tools/requirements.txt):
    pip install -r tools/requirements.txt
    python3 tools/gen_tflm_fixtures.py            # writes tflm-runtime/tests/fixtures/tflm/

LiteRT has no int16 LSTM kernel and TensorFlow's converter refuses 16x8 for this operator, so the
oracle of tflm-runtime's int16x8 LSTM is TensorFlow Lite Micro's own interpreter (`pip install
tflite-micro`, its reference kernels, run through tools/tflm_run.py's session). The models are
built by tools/gen_op_fixtures.py's builder (`lstm(..., 'int16', ...)`: TFLite Micro's scheme) and
the input lines are made the same way, so the files have exactly the layout of the op fixtures:
CASE.tflite, CASE.ref.jsonl (state reset before every line), CASE.seq.ref.jsonl (state carried
over from line to line), MANIFEST.json. tests/op_fixtures.rs checks them bit for bit without
Python. Deterministic: running it twice gives byte-identical files.
"""
import json
import os
import sys
from importlib import metadata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_op_fixtures as G  # noqa: E402  (tools/ is not a package)
from tflm_run import Tflm  # noqa: E402

OUT = os.path.join(G.ROOT, 'tflm-runtime', 'tests', 'fixtures', 'tflm')
NEAR = G.LSTM_NEAR

# (name, description, builder): what TFLite Micro's standard int16 LSTM covers.
CASES = [
    ('lstm_int16_keras_like', 'int16x8, batch 1, 24 steps, 3 inputs, 20 units (co2\'s shape), cell 2^-11',
     lambda m, r: G.lstm(m, r, 'int16', 1, 24, 3, 20)),
    ('lstm_int16_batch2_clip', 'int16x8, batch-major, batch 2, cell clip 1.5, cell 2^-12',
     lambda m, r: G.lstm(m, r, 'int16', 2, 6, 4, 8, cell_clip=1.5, cell_log2=-12)),
    ('lstm_int16_time_major', 'int16x8, time-major, batch 3, cell 2^-9 (tanh input multiplier 24)',
     lambda m, r: G.lstm(m, r, 'int16', 3, 5, 5, 7, time_major=True, cell_log2=-9)),
    ('lstm_int16_small_cell', 'int16x8, cell 2^-15 (tanh input shifted right by 3), 8 steps',
     lambda m, r: G.lstm(m, r, 'int16', 1, 8, 2, 6, cell_log2=-15)),
]


def run(it, xs, reset):
    if reset:
        it.reset()
    for k, x in enumerate(xs):
        it.set(k, x)
    it.invoke()
    return [y.copy() for y in it.outputs()]


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name, desc, build in CASES:
        c = dict(name=name, op='UNIDIRECTIONAL_SEQUENCE_LSTM', desc=desc, build=build, near=NEAR,
                 frange=(-2.0, 2.0), stateful=True, lines=None)
        buf = G.build(c)
        model = os.path.join(OUT, name + '.tflite')
        with open(model, 'wb') as f:
            f.write(buf)
        it = Tflm(model)
        details = [{'shape': shape, 'dtype': dtype, 'quantization': (d['quantization_parameters']['scales'][0],
                                                                     d['quantization_parameters']['zero_points'][0])}
                   for (_, shape, dtype), d in zip(it.inputs(), it.ins)]
        samples = G.gen_inputs(c, details)
        G.dump(os.path.join(OUT, name + '.ref.jsonl'), [(xs, run(it, xs, True)) for xs in samples])
        it.reset()
        G.dump(os.path.join(OUT, name + '.seq.ref.jsonl'), [(xs, run(it, xs, False)) for xs in samples])
        manifest.append({"name": name, "op": c['op'], "lines": len(samples), "stateful": True,
                         "files": [name + '.tflite', name + '.ref.jsonl', name + '.seq.ref.jsonl'],
                         "description": desc})
    head = {
        "generator": "tools/gen_tflm_fixtures.py",
        "oracle": "tflite-micro %s Python interpreter (reference kernels)" % metadata.version('tflite-micro'),
        "format": "as tflm-runtime/tests/fixtures/ops: *.ref.jsonl reset the state before every line, "
                  "*.seq.ref.jsonl carry it over (reset once at the start)",
    }
    with open(os.path.join(OUT, 'MANIFEST.json'), 'w', newline='\n') as f:
        json.dump(dict(head, cases=manifest), f, indent=1)
        f.write('\n')
    print(f'{len(CASES)} cases written to {os.path.relpath(OUT, G.ROOT)}')


if __name__ == '__main__':
    main()
