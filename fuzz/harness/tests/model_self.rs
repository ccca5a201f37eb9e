//! The executor run with the reference model on both sides: every input must come out clean
//! (the model is deterministic and the executor's comparisons are symmetric), which checks the
//! executor, the tracker and the generator's validity together before any engine is involved.

use vmfuzz::adapter::model::ModelKernel;
use vmfuzz::codec;
use vmfuzz::exec::{run, RunOptions};
use vmfuzz::rng::Rng;

#[test]
fn model_against_itself_is_clean() {
    let mut rng = Rng::new(7);
    let mut calls = 0;
    let mut ended = 0;
    for _ in 0..120 {
        let n = 16 + rng.below(600) as usize;
        let input = codec::decode(&rng.bytes(n));
        let mut a = ModelKernel::new(&input.machine).expect("valid machine");
        let mut b = ModelKernel::new(&input.machine).expect("valid machine");
        match run(&input, &mut a, &mut b, &RunOptions::default()) {
            Ok(report) => {
                calls += report.calls;
                ended += report.ended.is_some() as usize;
            }
            Err(f) => panic!(
                "{f}\ninput:\n{}",
                vmfuzz::text::print(&vmfuzz::text::Trace {
                    input,
                    expect: vmfuzz::text::Expect::Clean,
                    comments: vec![],
                })
            ),
        }
    }
    assert!(calls > 1000, "only {calls} calls ran");
    eprintln!("{calls} calls, {ended} inputs ended by BUG/hang");
}
