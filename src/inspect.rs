//! A readable summary of a TFLite model: tensors, operators, arena bytes and MACs.

use std::fmt::Write;
use tflm_runtime::schema::op;
use tflm_runtime::{Layout, Model, Operator, Tensor};

/// Multiply-accumulates of one operator (0 for ops without weights). An LSTM counts its
/// weight matrices (and peepholes, projection) once per time step and batch row.
pub fn macs(model: &Model<'_>, operator: &Operator<'_>) -> u64 {
    let tensor = |k: usize| operator.input(k).map(|t| model.tensor(t));
    let out = operator.output(0).map(|t| model.tensor(t));
    if operator.code == op::UNIDIRECTIONAL_SEQUENCE_LSTM {
        let Some(out) = out else { return 0 };
        let n_output = out.shape.dims().last().unwrap_or(1).max(1) as u64;
        let rows = out.shape.num_elements() as u64 / n_output;
        let weights: u64 = (1..=11)
            .chain([16])
            .filter_map(tensor)
            .map(|t| t.shape.num_elements() as u64)
            .sum();
        return rows * weights;
    }
    let (Some(filter), Some(out)) = (tensor(1), out) else {
        return 0;
    };
    let out_elems = out.shape.num_elements() as u64;
    let f = |i: usize| filter.shape.dim(i) as u64;
    match operator.code {
        op::FULLY_CONNECTED => out_elems * f(1),
        op::CONV_2D => out_elems * f(1) * f(2) * f(3),
        op::DEPTHWISE_CONV_2D => out_elems * f(1) * f(2),
        _ => 0,
    }
}

/// Multiply-accumulates of the whole model.
pub fn total_macs(model: &Model<'_>) -> u64 {
    (0..model.num_operators())
        .map(|i| macs(model, &model.operator(i)))
        .sum()
}

fn describe_tensor(t: &Tensor<'_>) -> String {
    let shape: Vec<usize> = t.shape.dims().collect();
    let mut s = format!(
        "{:>4}  {:<8} {:<18}",
        t.index,
        t.dtype.name(),
        format!("{shape:?}")
    );
    let q = &t.quantization;
    if q.is_quantized() {
        if q.is_per_channel() {
            let _ = write!(
                s,
                " per-channel x{} (axis {})",
                q.scales.len(),
                q.quantized_dimension
            );
        } else {
            let _ = write!(s, " scale {} zp {}", q.scale(), q.zero_point());
        }
    }
    let role = if t.is_constant() {
        "const"
    } else if t.is_variable {
        "variable"
    } else {
        "activation"
    };
    let _ = write!(s, "  [{role}] {}", t.name);
    s
}

/// The `tflm inspect` report.
pub fn report(model: &Model<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "description: {:?}", model.description());
    let io = |n: usize, f: &dyn Fn(usize) -> Option<usize>| -> Vec<usize> {
        (0..n).filter_map(f).collect()
    };
    let _ = writeln!(
        s,
        "inputs: {:?}  outputs: {:?}",
        io(model.num_inputs(), &|i| model.input_index(i)),
        io(model.num_outputs(), &|i| model.output_index(i))
    );
    let _ = writeln!(s, "\ntensors ({}):", model.num_tensors());
    for t in 0..model.num_tensors() {
        let _ = writeln!(s, "{}", describe_tensor(&model.tensor(t)));
    }
    let _ = writeln!(s, "\noperators ({}):", model.num_operators());
    for i in 0..model.num_operators() {
        let o = model.operator(i);
        let inputs: Vec<i32> = o.inputs.iter().collect();
        let outputs: Vec<i32> = o.outputs.iter().collect();
        let m = macs(model, &o);
        let _ = write!(
            s,
            "{i:>4}  {} v{}  {inputs:?} -> {outputs:?}",
            o.name(),
            o.version
        );
        if m > 0 {
            let _ = write!(s, "  {m} MACs");
        }
        let _ = writeln!(s);
    }
    let layout: Layout = model.layout();
    let _ = writeln!(
        s,
        "\narena: {} bytes (tables {} + operator data {} + state {} + activations {})",
        layout.total,
        layout.slots + layout.op_table,
        layout.op_data,
        layout.state,
        layout.activations
    );
    let _ = writeln!(s, "MACs: {}", total_macs(model));
    s
}
