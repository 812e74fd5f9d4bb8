#!/usr/bin/env python3
"""Indoor CO2 forecast: the CO2 reading 10 minutes ahead from the last 48 minutes of CO2,
temperature and relative humidity, by a small LSTM.

The data is simulated (no download): a mass balance of CO2, heat and water vapour in a
six-desk office over four weeks, sampled every 2 minutes by a simulated NDIR sensor. Writes
dataset.csv, specs.json (window of 24 steps, ntc input [1, 24, 3]) and model.onnx (tf2onnx: one
ONNX `LSTM` node). From the repository root:

    python3 models/co2/train.py                    # rewrites dataset.csv, specs.json, model.onnx
    python3 models/co2/train.py --tflite-baseline  # also TensorFlow's float, int8 and 16x8 .tflite

--tflite-baseline needs tf-keras and ai-edge-litert (models/requirements-baselines.txt):
TensorFlow's converter fuses a Keras LSTM into UNIDIRECTIONAL_SEQUENCE_LSTM only for a Keras 2
(tf-keras) LSTM layer with a fixed batch; a Keras 3 LSTM becomes a WHILE loop.
"""

import argparse
import math
import sys
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402  (sets the TensorFlow environment before importing it)
from common import np, tf, tflm_specs  # noqa: E402

SEED = 4711
START = datetime(2024, 10, 28)        # a Monday; 28 days, to Sunday 24 November
DAYS = 28
HOLIDAYS = {datetime(2024, 11, 1).date()}  # All Saints' Day (Friday): office closed
SAMPLE_MIN = 2                        # one CSV row every 2 minutes
HORIZON_MIN = 10                      # the label: the CO2 reading 10 minutes later
WINDOW = 24                           # 24 rows: 48 minutes of history
TEST_FRACTION = 0.25                  # the last 7 of 28 days, contiguous
REPRESENTATIVE_ROWS = 5040            # the first week of windows, see make_spec
HIDDEN = 20
# Full training (Adam, the learning rate decaying from LR to 0 along a cosine); specs.json's
# "training" holds the (shorter) fine-tuning settings.
EPOCHS, BATCH, LR = 40, 64, 0.006

# ------------------------------------------------------------------ the room and its physics
VOLUME = 7.5 * 5.0 * 2.8              # m³: 37.5 m² open-plan office, 2.8 m ceiling
DESKS = 6
RHO_CP = 1.2 * 1005.0                 # J/(m³·K), air
AIR_MASS = 3 * RHO_CP * VOLUME       # J/K: the air and light furniture, which follow it
THERMAL_MASS = 5.0e6                  # J/K: floor slab, inner walls, heavy furniture
SURFACE_H = 350.0                     # W/K: convection between the air and those surfaces
UA_ENVELOPE = 40.0                    # W/K: walls and glazing to the outside
HVAC_ACH = 1.3                        # air changes per hour, mechanical ventilation when on
HVAC_SUPPLY_C = 18.0                  # °C, supply air (tempered by the air handling unit)
HEATER_MAX_W, HEATER_GAIN = 3000.0, 1200.0   # radiators: W at most, W per K below setpoint
HEATER_TAU_S = 20 * 60                # radiator warm-up and cool-down
MOISTURE_BUFFER = 3.0                 # effective volume for water vapour: materials buffer it
CO2_PER_PERSON = 0.0052e-3            # m³/s of CO2 per sedentary adult (about 1.2 met)
SENSIBLE_PER_PERSON = 75.0            # W
VAPOUR_PER_PERSON = 55.0 / 3600.0     # g/s
EQUIPMENT_PER_PERSON, BASE_LOAD, LIGHTS = 60.0, 120.0, 250.0  # W


def saturation_vapour_density(t_c):
    """g/m³ of water vapour at saturation (Magnus formula over water)."""
    p = 611.2 * np.exp(17.62 * t_c / (243.12 + t_c))
    return p / (461.5 * (t_c + 273.15)) * 1000.0


def smooth_noise(rng, n_points, step_min, total_min, sd, corr_min):
    """AR(1) noise with correlation time corr_min, drawn every step_min and linearly
    interpolated to one value per minute."""
    phi = math.exp(-step_min / corr_min)
    v = np.empty(n_points)
    v[0] = rng.normal(0.0, sd)
    for i in range(1, n_points):
        v[i] = phi * v[i - 1] + math.sqrt(1 - phi * phi) * rng.normal(0.0, sd)
    return np.interp(np.arange(total_min), np.arange(n_points) * step_min, v)


