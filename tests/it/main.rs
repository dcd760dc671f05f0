//! Integration tests: one binary, a module per area.

mod apply;
mod checkout;
mod cli;
mod common;
mod concurrency;
mod crash;
mod diff;
mod disk_full;
mod e2e;
mod faults;
mod flips;
mod format;
mod fsck;
mod fuzz_corpus;
mod git;
mod hostile;
mod large;
mod merge;
mod numbers;
mod output;
mod props;
mod storage;
mod strays;
mod sweep;
mod traversal;
