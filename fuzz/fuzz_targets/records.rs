//! Records: `Structured::decode` of commit (schemas 1 and 2), run, alias, use, forget, rename
//! and state records on arbitrary raw content.
//!
//! Input: one byte choosing the record type (its value modulo 7: commit, run, alias, use, forget,
//! rename, state), then the raw content. Whatever decodes encodes back to a record that decodes
//! to the same value.

#![no_main]

use codever::ObjectId;
use codever::object::{
    AliasRecord, CommitRecord, ForgetRecord, RenameRecord, RunRecord, RunStateRecord, Structured,
    UseRecord,
};
use libfuzzer_sys::fuzz_target;

fn round_trip<T: Structured + PartialEq + std::fmt::Debug>(raw: &[u8]) {
    let id = ObjectId::compute(T::KIND, raw);
    if let Ok(value) = T::decode(id, raw) {
        let again = value.encode();
        let back = T::decode(ObjectId::compute(T::KIND, &again), &again);
        assert_eq!(back.ok(), Some(value));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, raw)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => round_trip::<CommitRecord>(raw),
        1 => round_trip::<RunRecord>(raw),
        2 => round_trip::<AliasRecord>(raw),
        3 => round_trip::<UseRecord>(raw),
        4 => round_trip::<ForgetRecord>(raw),
        5 => round_trip::<RenameRecord>(raw),
        _ => round_trip::<RunStateRecord>(raw),
    }
});
