//! `analysis compare`: reads both summaries, matches their cells, writes the CSV and returns the
//! comparison for printing.

use std::path::{Path, PathBuf};

use std::collections::BTreeSet;

use formats::selection::{Table, LR_SELECTION_FILE};

use crate::compare::cells::{join, Cell};
use crate::compare::machines::Machines;
use crate::compare::numerics::{same_numerics, Bands, SideNumerics};
use crate::compare::render::{render, render_machines, render_selection};
use crate::compare::report;
use crate::compare::selection::{self, compare_selection, SelectionRow};
use crate::compare::table::SummaryTable;
use crate::compare::tally::Tally;
use crate::compare::task::Task;
use crate::compare::verdict::Context;
use crate::error::{Error, Result};
use crate::sources::{own_summary, reference_summary};

/// What `analysis compare` was asked for.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The task whose summaries are compared.
    pub task: Task,
    /// The results folder (`comparison/<task>.csv` is written to it; the default summaries are
    /// found in it).
    pub results: PathBuf,
    /// The reference summary; `None`: `<results>/reference/<task>/summary.csv`.
    pub reference: Option<PathBuf>,
    /// The user's summary; `None`: `<results>/<task>/summary.csv`.
    pub ours: Option<PathBuf>,
}

/// The result of `analysis compare`.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The task.
    pub task: Task,
    /// The user's summary.
    pub ours: PathBuf,
    /// The reference summary.
    pub reference: PathBuf,
    /// The key columns the cells were matched on.
    pub key_columns: Vec<&'static str>,
    /// Every cell of either side, in key order.
    pub cells: Vec<Cell>,
    /// The CSV written.
    pub csv: PathBuf,
    /// Per backbone you ran: the numerics each side computed under (`None`: not recorded, or
    /// not one complete signature).
    pub machines: Vec<Machines>,
    /// The selections compared by choice, when both sides have `lr_selection.csv`.
    pub selection: Vec<SelectionRow>,
    /// `<results>/comparison/<task>_selection.csv`, when written.
    pub selection_csv: Option<PathBuf>,
}

impl Comparison {
    /// How many cells are within the seeds' spread, outside it, or on one side only.
    pub fn tally(&self) -> Tally {
        Tally::of(&self.cells)
    }

    /// The aligned table, the rule and the tally, for the terminal.
    pub fn render(&self) -> String {
        let mut text = format!(
            "{}: {}, {} (ours: {}, reference: {})\n\n",
            self.task,
            self.task.metric(),
            self.task.direction(),
            self.ours.display(),
            self.reference.display()
        );
        text.push_str(&render(&self.key_columns, &self.cells, &self.tally()));
        text.push_str(&render_machines(&self.machines));
        text.push_str(&render_selection(&self.selection));
        if self.tally().shared == 0 {
            text.push_str(
                "no cell of yours is in the reference (another backbone, data set or grid?): nothing was compared\n",
            );
        }
        text
    }
}

