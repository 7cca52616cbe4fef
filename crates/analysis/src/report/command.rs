//! `analysis report`: reads a task folder's `summary.csv` (and `lr_selection.csv`, and the run
//! folders' `metrics.csv`), writes the report's CSV files into `<DIR>/report/`, the loss figures
//! and (generation) Figure 5, and returns the Markdown.

use std::path::{Path, PathBuf};

use formats::paths::{absolute, portable, repo_root};
use formats::run::SUMMARY_TABLE;
use formats::selection::LR_SELECTION_FILE;

use crate::compare::Task;
use crate::error::Result;
use crate::plot::loss as loss_figure;
use crate::report::markdown::{render, Sections};
use crate::report::paired::Measure;
use crate::report::units::Units;
use crate::report::{
    cells, classes, loss, paired, plateau, rank_figure, resolution, rows, selected, table,
    validation,
};
use crate::sources::report_dir;
use crate::spectra::command::file_stem;

/// The folder under the task folder that the report's CSV files go to.
pub const REPORT_DIR: &str = "report";

/// What `analysis report` was asked for.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The task.
    pub task: Task,
    /// The task folder holding `summary.csv`; `None`: `<results>/<task>` when its summary holds a
    /// row, else the committed `<results>/reference/<task>` (see [`crate::sources`]).
    pub from: Option<PathBuf>,
    /// The results folder the default task folder is found in.
    pub results: PathBuf,
    /// The figures folder (`loss_<backbone>.png`, `validation_<backbone>.png` where the selection
    /// scored steps, and, for generation, `fig5_<backbone>.png` are written to it).
    pub figures: PathBuf,
}

/// What `analysis report` produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// The tables as Markdown, for stdout.
    pub markdown: String,
    /// The files written.
    pub written: Vec<PathBuf>,
}

/// Runs `analysis report`.
pub fn report(opts: &ReportOptions) -> Result<Report> {
    let task = opts.task;
    let dir = match &opts.from {
        Some(dir) => dir.clone(),
        None => report_dir(&opts.results, task.name())?,
    };
    let summary = dir.join(SUMMARY_TABLE);
    let rows = rows::read(&summary, task)?;
    let cells = cells::cells(&rows, &summary)?;
    let out = dir.join(REPORT_DIR);
    let mut written = Vec::new();

    let table_rows = table::table(&cells);
    let path = out.join("table.csv");
    table::write(&path, task, &table_rows)?;
    written.push(path);

    let pairs = paired::pairs(&cells, task, Measure::Metric);
    let path = out.join("paired.csv");
    paired::write(&path, task, &pairs)?;
    written.push(path);
    let iou_pairs = match task {
        Task::Segmentation => paired::pairs(&cells, task, Measure::Extra(0)),
        _ => Vec::new(),
    };
    if !iou_pairs.is_empty() {
        let path = out.join("paired_iou.csv");
        paired::write(&path, task, &iou_pairs)?;
        written.push(path);
    }
    let class_rows = classes::read(&dir)?;
    if !class_rows.is_empty() {
        let path = out.join("classes.csv");
        classes::write(&path, &class_rows)?;
        written.push(path);
    }

    let selection = dir.join(LR_SELECTION_FILE);
    let selected = if selection.is_file() {
        let (column, choices) = selected::read(&selection)?;
        let path = out.join("selected.csv");
        selected::write(&path, &column, &choices)?;
        written.push(path);
        Some((column, choices))
    } else {
        None
    };

    let study = resolution::study(&cells);
    if !study.is_empty() {
        let path = out.join("resolution.csv");
        resolution::write(&path, task.metric(), &study)?;
        written.push(path);
    }

    let select_rank = selected.as_ref().and_then(|(_, choices)| {
        choices
            .iter()
            .find_map(|c| usize::try_from(c.chosen.rank).ok().filter(|&r| r > 0))
    });
    let mut plateaus = Vec::new();
    for (backbone, curves) in loss::curves(&dir, select_rank, &pairs)? {
        let png = opts
            .figures
            .join(format!("loss_{}.png", file_stem(&backbone)));
        written.push(loss_figure::draw(&png, &backbone, &curves)?);
        plateaus.extend(curves.iter().filter_map(plateau::plateau));
    }
    if !plateaus.is_empty() {
        let path = out.join("loss_plateau.csv");
        plateau::write(&path, &plateaus)?;
        written.push(path);
    }

    let units = Units::of(task, rows.iter().map(|r| r.score));
    let validation_axis = format!("validation {}", units.name());
    written.extend(validation::draw(&dir, &opts.figures, &validation_axis)?);
    if task.report_draws_rank_figure() {
        written.extend(rank_figure::draw(&opts.figures, units, &table_rows)?);
    }
    let source = shown(&summary);
    let markdown = render(
        units,
        &Sections {
            source: &source,
            table: &table_rows,
            pairs: &pairs,
            iou_pairs: &iou_pairs,
            classes: &class_rows,
            selected: selected.as_ref().map(|(_, choices)| choices.as_slice()),
            resolution: &study,
        },
    );
    Ok(Report { markdown, written })
}

/// `path` relative to the repository root when inside it (never an absolute path of this
/// machine for a file in the checkout).
fn shown(path: &Path) -> String {
    portable(&absolute(path), &repo_root())
        .display()
        .to_string()
}
