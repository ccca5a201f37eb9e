//! vmfuzz (under construction).
