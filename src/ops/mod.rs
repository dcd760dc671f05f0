//! The operations: each a verb of the CLI and the Python API, written against the floors below
//! (history, capture, diff, store) and exposed as methods of [`crate::Store`].

pub mod checkout;
pub mod commit;
pub mod compare;
pub mod env;
pub mod forget;
pub mod fsck;
pub mod run;
