//! Training on the model's own dataset, at build time: fine-tuning after (or while) pruning,
//! and quantization-aware training (QAT). The "train" stage of `DESIGN.md`'s data flow.
//!
//! The float IR graph becomes a candle model ([`net`]), candle's autograd and optimizers train
//! it on the training split (no backward pass is written by hand), and the trained weights are
//! written back into the graph, which the pipeline then calibrates and quantizes as usual.
//!
//! - Loss, optimizer, learning rate, batch size and epochs come from the specs' `training`
//!   block (`docs/specs.md`): MSE (or MAE) on normalized targets for regression,
//!   cross-entropy for classification.
//! - Reproducible: examples are shuffled each epoch with the seeded SplitMix64 permutation of
//!   the dataset split, and candle's CPU kernels are deterministic, so two runs give the same
//!   weights bit for bit (`tests/train.rs` checks the `.tflite` bytes).
//! - Pruning with fine-tuning ([`schedule`]): tfmot's polynomial-decay sparsity schedule,
//!   masks by magnitude enforced after every step.
//! - Weight averaging ([`average`]): optionally, the final weights are the moving average of
//!   those after the sparsity ramp instead of the last step's.
//! - QAT ([`qat`]): fake quantization with a straight-through estimator, int8 as the int8 mode
//!   quantizes, LSTM included; the observed ranges are returned for the conversion.

pub mod average;
pub mod data;
pub mod lr;
pub mod lstm;
pub mod net;
pub mod qat;
pub mod schedule;

use crate::calibrate::Ranges;
use crate::dataset::Dataset;
use crate::ir::{Graph, TensorId};
use crate::prune::{PruneError, Ranking};
use crate::specs::{Optimizer, Specs};
use average::WeightAverage;
pub use average::{Averaging, PRUNING_AVERAGING};
use candle_nn::optim::{AdamW, Optimizer as _, ParamsAdamW, SGD};
use data::Examples;
pub use lr::LrSchedule;
use net::Net;
use qat::FakeQuant;
pub use qat::RangeObserver;
use schedule::{Masks, PolynomialDecay};

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("operator {op} ({name}): {message}")]
    Op {
        op: usize,
        name: &'static str,
        message: String,
    },
    #[error("{0}")]
    Graph(String),
    #[error("dataset: {0}")]
    Data(String),
    #[error("pruning: {0}")]
    Prune(#[from] PruneError),
    #[error("candle: {0}")]
    Candle(String),
}

impl TrainError {
    pub(crate) fn candle(e: candle_core::Error) -> TrainError {
        TrainError::Candle(e.to_string())
    }
}

/// Pruning while fine-tuning.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneSchedule {
    pub sparsity: f32,
    pub ranking: Ranking,
    /// Operators whose weights are not pruned.
    pub skip: Vec<usize>,
    /// Mask whole units (structured pruning) instead of single weights.
    pub structure: Option<crate::prune::Structure>,
}

/// What to train and how.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Default: the specs' `training`.
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub lr_schedule: LrSchedule,
    pub seed: u64,
    pub prune: Option<PruneSchedule>,
    /// Without `prune`: keeps the prunable weights that are zero now at zero (QAT after
    /// pruning must not undo it).
    pub keep_zeros: bool,
    /// QAT, starting from calibrated ranges of the float graph.
    pub qat: Option<QatStart>,
    /// Train on the first `n` training examples only (tests).
    pub max_examples: Option<usize>,
    /// How the final weights are taken from the steps: with `prune`, averaging covers the
    /// steps after the sparsity ramp.
    pub averaging: Averaging,
}

/// Where QAT starts: the float graph's calibrated ranges, and how it follows them.
#[derive(Clone, Debug)]
pub struct QatStart {
    pub ranges: Ranges,
    pub observer: RangeObserver,
}

/// One finished epoch, for progress reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Epoch {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// Mean training loss over the epoch's batches.
    pub loss: f32,
    /// The specs' metric on the test split (float forward pass, original units).
    pub metric: f64,
    /// The masks' sparsity at the end of the epoch (0 without pruning).
    pub sparsity: f32,
}

/// What training did.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// The metric on the test split before training (float forward pass).
    pub metric_before: f64,
    /// The metric on the test split of the final weights (the averaged ones with
    /// [`Averaging::Ema`]; else the last epoch's).
    pub metric_after: f64,
    pub epochs: Vec<Epoch>,
    /// The activation ranges QAT observed (empty without QAT).
    pub qat_ranges: Vec<(TensorId, (f32, f32))>,
}

