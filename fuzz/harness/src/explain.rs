//! What `vmfuzz explain` prints at the first divergence: both sides' `/proc/vmallocinfo` and
//! page tables (the subject's walked from its frames, when it simulates them), rendered alike
//! and diffed.

use std::collections::BTreeMap;

use crate::adapter::model::ModelKernel;
use crate::exec::{self, RunOptions};
use crate::finding::diff_text;
use crate::ops::Input;
use crate::oracle::walk::{walk, WalkParams};
use crate::ptdump::render;
use crate::subject::{Expectations, Kernel};
use crate::subjects::Subject;

/// Both sides' `/proc/vmallocinfo` and page tables after ops `0..=k` of `input`, with diffs:
/// what `explain` prints at the first divergence.
pub fn explain_state(subject: &Subject, input: &Input, k: usize, opts: &RunOptions) -> String {
    let prefix = Input {
        machine: input.machine.clone(),
        ops: input.ops[..=k.min(input.ops.len().saturating_sub(1))].to_vec(),
    };
    let (Ok(mut engine), Ok(mut model)) = (
        (subject.make)(&input.machine, opts.planted.as_deref()),
        ModelKernel::new(&input.machine),
    ) else {
        return "cannot rebuild the machine".into();
    };
    let quiet = RunOptions {
        record: false,
        end_check: false,
        ..opts.clone()
    };
    let _ = exec::run_full(&prefix, &mut *engine, &mut model, &quiet);
    let m = &input.machine;
    let c = m.pte.masks().2;
    let params = WalkParams {
        paging: m.paging,
        sme_c_bit: c,
    };
    let expected = model.expected_ptes();
    let tables = |l: &BTreeMap<u64, u64>| {
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
            format!("{}\n", diff_text(a, b))
        }
    };
    let name = engine.name();
    let (mi, ei) = (model.vmallocinfo(), engine.vmallocinfo());
    let mt = tables(&expected);
    let subject_tables = match engine.raw() {
        Some(raw) => {
            let leaves: BTreeMap<u64, u64> = walk(raw, params).leaves.into_iter().collect();
            let et = tables(&leaves);
            format!(
                "=== {name} (walked from its frames)\n{et}=== diff\n{}",
                diff(&mt, &et)
            )
        }
        // A subject without raw memory has no page tables to walk: nothing to diff.
        None => format!("=== {name}: no simulated page tables (no RawMemory)\n"),
    };
    format!(
        "=== /proc/vmallocinfo after op {k}: model\n{mi}=== {name}\n{ei}=== diff (< model | > {name})\n{}\n\
         === page tables after op {k}: model\n{mt}{subject_tables}",
        diff(&mi, &ei),
    )
}
