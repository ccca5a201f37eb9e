//! Glue shared by the structured targets: the input newtype that makes `cargo fuzz fmt` print
//! a readable trace, and the `Verdict` to `Corpus` mapping. No fuzzing logic lives here.

use std::fmt;

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::Corpus;
use vmfuzz::codec;
use vmfuzz::drivers::Verdict;
use vmfuzz::text::{self, Expect, Trace};

/// A fuzz input in vmfuzz's byte format (DECISIONS 4.1).
///
/// It keeps the bytes as libFuzzer gave them, so the driver decodes them once, exactly as
/// `cargo vmfuzz replay ARTIFACT` does. Only `Debug` decodes -- libfuzzer-sys calls it when
/// `RUST_LIBFUZZER_DEBUG_PATH` is set, which is how `cargo fuzz fmt` shows an input -- and
/// prints it as a v1 text trace.
pub struct TraceBytes<'a>(pub &'a [u8]);

impl<'a> Arbitrary<'a> for TraceBytes<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        // The whole input is one trace: take everything that is left.
        Ok(Self(u.bytes(u.len())?))
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.take_rest()))
    }
}

impl fmt::Debug for TraceBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = codec::decode_from(&mut Unstructured::new(self.0));
        let trace = Trace {
            input,
            expect: Expect::Clean,
            comments: vec![
                format!("decoded from {} fuzzer bytes by `cargo fuzz fmt`", self.0.len()),
                "the expect line is a placeholder: `cargo vmfuzz replay` tells what the input finds"
                    .into(),
            ],
        };
        f.write_str(&text::print(&trace))
    }
}

/// `Corpus::Reject` for inputs that decode to nothing (DECISIONS 4.8), `Keep` otherwise.
pub fn corpus(verdict: Verdict) -> Corpus {
    match verdict {
        Verdict::Keep => Corpus::Keep,
        Verdict::Reject => Corpus::Reject,
    }
}
