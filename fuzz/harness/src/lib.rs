//! # vmfuzz: differential fuzzing of the Linux 4.x vmalloc allocator
//!
//! vmfuzz runs generated sequences of vmalloc-family calls on two independent implementations
//! of the Linux 4.19.y semantics and compares them exactly after every call:
//!
//! - the **engine** (`vmalloc-engine`), the system under test: the kernel's allocation path
//!   over simulated physical memory, writing real x86-64 page-table entries into frames;
//! - the **reference model** (`vmalloc-reference`), written rule by rule from `docs/semantics.md`
//!   with plain data structures, sharing no code with the engine.
//!
//! The crate is organised the way wasmtime's fuzzing crate is: [`ops`] (the op language),
//! [`codec`] (the invertible byte format, which is also the generator), [`text`] (the
//! readable trace format), [`exec`] (the differential executor), [`oracle`] (checks that read
//! the engine's raw state: page tables walked from the root, page ownership, the `x86_64`
//! crate as a second walker), [`finding`] (reports), [`minimize`], [`campaign`] (the built-in
//! fuzz loop), [`drivers`] (the entry points libFuzzer, AFL++ and bolero call) and [`cli`].
//!
//! The [`subject::Kernel`] trait is the API contract; implement it for your own allocator
//! and [`exec::run`] fuzzes it against the model.
#![deny(missing_docs)]

pub mod adapter;
pub mod behaviour;
pub mod campaign;
#[cfg(feature = "cli")]
pub mod cli;
pub mod codec;
pub mod drivers;
pub mod exec;
pub mod finding;
pub mod load;
pub mod minimize;
pub mod ops;
pub mod oracle;
pub mod planted;
pub mod replay;
pub mod rng;
pub mod subject;
pub mod text;

use adapter::engine::EngineKernel;
use adapter::model::ModelKernel;
use exec::{Report, RunOptions, Step};
use finding::{Finding, FindingKind};
use ops::Input;

fn setup_finding(what: &str, err: String) -> Box<Finding> {
    Box::new(Finding::new(
        FindingKind::Divergence,
        None,
        "machine setup",
        format!("the {what} refused the machine: {err}"),
        "",
        "",
    ))
}

/// Run one input: the engine against the model, every oracle on. `Err` is the first finding.
pub fn check(input: &Input, opts: &RunOptions) -> Result<Report, Box<Finding>> {
    check_recorded(input, opts).1
}

/// As [`check`], also returning the step log (when `opts.record` is set), finding or not.
pub fn check_recorded(
    input: &Input,
    opts: &RunOptions,
) -> (Vec<Step>, Result<Report, Box<Finding>>) {
    let mut engine = match EngineKernel::new(&input.machine, opts.planted.as_deref()) {
        Ok(e) => e,
        Err(err) => return (Vec::new(), Err(setup_finding("engine", err))),
    };
    let mut model = match ModelKernel::new(&input.machine) {
        Ok(m) => m,
        Err(err) => return (Vec::new(), Err(setup_finding("model", err))),
    };
    let (report, finding) = exec::run_full(input, &mut engine, &mut model, opts);
    let steps = report.steps.clone();
    match finding {
        Some(f) => (steps, Err(f)),
        None => (steps, Ok(report)),
    }
}

/// Both sides' `/proc/vmallocinfo` and page tables after ops `0..=k` of `input`, with diffs:
/// what `explain` prints at the first divergence.
pub fn explain_state(input: &Input, k: usize, opts: &RunOptions) -> String {
    use oracle::pagetable::{walk, WalkParams};
    use oracle::ptdump::render;
    use subject::{Kernel, Reference};
    let prefix = Input {
        machine: input.machine.clone(),
        ops: input.ops[..=k.min(input.ops.len().saturating_sub(1))].to_vec(),
    };
    let (Ok(mut engine), Ok(mut model)) = (
        EngineKernel::new(&input.machine, opts.planted.as_deref()),
        ModelKernel::new(&input.machine),
    ) else {
        return "cannot rebuild the machine".into();
    };
    let quiet = RunOptions {
        record: false,
        end_check: false,
        ..opts.clone()
    };
    let _ = exec::run_full(&prefix, &mut engine, &mut model, &quiet);
    let m = &input.machine;
    let c = m.pte.masks().2;
    let leaves: std::collections::BTreeMap<u64, u64> = walk(
        &engine,
        WalkParams {
            paging: m.paging,
            sme_c_bit: c,
        },
    )
    .leaves
    .into_iter()
    .collect();
    let expected = model.expected_ptes();
    let tables = |l: &std::collections::BTreeMap<u64, u64>| {
        format!(
            "{}{}",
            render(l, "vmalloc() Area", m.vmalloc_start, m.vmalloc_end, c),
            render(l, "Modules", m.modules_vaddr, m.modules_end, c)
        )
    };
    let diff = |a: &str, b: &str| {
        if a == b {
            "(identical)\n".to_string()
        } else {
            format!("{}\n", finding::diff_text(a, b))
        }
    };
    let (mi, ei) = (model.vmallocinfo(), engine.vmallocinfo());
    let (mt, et) = (tables(&expected), tables(&leaves));
    format!(
        "=== /proc/vmallocinfo after op {k}: model\n{mi}=== engine\n{ei}=== diff (< model | > engine)\n{}\n\
         === page tables after op {k}: model\n{mt}=== engine (walked from its frames)\n{et}=== diff\n{}",
        diff(&mi, &ei),
        diff(&mt, &et)
    )
}