def weather(rng, minutes):
    """Outdoor temperature (°C), absolute humidity (g/m³), CO2 (ppm), wind (m/s) and solar
    gain through the windows (W), one value per minute. Late autumn, central Europe."""
    days = minutes // 1440 + 2
    t = np.arange(minutes)
    hour = (t % 1440) / 60.0
    day = t / 1440.0
    cloud_day = rng.beta(2.0, 1.4, days)                      # 0 clear .. 1 overcast
    cloud = np.interp(day, np.arange(days) + 0.5, cloud_day)
    mean = 10.0 - 0.15 * day + smooth_noise(rng, days * 4, 360, minutes, 2.5, 3 * 1440)
    amplitude = 1.5 + 3.5 * (1.0 - cloud)
    t_out = mean + amplitude * np.cos(2 * np.pi * (hour - 14.5) / 24.0)
    rh_out = np.clip(84.0 - 14.0 * (1.0 - cloud) * np.cos(2 * np.pi * (hour - 14.5) / 24.0)
                     + smooth_noise(rng, days * 24, 60, minutes, 4.0, 6 * 60), 45.0, 99.0)
    w_out = rh_out / 100.0 * saturation_vapour_density(t_out)
    wind = np.clip(3.5 + smooth_noise(rng, days * 24, 60, minutes, 1.6, 8 * 60), 0.3, None)
    sun = np.clip(np.sin(np.pi * (hour - 7.5) / 9.5), 0.0, None) * ((hour > 7.5) & (hour < 17.0))
    solar = 650.0 * (1.0 - 0.75 * cloud) * sun
    # Outdoor CO2: a slow drift around 425 ppm, the night-time boundary layer (highest near
    # dawn) and the traffic of the weekday rush hours.
    weekday = (t // 1440) % 7 < 5
    co2_out = (425.0 + smooth_noise(rng, days * 4, 360, minutes, 5.0, 2 * 1440)
               + 9.0 * np.cos(2 * np.pi * (hour - 5.5) / 24.0)
               + weekday * (10.0 * np.exp(-((hour - 8.0) / 0.8) ** 2)
                            + 6.0 * np.exp(-((hour - 17.5) / 1.0) ** 2)))
    return t_out, w_out, co2_out, wind, solar


def occupancy(rng, minutes):
    """People in the room per minute and their CO2 generation (m³/s). Six desks, each with
    its own habits: arrival and departure times, a home-office day, lunch and coffee breaks;
    meetings bring visitors; Saturdays someone may come in for a few hours."""
    people = np.zeros(minutes)
    gen = np.zeros(minutes)
    arrive_mean = rng.uniform(7.6, 9.3, DESKS) * 60
    stay_mean = rng.uniform(8.2, 9.3, DESKS) * 60
    home_day = rng.permutation([0, 1, 2, 3, 4, 4])            # each desk's home-office weekday
    rate = CO2_PER_PERSON * rng.uniform(0.88, 1.15, DESKS)    # body size and activity

    def stay(start, end, r):
        s, e = int(max(0, start)), int(min(minutes, end))
        if e > s:
            people[s:e] += 1
            gen[s:e] += r

    for d in range(minutes // 1440 + 1):
        date = (START + timedelta(days=d)).date()
        wd = date.weekday()
        base = d * 1440
        if wd < 5 and date not in HOLIDAYS:
            for p in range(DESKS):
                absent = 0.85 if wd == home_day[p] else 0.07        # home office, leave, sick
                if rng.random() < absent:
                    continue
                arrive = rng.normal(arrive_mean[p], 20.0)
                leave = arrive + rng.normal(stay_mean[p] - (50 if wd == 4 else 0), 35.0)
                pauses = []
                if rng.random() < 0.8:                               # lunch out
                    ls = rng.normal(12.2 * 60, 18.0)
                    pauses.append((ls, ls + rng.uniform(25, 55)))
                for _ in range(rng.poisson(1.3)):                    # coffee, errands
                    cs = rng.uniform(arrive + 30, leave - 30)
                    pauses.append((cs, cs + rng.uniform(5, 15)))
                t0 = arrive
                for ps, pe in sorted(pauses):
                    if arrive < ps < leave:
                        stay(base + t0, base + ps, rate[p])
                        t0 = max(t0, pe)
                stay(base + t0, base + leave, rate[p])
            for _ in range(rng.poisson(0.7)):                        # meetings at the big table
                ms = rng.choice(np.arange(9 * 60, 16 * 60 + 1, 15))
                dur = rng.choice([30, 45, 60, 90])
                visitors = int(rng.integers(2, 6))
                for _ in range(visitors):
                    stay(base + ms, base + ms + dur, CO2_PER_PERSON * 1.05)
        elif wd == 5 and rng.random() < 0.35:
            p = int(rng.integers(DESKS))
            s = rng.normal(10 * 60, 40.0)
            stay(base + s, base + s + rng.uniform(150, 300), rate[p])
    return people, gen


def simulate(rng, minutes):
    """One row per minute: true CO2 (ppm), air temperature (°C), relative humidity (%)."""
    t_out, w_out, co2_out, wind, solar = weather(rng, minutes)
    people, gen = occupancy(rng, minutes)
    co2 = np.empty(minutes)
    temp = np.empty(minutes)
    rh = np.empty(minutes)
    c, T, T_mass, w = 440.0, 17.0, 17.0, 7.5        # start of the Monday after a weekend
    heater = 0.0
    window = 0.0                                   # opening: 0 closed, 0.3 tilted, 1 open
    window_until = -1
    dt = 60.0
    for i in range(minutes):
        date = START + timedelta(minutes=i)
        wd, hour = date.weekday(), date.hour + date.minute / 60.0
        workday = wd < 5
        hvac = workday and 6.5 <= hour < 19.0      # building schedule (holidays included)
        setpoint = 21.0 if workday and 6.0 <= hour < 18.0 else 17.0
        n = people[i]
        was = people[i - 1] if i else 0.0

        # Windows: people open them when the air feels stale or warm, and for a few minutes
        # after arriving; they close them when it gets cold or when they leave.
        if window > 0:
            if i >= window_until or (n > 0 and T < 19.0):
                window = 0.0
            elif was > 0 and n == 0 and rng.random() < 0.85:
                window = 0.0                       # else left tilted until the timer ends
        elif n > 0:
            hazard = (1 / 2000 + 1 / 60 / (1 + math.exp(-(c - 1200) / 80))
                      + 1 / 40 / (1 + math.exp(-(T - 24.5) / 0.3)))
            if was == 0 and hour < 11:
                hazard += 0.3
            if rng.random() < hazard:
                window = 1.0 if rng.random() < 0.6 else 0.3
                minutes_open = min(90.0, rng.lognormal(math.log(10.0), 0.6))
                window_until = i + int(minutes_open * (2.5 if window < 1 else 1.0))

        # Outdoor air, m³/s: the ventilation's supply, infiltration (more with wind) and the
        # window (stack effect grows with the temperature difference, and wind).
        q_hvac = HVAC_ACH * VOLUME / 3600.0 if hvac else 0.0
        ach_raw = (0.12 + 0.04 * wind[i]
                   + window * (1.2 + 0.3 * abs(T - t_out[i]) + 0.35 * wind[i]))
        q_raw = ach_raw * VOLUME / 3600.0
        q = q_hvac + q_raw

        # CO2 mass balance, exact for a constant step: V dC/dt = G + Q (C_out - C)
        c_ss = co2_out[i] + gen[i] / q * 1e6
        c = c_ss + (c - c_ss) * math.exp(-q * dt / VOLUME)

        # Heat, two nodes: the air and the room's thermal mass. Radiators (a thermostat, with
        # their own lag), people, equipment, lights and sun heat both; the air exchanges heat
        # with the mass, through the envelope, with the outdoor air of the window and
        # infiltration, and with the supply air.
        target = min(HEATER_MAX_W, max(0.0, HEATER_GAIN * (setpoint - T)))
        heater += (1 - math.exp(-dt / HEATER_TAU_S)) * (target - heater)
        internal = n * (SENSIBLE_PER_PERSON + EQUIPMENT_PER_PERSON) + BASE_LOAD + LIGHTS * (n > 0)
        to_air = 0.6 * heater + 0.7 * internal + 0.3 * solar[i]
        to_mass = 0.4 * heater + 0.3 * internal + 0.7 * solar[i]
        exchange = SURFACE_H * (T_mass - T)
        losses = ((UA_ENVELOPE + RHO_CP * q_raw) * (T - t_out[i])
                  + RHO_CP * q_hvac * (T - HVAC_SUPPLY_C))
        T += dt * (to_air + exchange - losses) / AIR_MASS
        T_mass += dt * (to_mass - exchange) / THERMAL_MASS

        # Water vapour, with the materials' buffering as a larger effective volume.
        vapour = n * VAPOUR_PER_PERSON + 5.0 / 3600.0                # g/s: people, plants
        w_ss = w_out[i] + vapour / q
        w = w_ss + (w - w_ss) * math.exp(-q * dt / (MOISTURE_BUFFER * VOLUME))

        co2[i], temp[i] = c, T
        rh[i] = min(100.0, 100.0 * w / saturation_vapour_density(T))
    return co2, temp, rh


def sensor(rng, co2, temp, rh):
    """An NDIR CO2 sensor with a combined humidity and temperature sensor: diffusion lag,
    noise, a calibration offset, and the readings' resolution (1 ppm, 0.01 °C, 0.1 %RH)."""
    lag = 1 - math.exp(-1.0 / 1.5)                  # 1.5 min time constant of the chamber
    seen = np.empty_like(co2)
    s = co2[0]
    for i, v in enumerate(co2):
        s += lag * (v - s)
        seen[i] = s
    co2_r = np.round(seen + 8.0 + rng.normal(0.0, 1.0, len(co2)) * (4.0 + 0.008 * seen))
    temp_r = np.round(temp + 0.15 + rng.normal(0.0, 0.03, len(co2)), 2)
    rh_r = np.round(np.clip(rh - 0.5 + rng.normal(0.0, 0.2, len(co2)), 0, 100), 1)
    return co2_r.astype(int), temp_r, rh_r


def make_dataset(path: Path) -> None:
    rng = np.random.default_rng(SEED)
    minutes = DAYS * 1440 + HORIZON_MIN
    co2, temp, rh = sensor(rng, *simulate(rng, minutes))
    rows = DAYS * 1440 // SAMPLE_MIN
    ahead = HORIZON_MIN // SAMPLE_MIN
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("time,co2,temperature,humidity,co2_in_10min\n")
        for r in range(rows):
            i = r * SAMPLE_MIN
            when = (START + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M")
            f.write(f"{when},{co2[i]},{temp[i]:.2f},{rh[i]:.1f},{co2[i + ahead * SAMPLE_MIN]}\n")


# ------------------------------------------------------------------ specs.json
def make_spec(path: Path) -> dict:
    # Normalization from the training rows (the first 21 days) as written in the CSV.
    data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4), dtype=np.float64)
    n_test = math.floor(len(data) * TEST_FRACTION + 0.5)
    train = data[: len(data) - n_test]

    def r(v):
        return [round(float(x), 4) for x in v]

    return {
        "version": 1,
        "name": "co2",
        "description": "office CO2 in 10 minutes from the last 48 minutes of CO2, temperature "
                       "and humidity (2-minute steps): LSTM 20 and a dense output, trained on a "
                       "simulated office",
        "task": "regression",
        "metric": "mae",
        "inputs": [{
            "name": "history", "shape": [1, WINDOW, 3], "layout": "ntc", "dtype": "float32",
            "normalization": {"mean": r(train[:, :3].mean(0)), "std": r(train[:, :3].std(0))},
            "unit": "ppm, °C, %RH",
        }],
        "outputs": [{
            "name": "co2_next", "shape": [1, 1], "layout": "nc", "dtype": "float32",
            "normalization": {"mean": r(train[:, 3:].mean(0)), "std": r(train[:, 3:].std(0))},
            "unit": "ppm",
        }],
        "dataset": {
            "file": "dataset.csv",
            "header": True,
            "label_columns": ["co2_in_10min"],
            "feature_columns": ["co2", "temperature", "humidity"],
            "split": {"test_fraction": TEST_FRACTION, "order": "ordered"},
            "window": WINDOW,
            # Calibration takes the first training windows, which start on Monday at midnight:
            # the default 200 would be an empty office at night (CO2 420-470 ppm). One week
            # covers workdays, the holiday and the weekend.
            "representative_rows": REPRESENTATIVE_ROWS,
        },
        "training": {"epochs": 5, "batch_size": BATCH, "learning_rate": 0.001,
                     "optimizer": "adam", "loss": "mse"},
    }


# ------------------------------------------------------------------ the network
def build_model() -> tf.keras.Model:
    L = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((WINDOW, 3), name="history"),
        L.LSTM(HIDDEN, unroll=False, name="lstm"),   # starts from zero state every window
        L.Dense(1, name="co2_next"),
    ], name="co2")


