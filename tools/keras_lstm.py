#!/usr/bin/env python3
"""Convert small Keras LSTM models to .tflite with TensorFlow's converter (float32 and int8 PTQ).

Called by tools/gen_op_fixtures.py with a TensorFlow interpreter (default /root/venv-models/bin/python,
TF 2.21 with tf_keras; set TFLM_TF_PYTHON to use another):
    python tools/keras_lstm.py OUT_DIR < specs.json
specs.json is a list of {"name", "steps", "features", "units", "return_sequences", "quant"
("float32" or "int8"), "seed"}; OUT_DIR/NAME.tflite is written for each.

Why tf_keras: Keras 3's LSTM converts to a WHILE loop; tf_keras (Keras 2) marks its LSTM as a
fused "lstm" implementation, which the converter turns into one UNIDIRECTIONAL_SEQUENCE_LSTM
(batch 1, unroll=False). The int8 model is full-integer post-training quantization with int8
input and output, calibrated on 64 uniform [-2, 2) sequences; TF's 8x8->16 LSTM quantization
adds the 5 intermediates tensors. TF 2.21 refuses 16x8 for this op ("Quantization to 16x8-bit
not yet supported for op: 'UNIDIRECTIONAL_SEQUENCE_LSTM'").
"""
import json
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402


def convert(spec):
    keras.utils.set_random_seed(spec['seed'])
    x = keras.Input(shape=(spec['steps'], spec['features']), batch_size=1)
    y = keras.layers.LSTM(spec['units'], return_sequences=spec['return_sequences'], unroll=False)(x)
    model = keras.Model(x, y)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if spec['quant'] == 'int8':
        rng = np.random.default_rng(spec['seed'])

        def representative():
            for _ in range(64):
                yield [rng.uniform(-2, 2, (1, spec['steps'], spec['features'])).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def main():
    out = sys.argv[1]
    for spec in json.load(sys.stdin):
        with open(os.path.join(out, spec['name'] + '.tflite'), 'wb') as f:
            f.write(convert(spec))


if __name__ == '__main__':
    main()
