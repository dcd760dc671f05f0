//! Integration tests: one binary, a module per area.

mod checkout;
mod cli;
mod common;
mod concurrency;
mod e2e;
mod fsck;
mod git;
mod merge;
mod props;
