//! Pack indexes: the index parser on arbitrary bytes.
//!
//! Input: an index without its trailing checksum (magic "CDVX", version, pack id, count,
//! entries); the target appends the right BLAKE3 so that mutations reach the checks after it
//! (the parser is also given the input as it is). With the `pack-api` feature it calls
//! `codever::pack::parse_index` directly; without it (today: `pack` is private), it writes the
//! index beside a small fixed pack in a scratch store and runs `Store::fsck`, which parses it
//! with the same function and then checks every entry against the pack.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// `body ‖ BLAKE3(body)`: an index whose checksum is right.
fn with_checksum(body: &[u8]) -> Vec<u8> {
    let mut bytes = body.to_vec();
    bytes.extend_from_slice(blake3::hash(body).as_bytes());
    bytes
}

#[cfg(feature = "pack-api")]
fuzz_target!(|body: &[u8]| {
    use codever::ObjectId;
    let mut named = [0u8; 32];
    if let Some(id) = body.get(5..37) {
        named.copy_from_slice(id);
    }
    let pack_id = ObjectId::from_bytes(named);
    let _ = codever::pack::parse_index(body, &pack_id);
    if let Ok(entries) = codever::pack::parse_index(&with_checksum(body), &pack_id) {
        // Accepted entries are sorted and unique.
        assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
    }
});

#[cfg(not(feature = "pack-api"))]
mod through_fsck {
    use std::path::PathBuf;
    use std::sync::OnceLock;

    use codever::object::{Kind, encode_envelope};
    use codever::{ObjectId, Store};

    /// A store holding one pack of three small objects, made once per process.
    pub struct Scratch {
        pub root: PathBuf,
        pub pack_id: [u8; 32],
    }

    pub fn scratch() -> &'static Scratch {
        static SCRATCH: OnceLock<Scratch> = OnceLock::new();
        SCRATCH.get_or_init(|| {
            let root =
                std::env::temp_dir().join(format!("codever-fuzz-pack-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            if Store::init_at(&root).is_err() {
                panic!("cannot make a scratch store in {}", root.display());
            }
            let mut pack = b"CDVP\x01".to_vec();
            for text in [&b"a = 1\n"[..], b"b = 2\n", b"c = 3\n"] {
                let object = encode_envelope(Kind::Blob, text);
                pack.extend_from_slice(&(object.len() as u32).to_le_bytes());
                pack.extend_from_slice(&object);
            }
            let pack_id = *blake3::hash(&pack).as_bytes();
            let name = ObjectId::from_bytes(pack_id).to_hex();
            let path = root.join("packs").join(format!("{name}.pack"));
            if std::fs::write(&path, &pack).is_err() {
                panic!("cannot write {}", path.display());
            }
            Scratch { root, pack_id }
        })
    }
}

#[cfg(not(feature = "pack-api"))]
fuzz_target!(|body: &[u8]| {
    use codever::{ObjectId, Store};
    let s = through_fsck::scratch();
    // The index names the scratch pack, so its entries are checked against a real pack.
    let mut body = body.to_vec();
    if body.len() >= 37 {
        body[5..37].copy_from_slice(&s.pack_id);
    }
    let idx = s
        .root
        .join("packs")
        .join(format!("{}.idx", ObjectId::from_bytes(s.pack_id).to_hex()));
    if std::fs::write(&idx, with_checksum(&body)).is_err() {
        return;
    }
    if let Ok(store) = Store::open(&s.root) {
        let _ = store.fsck();
    }
});
