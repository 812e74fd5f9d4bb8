//! `include_quantized_model!`: the whole conversion of a model directory during `cargo build`,
//! expanded into `no_std` items in the caller's scope.
//!
//! ```ignore
//! tflm_macros::include_quantized_model!("models/sine", quant = "int8");
//!
//! let mut arena = Arena::zeroed();
//! let mut model = Model::new(&mut arena.0)?;
//! let y = model.predict(&[1.57])?;           // raw units in, raw units out
//! ```
//!
//! Arguments: the model directory (relative to the calling crate's `CARGO_MANIFEST_DIR`), then
//! `quant` (`"none"`, `"float16"`, `"dynamic"`, `"int8"`, `"int8_float_fallback"`,
//! `"int16x8"`), `prune` (a fraction in `[0, 1)`), `calibration` (`"minmax"`, `"percentile"`,
//! `"mse"`), `samples` (calibration examples), `io` (`"int8"` or `"float32"`), `seed`,
//! `finetune_epochs` (fine-tuning on the dataset, pruning gradually with `prune`), `qat`
//! (`true`: quantization-aware training), `prune_skip` (`"name,name"`: layers left dense),
//! `prune_structure` (`"neurons"` or `"channels"`: `prune` removes that fraction of whole
//! units per layer instead of single weights), `prune_block` (`"1x4"`: FULLY_CONNECTED weights
//! and CONV_2D filters pruned in blocks of 4 input columns, stored in the faster 1x4 block
//! encoding), `sparse_weights` (`"auto"`, `"fast"`,
//! `"always"`, `"never"`: which pruned weights are stored sparse-encoded), `short_names`
//! (`true`: empty names for every tensor but the inputs and outputs, fewer flash bytes).
//! The generated items are those of `tflm::codegen`; to embed two models in one crate, invoke
//! the macro once per `mod`.
//!
//! Changing the model, `specs.json` or the dataset recompiles the caller (the expansion
//! `include_bytes!`s them into an unused constant, which is how rustc learns the
//! dependency). Results are cached by a hash of the inputs' contents and the options, under
//! this crate's `OUT_DIR` in the target directory (or `TFLM_CACHE_DIR`), so a warm build
//! does not convert again.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use std::path::{Path, PathBuf};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, Lit, LitStr, Token};
use tflm::calibrate::Method;
use tflm::pipeline::Pipeline;
use tflm::prune::{PruneBlock, Structure};
use tflm::quantize::{IoKind, Mode, MODE_NAMES};
use tflm::sparse::SparseWeights;

/// Converts a model directory at build time; see the crate documentation.
#[proc_macro]
pub fn include_quantized_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    match expand(input.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// `name = literal`.
struct Arg {
    name: Ident,
    value: Lit,
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Arg> {
        let name: Ident = input.parse()?;
        let _: Token![=] = input.parse()?;
        let value: Lit = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("`{name}` takes a literal (a string or a number)"),
            )
        })?;
        Ok(Arg { name, value })
    }
}

struct Args {
    dir: LitStr,
    options: Vec<Arg>,
}

fn parse_args(input: TokenStream) -> syn::Result<Args> {
    let parser = |stream: ParseStream<'_>| -> syn::Result<Args> {
        if stream.is_empty() {
            return Err(stream.error(
                "expected the model directory: include_quantized_model!(\"models/NAME\", quant = \"int8\")",
            ));
        }
        let dir: LitStr = stream.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "the first argument is the model directory, a string literal",
            )
        })?;
        let mut options = Vec::new();
        if !stream.is_empty() {
            let _: Token![,] = stream.parse()?;
            let rest: Punctuated<Arg, Token![,]> = Punctuated::parse_terminated(stream)?;
            options = rest.into_iter().collect();
        }
        Ok(Args { dir, options })
    };
    parser.parse2(input)
}

fn string_of(arg: &Arg) -> syn::Result<String> {
    match &arg.value {
        Lit::Str(s) => Ok(s.value()),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{}` takes a string, e.g. {} = \"...\"", arg.name, arg.name),
        )),
    }
}

fn bool_of(arg: &Arg) -> syn::Result<bool> {
    match &arg.value {
        Lit::Bool(b) => Ok(b.value),
        other => Err(syn::Error::new(
            other.span(),
            format!(
                "`{}` takes true or false, e.g. {} = true",
                arg.name, arg.name
            ),
        )),
    }
}

fn u64_of(arg: &Arg) -> syn::Result<u64> {
    match &arg.value {
        Lit::Int(i) => i.base10_parse::<u64>(),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{}` takes a non-negative integer", arg.name),
        )),
    }
}

