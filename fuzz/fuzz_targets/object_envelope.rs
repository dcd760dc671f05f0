//! Object files: `parse_header` and `decode_envelope` on arbitrary bytes.
//!
//! Input: the object id (32 bytes) the file is named by, then the file's bytes. A delta's base
//! is always the same fixed text (the seeds' deltas are made against it), so a whole chain
//! decodes and the hash check is reached.

#![no_main]

use codever::ObjectId;
use codever::object::{decode_envelope, parse_header};
use libfuzzer_sys::fuzz_target;

/// The base every delta is resolved against (also in tests/it/fuzz_corpus.rs, which makes the
/// seeds).
const BASE: &[u8] = b"import torch\n\nclass PPO:\n    learning_rate = 3e-4\n    gamma = 0.99\n";

fuzz_target!(|data: &[u8]| {
    if data.len() < 32 {
        return;
    }
    let (id, bytes) = data.split_at(32);
    let mut id_bytes = [0u8; 32];
    id_bytes.copy_from_slice(id);
    let id = ObjectId::from_bytes(id_bytes);
    let header = parse_header(id, bytes);
    let mut base = |_: &ObjectId| Ok(BASE.to_vec());
    let decoded = decode_envelope(id, bytes, &mut base);
    if let Ok((kind, raw)) = decoded {
        // Whatever decodes is what the id names, of the kind the header says.
        assert_eq!(ObjectId::compute(kind, &raw), id);
        assert_eq!(header.map(|h| h.kind).ok(), Some(kind));
    }
});