def train(out: Path):
    """Writes dataset.csv and specs.json into `out`, trains; returns (model, spec, data)."""
    common.seed_everything(SEED)
    make_dataset(out / "dataset.csv")
    raw_spec = make_spec(out / "dataset.csv")
    spec = tflm_specs.validate(raw_spec)
    common.write_json(out / "specs.json", raw_spec)
    data = tflm_specs.Dataset(out, spec)

    (inp,), (outp,) = spec["inputs"], spec["outputs"]
    x_train, y_train = data.examples("train")
    model = build_model()
    steps = EPOCHS * math.ceil(len(y_train) / BATCH)
    schedule = tf.keras.optimizers.schedules.CosineDecay(LR, steps)
    model.compile(optimizer=tf.keras.optimizers.Adam(schedule), loss="mse")
    model.fit(tflm_specs.normalize_input(x_train[0], inp),
              tflm_specs.normalize_input(y_train, outp),
              epochs=EPOCHS, batch_size=BATCH, shuffle=True, verbose=0)
    return model, spec, data


def persistence_metrics(spec, data) -> dict:
    """The naive forecast: the CO2 of the last row of the window, 10 minutes on."""
    x_test, y_test = data.examples("test")
    err = x_test[0][:, -1, 0].astype(np.float64) - y_test[:, 0]
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2)))}


