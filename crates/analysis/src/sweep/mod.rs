//! Figure 5: accuracy against rank per method and data set (`analysis rank-sweep`), from the
//! report's reading of the summary ([`crate::report::rows`]) and its table of means
//! ([`crate::report::table`]).

pub mod command;
pub mod reference;

pub use command::{rank_sweep, RankSweepOptions};
pub use reference::{references, Reference};
