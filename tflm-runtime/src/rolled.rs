//! Keeps a setup loop rolled.
//!
//! At `opt-level = 3`, LLVM's Cortex-M unroller copies every small loop without calls four
//! times, plus an unrolled remainder. That is right for the kernels, but the setup's loops
//! (verification, planning) run a handful of times per model, and their copies were a large
//! part of the runtime's code. The unroller leaves a loop with a call in it alone, so a setup
//! loop calls [`keep_rolled`]: an empty `black_box`, which LLVM treats as a call and which
//! emits no instruction (it only keeps values that live in memory from being cached in
//! registers across iterations).

/// Marks the enclosing loop as one to keep rolled (see the module documentation).
#[inline(always)]
pub(crate) fn keep_rolled() {
    core::hint::black_box(());
}
