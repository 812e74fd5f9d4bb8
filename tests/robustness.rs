//! Never panics: every byte of the peer models mutated (several values per byte), parsed, and
//! run when it parses; plus random byte strings. Every outcome must be `Ok` or `Err`. The same
//! mutants opened without verification (`Model::from_build_verified`, which trusts the build
//! to have verified the bytes) must not panic either: only the numbers may be wrong.

mod common;

use common::peer_models;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tflm::run::{arena, AlignedBytes};
use tflm_runtime::{ops, Interpreter, Model};

/// xorshift64*: a fixed, dependency-free pseudo-random sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Parses `bytes`; when they parse, plans an arena and, if `run`, invokes twice around a reset.
fn exercise(bytes: &[u8], run: bool) -> bool {
    let aligned = AlignedBytes::new(bytes);
    let Ok(model) = Model::parse(aligned.as_slice()) else {
        return false;
    };
    let size = model.arena_size();
    // A mutated shape can ask for gigabytes; planning and refusing it is the check that
    // matters, running it would only take time.
    let run = run && size <= 1 << 22;
    // A too-small arena must be refused, not crash.
    let mut small = arena(size / 2);
    if size > 64 {
        assert!(Interpreter::new(&model, small.as_mut_slice()).is_err());
    }
    let mut a = arena(size);
    let mut interpreter =
        Interpreter::new(&model, a.as_mut_slice()).expect("arena_size() bytes must suffice");
    if !run {
        return true;
    }
    let _ = interpreter.invoke();
    interpreter.reset_state();
    let _ = interpreter.invoke();
    true
}

/// Where a mutant opened with `Model::from_build_verified` ended.
#[derive(Clone, Copy, Debug, Default)]
struct Trusted {
    /// `from_build_verified` refused it (its few structural checks).
    refused_open: usize,
    /// `Interpreter::new` refused it (an operator's `prepare`, the plan, the arena).
    refused_new: usize,
    /// An arena over 4 MiB: planned, and `new` over a small arena tried, not run.
    too_big: usize,
    /// Interpreter built and (when sampled) invoked, each invoke `Ok` or `Err`.
    built: usize,
    /// Invokes that returned an error.
    invoke_errors: usize,
    panics: usize,
}

/// Opens `bytes` as build-verified with every kernel, plans, builds the interpreter and, if
/// `run`, invokes twice around a reset; notes where it ended in `seen`.
fn exercise_trusted(bytes: &[u8], run: bool, seen: &mut Trusted) {
    let aligned = AlignedBytes::new(bytes);
    let Ok(model) = Model::from_build_verified(aligned.as_slice(), ops::ALL) else {
        seen.refused_open += 1;
        return;
    };
    let size = model.arena_size();
    if size > 1 << 22 {
        seen.too_big += 1;
        let mut a = arena(1 << 12);
        let _ = Interpreter::new(&model, a.as_mut_slice());
        return;
    }
    let mut a = arena(size);
    let Ok(mut interpreter) = Interpreter::new(&model, a.as_mut_slice()) else {
        seen.refused_new += 1;
        return;
    };
    seen.built += 1;
    if run {
        seen.invoke_errors += interpreter.invoke().is_err() as usize;
        interpreter.reset_state();
        seen.invoke_errors += interpreter.invoke().is_err() as usize;
    }
}

/// [`exercise_trusted`], a panic counted (and its mutant named) instead of unwinding;
/// whether `from_build_verified` accepted the bytes.
fn exercise_trusted_caught(bytes: &[u8], run: bool, seen: &mut Trusted, what: &str) -> bool {
    let mut local = Trusted::default();
    if catch_unwind(AssertUnwindSafe(|| {
        exercise_trusted(bytes, run, &mut local)
    }))
    .is_err()
    {
        eprintln!("PANIC: {what}");
        seen.panics += 1;
        return true;
    }
    seen.refused_open += local.refused_open;
    seen.refused_new += local.refused_new;
    seen.too_big += local.too_big;
    seen.built += local.built;
    seen.invoke_errors += local.invoke_errors;
    local.refused_open == 0
}

/// Byte ranges of constant tensor data (weights), where a mutation changes numbers, not
/// structure.
fn weight_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    (0..model.num_tensors())
        .filter_map(|t| {
            let t = model.tensor(t);
            t.data.map(|d| (t.data_offset, t.data_offset + d.len()))
        })
        .collect()
}

/// Mutates every structural byte of a model (and every `weight_stride`-th weight byte) to
/// several values and exercises each mutant; a mutant is also run when `run_every` divides
/// its number (running a large model in a debug build is slow).
fn mutate_model(name: &str, weight_stride: usize, run_every: usize) {
    mutate_model_sampled(name, 1, weight_stride, run_every)
}

/// [`mutate_model`] over every `structure_stride`-th structural byte only.
fn mutate_model_sampled(
    name: &str,
    structure_stride: usize,
    weight_stride: usize,
    run_every: usize,
) {
    mutate(name, structure_stride, weight_stride, &mut |bytes, n, _| {
        exercise(bytes, n % run_every == 0)
    });
}

