//! Version specs and names: `Spec::parse`, the name and alias checks, and display-path
//! normalisation on arbitrary text.
//!
//! Properties: a parsed spec, written back, parses to the same spec; a normalised path is normal
//! (normalising again changes nothing) and every component passes `check_component`; accepted
//! names use only `[A-Za-z0-9_.-]`, 1 to 128 characters.

#![no_main]

use codever::names::{
    MAX_NAME_LEN, check_component, is_normal_path, normalize_path, validate_alias, validate_name,
};
use codever::{Selector, Spec};
use libfuzzer_sys::fuzz_target;

fn written(spec: &Spec) -> String {
    let mut s = String::new();
    if let Some(t) = &spec.artifact_type {
        s.push_str(t);
        s.push('/');
    }
    s.push_str(&spec.name);
    match &spec.selector {
        Selector::Latest => s.push_str(":latest"),
        Selector::Number(n) => s.push_str(&format!(":v{n}")),
        Selector::Alias(a) => s.push_str(&format!(":{a}")),
        Selector::IdPrefix(p) => s.push_str(&format!("@{p}")),
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = Spec::parse(text) {
        assert_eq!(Spec::parse(&written(&spec)).ok(), Some(spec));
    }
    if validate_name("artifact name", text).is_ok() {
        assert!(!text.is_empty() && text.len() <= MAX_NAME_LEN);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        );
    }
    if validate_alias(text).is_ok() {
        assert!(validate_name("alias", text).is_ok());
        assert!(matches!(
            Spec::parse(&format!("x:{text}")).map(|s| s.selector),
            Ok(Selector::Alias(a)) if a == text
        ));
    }
    if let Ok(normal) = normalize_path(text) {
        assert!(is_normal_path(&normal));
        assert_eq!(
            normalize_path(&normal).ok().as_deref(),
            Some(normal.as_str())
        );
        assert!(normal.split('/').all(|c| check_component(c).is_ok()));
    }
});
