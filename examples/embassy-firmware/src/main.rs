//! `include_quantized_model!` in an Embassy application on an nRF52840: a sensor task samples a
//! synthetic input (an angle sweeping 0..2π; a real application reads an ADC or an I2C sensor
//! here) every 100 ms and sends it over a Channel; the inference task receives each reading,
//! predicts sin(x) with the int8 model converted at build time, and logs the prediction, the
//! exact value and the inference time with defmt.
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

/// The model: `sine::Model`, `sine::Arena`, `sine::INPUT_LEN`, ... (int8, converted while this
/// crate compiles).
mod sine {
    tflm_macros::include_quantized_model!("../../models/sine", quant = "int8");
}

/// One sample of the (synthetic) sensor.
#[derive(Clone, Copy)]
struct Reading {
    seq: u32,
    /// The model's raw input (radians).
    x: f32,
    at: Instant,
}

/// Sensor → inference, up to 4 readings in flight.
static READINGS: Channel<ThreadModeRawMutex, Reading, 4> = Channel::new();

/// The interpreter's arena: exactly what the model needs (`sine::ARENA_SIZE` bytes).
static ARENA: StaticCell<sine::Arena> = StaticCell::new();

/// Samples per sweep of [0, 2π).
const STEPS: u32 = 64;

#[embassy_executor::task]
async fn sensor() {
    let mut ticker = Ticker::every(Duration::from_millis(100));
    let mut seq = 0u32;
    loop {
        let x = (seq % STEPS) as f32 * (2.0 * core::f32::consts::PI / STEPS as f32);
        let at = Instant::now();
        READINGS.send(Reading { seq, x, at }).await;
        seq = seq.wrapping_add(1);
        ticker.next().await;
    }
}

#[embassy_executor::task]
async fn inference(mut model: sine::Model<'static>) {
    loop {
        let r = READINGS.receive().await;
        let t0 = Instant::now();
        match model.predict(&[r.x]) {
            Ok(y) => info!(
                "#{}: x = {} rad -> model {} (sin {}); inference {} us, {} us after the reading",
                r.seq,
                r.x,
                y[0],
                sin(r.x),
                t0.elapsed().as_micros(),
                (t0 - r.at).as_micros()
            ),
            Err(e) => error!("inference failed: {}", defmt::Debug2Format(&e)),
        }
    }
}

/// sin(x) for the log, to compare with the model (range reduction and a Taylor polynomial, no
/// libm dependency).
fn sin(x: f32) -> f32 {
    use core::f32::consts::PI;
    let mut x = x % (2.0 * PI);
    if x > PI {
        x -= 2.0 * PI;
    } else if x < -PI {
        x += 2.0 * PI;
    }
    if x > PI / 2.0 {
        x = PI - x;
    } else if x < -PI / 2.0 {
        x = -PI - x;
    }
    let x2 = x * x;
    x * (1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0))))
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let _peripherals = embassy_nrf::init(Default::default());
    info!(
        "tflm-rs on nRF52840: sine, int8, model {} bytes, arena {} bytes",
        sine::MODEL_BYTES.len(),
        sine::ARENA_SIZE
    );
    let arena = ARENA.init(sine::Arena::zeroed());
    let model = match sine::Model::new(&mut arena.0) {
        Ok(m) => m,
        Err(e) => defmt::panic!("the model does not load: {}", defmt::Debug2Format(&e)),
    };
    spawner.spawn(inference(model).unwrap());
    spawner.spawn(sensor().unwrap());
}