def check_onnx(model, spec, data, path: Path) -> float:
    """Largest |onnxruntime - Keras| over the test windows (model space)."""
    import onnxruntime as ort

    (inp,), (outp,) = spec["inputs"], spec["outputs"]
    xs = tflm_specs.normalize_input(data.examples("test")[0][0], inp)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y_onnx = sess.run([outp["name"]], {inp["name"]: xs})[0]
    y_keras = model.predict(xs, batch_size=256, verbose=0)
    return float(np.max(np.abs(y_onnx - y_keras)))


# ------------------------------------------------------------------ TensorFlow's converter
def batch1_tf_keras(model):
    """The same network with Keras 2 (tf-keras) layers, batch fixed to 1, sharing the
    weights: TensorFlow's converter fuses only a tf-keras LSTM into one
    UNIDIRECTIONAL_SEQUENCE_LSTM (with variable state tensors), and only with a fixed batch."""
    import tf_keras

    x = tf_keras.Input((WINDOW, 3), batch_size=1, name="history")
    lstm = tf_keras.layers.LSTM(HIDDEN, name="lstm")
    dense = tf_keras.layers.Dense(1, name="co2_next")
    m = tf_keras.Model(x, dense(lstm(x)), name="co2_batch1")
    lstm.set_weights(model.get_layer("lstm").get_weights())
    dense.set_weights(model.get_layer("co2_next").get_weights())
    return m