/// Trains `graph` in place on the training split of `dataset`; `progress` is called after
/// every epoch.
pub fn train(
    graph: &mut Graph,
    specs: &Specs,
    dataset: &Dataset,
    config: &TrainConfig,
    progress: &mut dyn FnMut(&Epoch),
) -> Result<TrainReport, TrainError> {
    let settings = specs.training();
    let batch_size = config
        .batch_size
        .unwrap_or(settings.batch_size as usize)
        .max(1);
    let lr = config.learning_rate.unwrap_or(settings.learning_rate);
    let n_train = config
        .max_examples
        .map_or(dataset.train.len(), |m| m.min(dataset.train.len()));
    let train_set = Examples::new(specs, &dataset.train[..n_train])?;
    let test_set = Examples::new(specs, &dataset.test)?;
    let net = Net::new(graph)?;
    let metric_before = test_set.metric(&net, specs)?;

    let steps_per_epoch = n_train.div_ceil(batch_size);
    let total_steps = steps_per_epoch * config.epochs;
    let schedule = config
        .prune
        .as_ref()
        .map(|p| PolynomialDecay::over(p.sparsity, total_steps));
    // Averaging starts once the masks are final: before, pruned weights would enter it.
    let average_from = schedule.as_ref().map_or(0, |s| s.end_step);
    let mut average = WeightAverage::new(config.averaging, average_from, total_steps);
    let mut masks = match &config.prune {
        Some(p) => Some(match p.structure {
            Some(structure) => Masks::units(structure, p.skip.clone()),
            None => Masks::new(p.ranking, p.skip.clone()),
        }),
        None if config.keep_zeros => Some(Masks::of_zeros(&net)?),
        None => None,
    };
    let mut fq = config
        .qat
        .as_ref()
        .map(|q| FakeQuant::new(graph, &q.ranges, q.observer));
    let vars = net.vars();
    enum Opt {
        Adam(AdamW),
        Sgd(SGD),
    }
    let mut opt = match settings.optimizer {
        Optimizer::Adam => Opt::Adam(
            AdamW::new(
                vars,
                ParamsAdamW {
                    lr,
                    weight_decay: 0.0,
                    ..ParamsAdamW::default()
                },
            )
            .map_err(TrainError::candle)?,
        ),
        Optimizer::Sgd => Opt::Sgd(SGD::new(vars, lr).map_err(TrainError::candle)?),
    };

    let mut epochs = Vec::new();
    let mut step = 0usize;
    let mut sparsity = 0f32;
    for epoch in 0..config.epochs {
        // A different, seeded order every epoch.
        let seed = config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let order = crate::specs::permutation(n_train, seed);
        let mut losses = Vec::with_capacity(steps_per_epoch);
        for rows in order.chunks(batch_size) {
            if let (Some(s), Some(m)) = (schedule.as_ref(), masks.as_mut()) {
                if let Some(target) = s.at(step) {
                    m.update(&net, target)?;
                    sparsity = target;
                }
            }
            let rate = config.lr_schedule.at(lr, step, total_steps);
            match &mut opt {
                Opt::Adam(o) => o.set_learning_rate(rate),
                Opt::Sgd(o) => o.set_learning_rate(rate),
            }
            let inputs = train_set.inputs(&net, rows)?;
            let values = net.forward_all(&inputs, fq.as_mut())?;
            let loss = train_set.loss(&net, &values, rows, settings.loss)?;
            losses.push(data::loss_value(&loss)?);
            match &mut opt {
                Opt::Adam(o) => o.backward_step(&loss),
                Opt::Sgd(o) => o.backward_step(&loss),
            }
            .map_err(TrainError::candle)?;
            if let Some(m) = masks.as_ref() {
                m.apply(&net)?;
            }
            average.observe(&net, step)?;
            step += 1;
        }
        let e = Epoch {
            epoch: epoch + 1,
            epochs: config.epochs,
            loss: data::mean(&losses),
            metric: test_set.metric(&net, specs)?,
            sparsity,
        };
        progress(&e);
        epochs.push(e);
    }
    let metric_after = match epochs.last() {
        Some(e) if !average.is_active() => e.metric,
        _ => {
            average.finish(&net)?;
            test_set.metric(&net, specs)?
        }
    };
    net.write_back(graph)?;
    Ok(TrainReport {
        metric_before,
        metric_after,
        epochs,
        qat_ranges: fq.map(|q| q.observed().collect()).unwrap_or_default(),
    })
}