/// The pipeline the arguments describe, or an error at the offending token.
fn pipeline_of(args: &Args) -> syn::Result<Pipeline> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let dir = manifest.join(args.dir.value());
    if !dir.is_dir() {
        return Err(syn::Error::new(
            args.dir.span(),
            format!(
                "model directory not found: {} (the path is relative to the crate's \
                 CARGO_MANIFEST_DIR, {})",
                dir.display(),
                manifest.display()
            ),
        ));
    }
    let mut pipeline = Pipeline::from_dir(&dir);
    let mut seen: Vec<String> = Vec::new();
    for arg in &args.options {
        let key = arg.name.to_string();
        if seen.contains(&key) {
            return Err(syn::Error::new(
                arg.name.span(),
                format!("`{key}` is given twice"),
            ));
        }
        seen.push(key.clone());
        let at_value = |msg: String| syn::Error::new(arg.value.span(), msg);
        pipeline = match key.as_str() {
            "quant" => {
                let s = string_of(arg)?;
                let mode: Mode = s.parse().map_err(|_| {
                    at_value(format!(
                        "unknown quantization mode \"{s}\"; valid: {MODE_NAMES}"
                    ))
                })?;
                pipeline.quant(mode)
            }
            "prune" => {
                let v = match &arg.value {
                    Lit::Float(f) => f.base10_parse::<f64>()?,
                    Lit::Int(i) => i.base10_parse::<u64>()? as f64,
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "`prune` takes a number in [0, 1), e.g. prune = 0.5",
                        ))
                    }
                };
                if !(0.0..1.0).contains(&v) {
                    return Err(at_value(format!(
                        "`prune` must be in [0, 1) (the fraction of weights set to zero), got {v}"
                    )));
                }
                pipeline.prune(v as f32)
            }
            "calibration" => {
                let s = string_of(arg)?;
                let m: Method = s.parse().map_err(at_value)?;
                pipeline.calibration(m)
            }
            "samples" => {
                let n = u64_of(arg)?;
                if n == 0 {
                    return Err(at_value("`samples` must be at least 1".into()));
                }
                pipeline.samples(n as usize)
            }
            "io" => {
                let s = string_of(arg)?;
                let io: IoKind = s.parse().map_err(at_value)?;
                pipeline.io(io)
            }
            "seed" => pipeline.seed(u64_of(arg)?),
            "finetune_epochs" => pipeline.finetune_epochs(u64_of(arg)? as usize),
            "qat" => pipeline.qat(bool_of(arg)?),
            "prune_skip" => {
                let s = string_of(arg)?;
                pipeline.prune_skip(s.split(',').map(|l| l.trim().to_string()).collect())
            }
            "prune_structure" => {
                let s = string_of(arg)?;
                let structure: Structure = s.parse().map_err(at_value)?;
                pipeline.prune_structure(structure)
            }
            "prune_block" => {
                let s = string_of(arg)?;
                let block: PruneBlock = s.parse().map_err(at_value)?;
                pipeline.prune_block(block)
            }
            "sparse_weights" => {
                let s = string_of(arg)?;
                let choice: SparseWeights = s.parse().map_err(at_value)?;
                pipeline.sparse_weights(choice)
            }
            "short_names" => pipeline.short_names(bool_of(arg)?),
            _ => {
                return Err(syn::Error::new(
                    arg.name.span(),
                    format!(
                    "unknown argument `{key}`; valid: quant, prune, prune_structure, prune_block, \
                     prune_skip, sparse_weights, finetune_epochs, qat, calibration, samples, io, seed, \
                     short_names"
                ),
                ))
            }
        };
    }
    if let Some(arg) = args.options.iter().find(|a| a.name == "prune_structure") {
        if pipeline.options().prune.is_none() {
            return Err(syn::Error::new(
                arg.name.span(),
                "`prune_structure` needs `prune`, the fraction of units to remove, e.g. \
                 prune = 0.5, prune_structure = \"neurons\"",
            ));
        }
    }
    if let Some(arg) = args.options.iter().find(|a| a.name == "prune_block") {
        let o = pipeline.options();
        if o.prune.is_none() || o.prune_structure.is_some() {
            return Err(syn::Error::new(
                arg.name.span(),
                "`prune_block` needs `prune` (the fraction of weights zeroed in blocks) and no \
                 `prune_structure`, e.g. prune = 0.5, prune_block = \"1x4\"",
            ));
        }
    }
    Ok(pipeline)
}

fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(input)?;
    let pipeline = pipeline_of(&args)?;
    let at_dir = |msg: String| syn::Error::new(args.dir.span(), msg);
    let cache_dir = std::env::var_os("TFLM_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("OUT_DIR")).join("cache"));
    // The build id changes whenever the converter's sources do: old results are never reused.
    let cached =
        tflm::build_cache::generate_cached(&pipeline, &cache_dir, env!("TFLM_MACROS_BUILD_ID"))
            .map_err(|e| at_dir(e.to_string()))?;
    let items: TokenStream = cached
        .source
        .parse()
        .map_err(|e| at_dir(format!("generated code does not parse (a bug): {e}")))?;
    // rustc tracks files read by include_bytes!: changing any input recompiles the caller.
    let tracked = cached.inputs.iter().map(|f| {
        let p = LitStr::new(&f.display().to_string(), Span::call_site());
        quote! { const _: &[u8] = include_bytes!(#p); }
    });
    Ok(quote! {
        #(#tracked)*
        #items
    })
}