def tflite_baselines(model, spec, data) -> None:
    model_b1 = batch1_tf_keras(model)
    for mode in ("float", "int8", "16x8"):
        try:
            flat = common.tflite_convert(model_b1, spec, data, mode)
        except Exception as e:  # noqa: BLE001  (TensorFlow raises ConverterError, RuntimeError)
            msg = " ".join(str(e).split())
            print(f"TensorFlow {mode}: REFUSED by TensorFlow's converter: {type(e).__name__}: {msg}")
            continue
        ops = sorted({o["op_name"] for o in _ops(flat)})
        print(f"TensorFlow {mode} ({len(flat)}-byte .tflite, ops {', '.join(ops)}), "
              "LiteRT reference kernels, test split:")
        for reset, what in ((True, "state reset before every window"),
                            (False, "no reset (state carried over: the forgotten reset)")):
            m = common.tflite_evaluate(flat, spec, data, reset)
            print(f"  {what}: mae {m['mae']:.2f}, rmse {m['rmse']:.2f}")


def _ops(flat: bytes):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=flat)
    return it._get_ops_details()  # noqa: SLF001  (LiteRT has no public op listing)


def fmt(m: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tflite-baseline", action="store_true",
                    help="convert with TensorFlow (float, int8, 16x8) and print the test MAE")
    ap.add_argument("--out-dir", type=Path, default=HERE,
                    help="where to write the files (default: this script's directory)")
    args = ap.parse_args()
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)

    model, spec, data = train(out)
    n_train, n_test = len(data.examples("train")[1]), len(data.examples("test")[1])
    print(f"parameters: {model.count_params()}; windows of {WINDOW} rows: {n_train} training, "
          f"{n_test} test")
    print("persistence (CO2 now as the forecast) on the test split:",
          fmt(persistence_metrics(spec, data)))
    print("float (Keras) on the test split:", fmt(common.float_metrics(model, spec, data)))
    common.export_onnx(model, spec, out / "model.onnx", positional_names=True)
    print(f"onnxruntime vs Keras on the test windows: max |difference| "
          f"{check_onnx(model, spec, data, out / 'model.onnx'):.2e} (normalized output)")
    if args.tflite_baseline:
        tflite_baselines(model, spec, data)


if __name__ == "__main__":
    main()