/// The mutants of [`mutate_model_sampled`] opened with `Model::from_build_verified` (one in
/// `run_every` invoked): none may panic. Returns where they ended.
fn mutate_model_trusted(
    name: &str,
    structure_stride: usize,
    weight_stride: usize,
    run_every: usize,
) -> Trusted {
    let mut seen = Trusted::default();
    mutate(
        name,
        structure_stride,
        weight_stride,
        &mut |bytes, n, what| exercise_trusted_caught(bytes, n % run_every == 0, &mut seen, what),
    );
    eprintln!("{name} through from_build_verified: {seen:?}");
    assert_eq!(
        seen.panics, 0,
        "{name}: mutants that panicked (listed above)"
    );
    seen
}

/// Every structural byte (one in `structure_stride`) and every `weight_stride`-th weight byte
/// of peer model `name` set to several values, each mutant given to `exercise` with its
/// number and a description; `exercise` says whether the mutant parsed.
fn mutate(
    name: &str,
    structure_stride: usize,
    weight_stride: usize,
    exercise: &mut dyn FnMut(&[u8], usize, &str) -> bool,
) {
    let Some(dir) = peer_models() else { return };
    let original = std::fs::read(dir.join(name)).unwrap();
    // Models the runtime rejects have no weight map: mutate everything.
    let weights = if Model::parse(AlignedBytes::new(&original).as_slice()).is_ok() {
        weight_ranges(&original)
    } else {
        Vec::new()
    };
    let in_weights = |p: usize| weights.iter().any(|&(a, b)| (a..b).contains(&p));
    let mut bytes = original.clone();
    let (mut parsed, mut tried) = (0usize, 0usize);
    for pos in 0..bytes.len() {
        let stride = if in_weights(pos) {
            weight_stride
        } else {
            structure_stride
        };
        if pos % stride != 0 {
            continue;
        }
        for v in [
            0x00u8,
            0xFF,
            0x7F,
            0x80,
            original[pos] ^ 0x01,
            original[pos].wrapping_add(16),
        ] {
            if v == original[pos] {
                continue;
            }
            bytes[pos] = v;
            tried += 1;
            let what = format!("{name} byte {pos} = {v:#04x}");
            parsed += exercise(&bytes, tried, &what) as usize;
        }
        bytes[pos] = original[pos];
    }
    eprintln!("{name}: {tried} mutants, {parsed} accepted");
    assert!(tried > 0);
}

#[test]
fn mutated_hello_world_never_panics() {
    mutate_model("hello_world_int8.tflite", 1, 1);
    mutate_model("hello_world_float.tflite", 1, 1);
}

#[test]
fn mutated_micro_speech_never_panics() {
    mutate_model("micro_speech_quantized.tflite", 16, 4);
}

#[test]
fn mutated_keyword_and_add_never_panic() {
    mutate_model("keyword_scrambled.tflite", 16, 4);
    mutate_model("simple_add_model.tflite", 1, 1);
}

#[test]
fn mutated_lstm_and_custom_op_models_never_panic() {
    mutate_model("trained_lstm_int8.tflite", 1, 1);
    mutate_model("audio_preprocessor_int8.tflite", 1, 1);
}

#[test]
fn mutated_person_detect_never_panics() {
    // 300 KB with 70 KB of tables (per-channel scales and zero points): every 5th structural
    // byte, every 4096th weight byte, and one mutant in 200 run (an invoke takes milliseconds
    // in a test build). The smaller models above cover every byte.
    mutate_model_sampled("person_detect.tflite", 5, 4096, 200);
}

/// 20,000 random byte strings up to 512 bytes from `seed`; half of them get a valid
/// identifier and a root offset inside them, so that the reader goes past the header.
fn random_strings(seed: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut rng = Rng(seed);
    (0..20_000).map(move |i| {
        let len = (rng.next() % 512) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if i % 2 == 0 && len >= 8 {
            b[4..8].copy_from_slice(b"TFL3");
            b[0..4].copy_from_slice(&((rng.next() % len as u64) as u32).to_le_bytes());
        }
        b
    })
}

#[test]
fn random_bytes_never_panic() {
    for b in random_strings(0x5EED) {
        exercise(&b, true);
    }
}

#[test]
fn build_verified_hello_world_and_add_mutants_never_panic() {
    for name in [
        "hello_world_int8.tflite",
        "hello_world_float.tflite",
        "simple_add_model.tflite",
    ] {
        let seen = mutate_model_trusted(name, 1, 1, 1);
        assert!(seen.built > 0 && seen.refused_new > 0, "{name}: {seen:?}");
    }
}

#[test]
fn build_verified_speech_and_keyword_mutants_never_panic() {
    mutate_model_trusted("micro_speech_quantized.tflite", 1, 16, 4);
    mutate_model_trusted("keyword_scrambled.tflite", 1, 16, 4);
}

#[test]
fn build_verified_lstm_and_custom_op_mutants_never_panic() {
    mutate_model_trusted("trained_lstm_int8.tflite", 1, 1, 1);
    mutate_model_trusted("audio_preprocessor_int8.tflite", 1, 1, 1);
}

#[test]
fn build_verified_person_detect_mutants_never_panic() {
    mutate_model_trusted("person_detect.tflite", 5, 4096, 200);
}

#[test]
fn build_verified_random_bytes_never_panic() {
    let mut seen = Trusted::default();
    for (i, b) in random_strings(0xB17D).enumerate() {
        exercise_trusted_caught(&b, true, &mut seen, &format!("random string {i}"));
    }
    eprintln!("random bytes through from_build_verified: {seen:?}");
    assert_eq!(seen.panics, 0);
}
