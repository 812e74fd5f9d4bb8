//! Raw values to model tensors and back: the affine maps the generated `quantize_input` /
//! `dequantize_output` functions apply, with the dataset normalization and the tensor's
//! quantization folded into one multiply-add per element.
//!
//! The host tool evaluates models through these same functions, so the metric it reports is
//! the one the firmware computes.

/// `x * a + b` rounded half away from zero and saturated to `i8`; NaN gives `nan`
/// (the generated code passes the tensor's zero point: "no information" is the model's 0).
#[inline]
pub fn to_i8(x: f32, a: f32, b: f32, nan: i8) -> i8 {
    if x.is_nan() {
        return nan;
    }
    // `as` saturates (and maps ±inf to the bounds).
    libm::roundf(x * a + b).clamp(-128.0, 127.0) as i8
}

/// [`to_i8`] for `i16` tensors.
#[inline]
pub fn to_i16(x: f32, a: f32, b: f32, nan: i16) -> i16 {
    if x.is_nan() {
        return nan;
    }
    libm::roundf(x * a + b).clamp(-32768.0, 32767.0) as i16
}

/// `x * a + b` for float tensors; NaN gives `nan`.
#[inline]
pub fn to_f32(x: f32, a: f32, b: f32, nan: f32) -> f32 {
    if x.is_nan() {
        return nan;
    }
    x * a + b
}

/// A quantized or float output element back to raw units: `q * a + b`.
#[inline]
pub fn from_q(q: i32, a: f32, b: f32) -> f32 {
    q as f32 * a + b
}

/// A float output element back to raw units: `y * a + b`.
#[inline]
pub fn from_f32(y: f32, a: f32, b: f32) -> f32 {
    y * a + b
}

/// Index of the largest element (the first on ties; NaN never wins over a number), `None` for
/// an empty slice.
pub fn argmax<T: PartialOrd + Copy>(xs: &[T]) -> Option<usize> {
    let mut best: Option<(usize, T)> = None;
    for (i, &x) in xs.iter().enumerate() {
        let replace = match best {
            None => true,
            // `b` is NaN when it is not comparable with itself.
            Some((_, b)) => x > b || b.partial_cmp(&b).is_none(),
        };
        if replace {
            best = Some((i, x));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_rounds_half_away_and_maps_nan() {
        assert_eq!(to_i8(1.0, 2.5, 0.0, 0), 3); // 2.5 -> 3
        assert_eq!(to_i8(-1.0, 2.5, 0.0, 0), -3);
        assert_eq!(to_i8(1000.0, 1.0, 0.0, 0), 127);
        assert_eq!(to_i8(f32::NEG_INFINITY, 1.0, 0.0, 0), -128);
        assert_eq!(to_i8(f32::NAN, 1.0, 0.0, -7), -7);
        assert_eq!(to_i16(1e9, 1.0, 0.0, 0), 32767);
        assert_eq!(to_f32(f32::NAN, 1.0, 0.0, 0.5), 0.5);
        assert_eq!(from_q(-128, 0.5, 64.0), 0.0);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[1i8, 5, 5, -3]), Some(1));
        assert_eq!(argmax::<f32>(&[]), None);
        assert_eq!(argmax(&[f32::NAN, 1.0]), Some(1));
    }
}
