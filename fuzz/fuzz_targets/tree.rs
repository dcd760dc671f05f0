//! Trees: `Tree::decode` on arbitrary raw content; whatever decodes encodes back to a tree that
//! decodes to the same value.

#![no_main]

use codever::ObjectId;
use codever::object::{Kind, Structured, Tree};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let id = ObjectId::compute(Kind::Tree, raw);
    if let Ok(tree) = Tree::decode(id, raw) {
        let again = tree.encode();
        let back = Tree::decode(ObjectId::compute(Kind::Tree, &again), &again);
        assert_eq!(back.ok(), Some(tree));
    }
});
