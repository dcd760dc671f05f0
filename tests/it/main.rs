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
mod fsck;
mod fuzz_corpus;
mod git;
mod merge;
mod props;
mod storage;
