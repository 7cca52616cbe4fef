//! `analysis compare`: the user's `summary.csv` against the committed reference, cell by cell
//! (a cell: one configuration, its seeds averaged) → `<results>/comparison/<task>.csv` and a table
//! on stdout. Differences are reported, never an error; see [`report`] for the columns and the
//! rule that decides whether a cell is within the seeds' spread.

pub mod cells;
pub mod command;
pub mod render;
pub mod report;
pub mod table;
pub mod task;
pub mod verdict;

pub use cells::{join, Cell, Side};
pub use command::{compare, CompareOptions, Comparison};
pub use task::Task;
pub use verdict::{Tally, Verdict};
