//! `tflm prune MODEL.tflite`: magnitude pruning of an int8 `.tflite` as it is, for measuring
//! sparse kernels on real quantized networks (person_detect) that have no float model or
//! dataset here. Weights are zeroed in place (`tflm::prune::prune_int8`), nothing is
//! re-quantized, and the file is written with the chosen `--sparse-weights`.

use clap::Args;
use std::path::PathBuf;
use tflm::prune::{PruneBlock, Ranking};
use tflm::sparse::SparseWeights;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// The int8 `.tflite` to prune.
    model: PathBuf,
    /// The fraction of each weight tensor set to zero.
    #[arg(short = 'p', long, value_name = "SPARSITY")]
    prune: f32,
    /// Prune FULLY_CONNECTED weights and CONV_2D filters (input channels a multiple of 4) in
    /// 1x4 blocks, ranked per layer by the mean real magnitude of the block.
    #[arg(long = "prune-block", value_name = "BLOCK")]
    prune_block: Option<PruneBlock>,
    /// Operators to leave dense: operator indices or weight tensor names, comma-separated.
    #[arg(long = "prune-skip", value_delimiter = ',', value_name = "LAYER")]
    prune_skip: Vec<String>,
    /// auto, fast, always or never (pruned weights stored dense: LiteRT and TFLite Micro).
    #[arg(long = "sparse-weights", default_value = "auto", value_name = "WHEN")]
    sparse_weights: SparseWeights,
    /// The pruned `.tflite` to write.
    #[arg(short = 'o', long)]
    output: PathBuf,
}

pub fn prune_tflite(args: &PruneArgs) -> Result<(), String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", args.model.display());
    let bytes = std::fs::read(&args.model).map_err(|e| at(&e))?;
    let mut graph = tflm::tflite_import::import(&bytes).map_err(|e| at(&e))?;
    let ranking = match args.prune_block {
        Some(PruneBlock::OneByFour) => Ranking::Blocks1x4,
        None => Ranking::PerLayer,
    };
    let skip = tflm::prune::skip_list_int8(&graph, &args.prune_skip).map_err(|e| at(&e))?;
    let layers =
        tflm::prune::prune_int8(&mut graph, args.prune, ranking, &skip).map_err(|e| at(&e))?;
    let out = tflm::tflite_writer::write_with(&graph, args.sparse_weights).map_err(|e| at(&e))?;
    std::fs::write(&args.output, &out).map_err(|e| format!("{}: {e}", args.output.display()))?;
    for l in &layers {
        eprintln!("  pruned {l}");
    }
    eprintln!(
        "{}: {} -> {} bytes (sparse weights {})",
        args.output.display(),
        bytes.len(),
        out.len(),
        args.sparse_weights
    );
    Ok(())
}
