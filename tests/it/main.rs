//! Integration tests: one binary, a module per area.

mod apply;
mod checkout;
mod cli;
mod common;
mod concurrency;
mod diff;
mod e2e;
mod faults;
mod flips;
mod fsck;
mod git;
mod hostile;
mod merge;
mod props;
mod storage;
mod sweep;
