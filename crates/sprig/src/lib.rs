//! Sprig, the function library Helm templates call (`default`, `dict`,
//! `trunc`, `semverCompare`, `sha256sum`, …), with Go's semantics: the
//! argument order, the conversions of Go's `cast` package, the error texts
//! and the edge cases charts rely on (`has` on a nil list, `regexReplaceAll`
//! with Go regular expressions, …).
//!
//! [`funcs`] returns every function Helm exposes from Sprig; Helm's own
//! functions (`include`, `tpl`, `toYaml`, …) are registered by the Helm
//! renderer on top of them.

pub mod convert;
pub mod crypto;
pub mod date;
pub mod defaults;
pub mod dicts;
pub mod encoding;
pub mod json;
pub mod lists;
pub mod math;
pub mod network;
pub mod paths;
pub mod random;
pub mod regex;
pub mod semver;
pub mod strings;
pub mod types;
pub mod urls;

use caravel_gotemplate::Funcs;

/// Every Sprig function Helm exposes (Sprig's `TxtFuncMap` without `env`
/// and `expandenv`, which Helm removes).
pub fn funcs() -> Funcs {
    let mut funcs = Funcs::new();
    let registries: &[fn(&mut Funcs)] = &[
        crypto::register,
        date::register,
        network::register,
        random::register,
        semver::register,
        defaults::register,
        dicts::register,
        encoding::register,
        json::register,
        lists::register,
        math::register,
        paths::register,
        regex::register,
        strings::register,
        types::register,
        urls::register,
    ];
    for register in registries {
        register(&mut funcs);
    }
    funcs
}
