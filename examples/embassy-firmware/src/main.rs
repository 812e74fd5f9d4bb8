//! `include_quantized_model!` in an Embassy application on an nRF52840: the CO2 forecaster.
//! A sensor task samples a (synthetic) room every sampling period: CO2, temperature and
//! humidity, as an SCD41-class sensor gives them (a real application reads it over I2C here),
//! and sends each reading over a Channel; the inference task keeps the last 24 readings and,
//! once it has them, predicts the CO2 level 10 minutes ahead with the int8 LSTM converted at
//! build time (`models/co2`), logging the forecast and the inference time with defmt.
//!
//! The model was trained on 2-minute samples; the demo samples every second so that a
//! forecast appears quickly (set `PERIOD` to 120 s for real use).
//!
//!     cargo run --release        # flash with probe-rs and print the defmt log
#![no_std]
#![no_main]

use defmt::{error, info};
use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::ThreadModeRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::{Duration, Instant, Ticker};
use static_cell::StaticCell;
use {defmt_rtt as _, panic_probe as _};

/// The model: `co2::Model`, `co2::Arena`, `co2::INPUT_SHAPE` ([1, 24, 3]), ... (int8,
/// converted while this crate compiles).
mod co2 {
    tflm_macros::include_quantized_model!("../../models/co2", quant = "int8");
}

/// Readings per window (the model's time steps) and values per reading.
const STEPS: usize = co2::INPUT_SHAPE[1];
const FEATURES: usize = co2::INPUT_SHAPE[2];

/// The sampling period (the training data's is 2 minutes).
const PERIOD: Duration = Duration::from_secs(1);

/// One sample of the room sensor.
#[derive(Clone, Copy)]
struct Reading {
    seq: u32,
    /// CO2 (ppm), temperature (°C), relative humidity (%): the model's input order.
    values: [f32; FEATURES],
    at: Instant,
}

/// Sensor → inference, up to 4 readings in flight.
static READINGS: Channel<ThreadModeRawMutex, Reading, 4> = Channel::new();

/// The interpreter's arena: exactly what the model needs (`co2::ARENA_SIZE` bytes).
static ARENA: StaticCell<co2::Arena> = StaticCell::new();

/// A synthetic office: people in for 60 samples, out for 60; CO2 relaxes towards 1,100 ppm
/// while occupied and towards the outdoor 420 ppm when empty; temperature and humidity follow
/// the occupancy a little; a small pseudo-random sensor noise on top.
struct Room {
    co2: f32,
    temperature: f32,
    humidity: f32,
    noise: u32,
}

impl Room {
    fn step(&mut self, seq: u32) -> [f32; FEATURES] {
        let occupied = (seq / 60) % 2 == 0;
        let (co2, t, h) = if occupied {
            (1100.0, 22.5, 48.0)
        } else {
            (420.0, 20.0, 40.0)
        };
        self.co2 += (co2 - self.co2) * 0.06;
        self.temperature += (t - self.temperature) * 0.03;
        self.humidity += (h - self.humidity) * 0.04;
        self.noise = self.noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let n = (self.noise >> 16) as f32 / 65_536.0 - 0.5; // [-0.5, 0.5)
        [
            self.co2 + 10.0 * n,
            self.temperature + 0.05 * n,
            self.humidity + 0.2 * n,
        ]
    }
}

#[embassy_executor::task]
async fn sensor() {
    let mut ticker = Ticker::every(PERIOD);
    let mut room = Room {
        co2: 450.0,
        temperature: 20.5,
        humidity: 41.0,
        noise: 1,
    };
    let mut seq = 0u32;
    loop {
        let values = room.step(seq);
        let at = Instant::now();
        READINGS.send(Reading { seq, values, at }).await;
        seq = seq.wrapping_add(1);
        ticker.next().await;
    }
}

#[embassy_executor::task]
async fn inference(mut model: co2::Model<'static>) {
    // The last STEPS readings, oldest first, flattened as the model's [1, 24, 3] input.
    let mut window = [0f32; co2::INPUT_LEN];
    let mut filled = 0;
    loop {
        let r = READINGS.receive().await;
        window.copy_within(FEATURES.., 0);
        window[co2::INPUT_LEN - FEATURES..].copy_from_slice(&r.values);
        filled = (filled + 1).min(STEPS);
        if filled < STEPS {
            info!("#{}: CO2 {} ppm (window {}/{})", r.seq, r.values[0], filled, STEPS);
            continue;
        }
        let t0 = Instant::now();
        // `predict` starts every window from zero LSTM state, as the model was trained.
        match model.predict(&window) {
            Ok(y) => info!(
                "#{}: CO2 {} ppm, {} °C, {} %RH -> in 10 min {} ppm; inference {} us, {} us after the reading",
                r.seq,
                r.values[0],
                r.values[1],
                r.values[2],
                y[0],
                t0.elapsed().as_micros(),
                (t0 - r.at).as_micros()
            ),
            Err(e) => error!("inference failed: {}", defmt::Debug2Format(&e)),
        }
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let _peripherals = embassy_nrf::init(Default::default());
    info!(
        "tflm-rs on nRF52840: co2 LSTM, int8, model {} bytes, arena {} bytes",
        co2::MODEL_BYTES.len(),
        co2::ARENA_SIZE
    );
    let arena = ARENA.init(co2::Arena::zeroed());
    let model = match co2::Model::new(&mut arena.0) {
        Ok(m) => m,
        Err(e) => defmt::panic!("the model does not load: {}", defmt::Debug2Format(&e)),
    };
    spawner.spawn(inference(model).unwrap());
    spawner.spawn(sensor().unwrap());
}