/// Runs `analysis compare`: writes `<results>/comparison/<task>.csv` and returns the comparison.
/// A missing or empty summary (either side) or one without the needed columns is an error;
/// differences between the sides are not.
pub fn compare(opts: &CompareOptions) -> Result<Comparison> {
    let task = opts.task;
    let ours_path = opts
        .ours
        .clone()
        .unwrap_or_else(|| own_summary(&opts.results, task.name()));
    let reference_path = opts
        .reference
        .clone()
        .unwrap_or_else(|| reference_summary(&opts.results, task.name()));
    let run_hint = match task {
        Task::Classification => "run your experiments first (`make reproduce-clip`) or pass --ours",
        Task::Segmentation => "run your experiments first (`make reproduce-sam`) or pass --ours",
        Task::Generation => "run your experiments first (`make reproduce-gen`) or pass --ours",
    };
    let ours = SummaryTable::read(&ours_path, "your", run_hint)?;
    let reference = SummaryTable::read(&reference_path, "the reference", "pass --reference")?;
    let key_columns = shared_keys(task, &ours, &reference)?;
    let ours_cells = ours.cells(&key_columns, task.metric())?;
    let reference_cells = reference.cells(&key_columns, task.metric())?;
    let mut cells = of_your_backbones(join(&key_columns, &ours_cells, &reference_cells));
    let folder = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
    let (ours_dir, reference_dir) = (folder(&ours_path), folder(&reference_path));
    let (ours_numerics, reference_numerics) = (
        SideNumerics::read(&ours_dir)?,
        SideNumerics::read(&reference_dir)?,
    );
    let bands = Bands::read(&reference_dir)?;
    for cell in &mut cells {
        let (backbone, dataset) = (&cell.key[0], &cell.key[1]);
        cell.numerics = Context {
            same_numerics: same_numerics(
                ours_numerics.of(backbone),
                reference_numerics.of(backbone),
            ),
            band: bands.test(backbone, dataset),
        };
    }
    let yours: BTreeSet<String> = cells.iter().map(|c| c.key[0].clone()).collect();
    let machines = yours
        .iter()
        .map(|b| Machines {
            backbone: b.clone(),
            ours: ours_numerics.of(b).cloned(),
            reference: reference_numerics.of(b).cloned(),
        })
        .collect();
    let comparison = opts.results.join("comparison");
    let csv = comparison.join(format!("{}.csv", task.name()));
    report::write(&csv, &key_columns, &cells)?;
    let (ours_table, reference_table) = (
        ours_dir.join(LR_SELECTION_FILE),
        reference_dir.join(LR_SELECTION_FILE),
    );
    let (selection, selection_csv) = if ours_table.is_file() && reference_table.is_file() {
        let rows = compare_selection(
            &Table::read(&ours_table)?,
            &Table::read(&reference_table)?,
            &bands,
            &yours,
        );
        let path = comparison.join(format!("{}_selection.csv", task.name()));
        selection::write(&path, &rows)?;
        (rows, Some(path))
    } else {
        (Vec::new(), None)
    };
    Ok(Comparison {
        task,
        ours: ours_path,
        reference: reference_path,
        key_columns,
        cells,
        csv,
        machines,
        selection,
        selection_csv,
    })
}

/// The cells whose backbone (the first key column) you ran: the reference's other backbones (the
/// full grid when you ran the QUICK one, say) are left out, and counted on stderr.
fn of_your_backbones(cells: Vec<Cell>) -> Vec<Cell> {
    let yours: std::collections::BTreeSet<String> = cells
        .iter()
        .filter(|c| c.ours.is_some())
        .filter_map(|c| c.key.first().cloned())
        .collect();
    let (kept, other): (Vec<Cell>, Vec<Cell>) = cells
        .into_iter()
        .partition(|c| c.key.first().is_some_and(|b| yours.contains(b)));
    if !other.is_empty() {
        eprintln!(
            "compare: {} reference cell(s) of backbones you did not run are left out",
            other.len()
        );
    }
    kept
}

/// The task's key columns that both headers have (a column only one side has is left out, and
/// said on stderr); both must have `method`, `seed` and the metric.
fn shared_keys(
    task: Task,
    ours: &SummaryTable,
    reference: &SummaryTable,
) -> Result<Vec<&'static str>> {
    for table in [ours, reference] {
        for column in ["method", "seed", task.metric()] {
            if !table.has(column) {
                return Err(missing_column(&table.path, column, task));
            }
        }
    }
    let mut keys = Vec::new();
    for &column in task.key_columns() {
        match (ours.has(column), reference.has(column)) {
            (true, true) => keys.push(column),
            (false, false) => {}
            (true, false) | (false, true) => {
                let (has, lacks) = if ours.has(column) {
                    (ours, reference)
                } else {
                    (reference, ours)
                };
                eprintln!(
                    "compare: column `{column}` is in {} but not in {}: cells are matched without it",
                    has.path.display(),
                    lacks.path.display()
                );
            }
        }
    }
    Ok(keys)
}

fn missing_column(path: &Path, column: &str, task: Task) -> Error {
    Error::csv(
        path,
        format!(
            "has no `{column}` column (a {task} summary needs `method`, `seed` and `{}`)",
            task.metric()
        ),
    )
}
