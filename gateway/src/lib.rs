//! The parts of the `warren` gateway that other binaries share: the
//! on-disk message store (used by `warren` itself and by `store-bench`).
//! Everything else lives in the `warren` binary (`main.rs`).

pub mod store;
