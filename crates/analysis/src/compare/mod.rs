//! `analysis compare`: the user's `summary.csv` against the committed reference, cell by cell
//! (a cell: one configuration, its seeds averaged) → `<results>/comparison/<task>.csv` and a table
//! on stdout. Differences are reported, never an error; see [`report`] for the columns and
//! [`verdict`] for the rule: exact on the same numerics signature ([`numerics`]), reproduced
//! within the band of numerical noise [`noise`](mod@noise) measured on another, within the seeds' spread for
//! several seeds. The selection is compared by what it chose ([`selection`]).

pub mod cells;
pub mod command;
pub mod machines;
pub mod noise;
pub mod numerics;
pub mod render;
pub mod report;
pub mod selection;
pub mod table;
pub mod tally;
pub mod task;
pub mod verdict;

pub use cells::{join, Cell};
pub use command::{compare, CompareOptions, Comparison};
pub use machines::Machines;
pub use noise::{noise, NoiseOptions, Stage};
pub use numerics::{Bands, SideNumerics};
pub use selection::{Choice, SelectionRow};
pub use tally::Tally;
pub use task::Task;
pub use verdict::{Context, Side, Verdict};
