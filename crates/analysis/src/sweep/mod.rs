//! Figure 5: accuracy against rank per method and data set (`analysis rank-sweep`).

pub mod aggregate;
pub mod command;
pub mod reference;
pub mod summary;

pub use aggregate::{aggregate, Point};
pub use command::{rank_sweep, RankSweepOptions};
pub use reference::{references, Reference};
pub use summary::{read_all, read_summary, Record};
