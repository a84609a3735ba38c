//! Natively and under Node: see `identity/mod.rs`.

mod identity;
