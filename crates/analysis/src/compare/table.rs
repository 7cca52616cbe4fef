//! One `summary.csv` read for the comparison: its header, and its metric per cell and seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{parse_method, Error, Result};

/// The metric of every seed of every cell: cell key (the key columns' values, in order) → seed
/// → value.
pub type Cells = BTreeMap<Vec<String>, BTreeMap<u64, f64>>;

/// A summary file's header and rows, as text.
#[derive(Debug, Clone)]
pub struct SummaryTable {
    /// The file, named in errors.
    pub path: PathBuf,
    /// Its column names.
    pub header: Vec<String>,
    rows: Vec<csv::StringRecord>,
}

impl SummaryTable {
    /// Reads the summary at `path`. `whose` (`your`, `the reference`) names it in errors: a
    /// missing file, or one without a data row, is an error that says which summary it is and
    /// what to do.
    pub fn read(path: &Path, whose: &str, hint: &str) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::csv(
                path,
                format!("{whose} summary does not exist; {hint}"),
            ));
        }
        let csv_error = |e: csv::Error| Error::csv(path, e.to_string());
        let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
        let header = reader
            .headers()
            .map_err(csv_error)?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let rows = reader
            .records()
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(csv_error)?;
        if rows.is_empty() {
            return Err(Error::csv(
                path,
                format!("{whose} summary holds no runs (no data rows); {hint}"),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// Whether the header has `column`.
    pub fn has(&self, column: &str) -> bool {
        self.header.iter().any(|h| h == column)
    }

    fn index(&self, column: &str) -> Result<usize> {
        self.header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| Error::csv(&self.path, format!("has no `{column}` column")))
    }

    /// The `metric` of every row grouped by the `keys` columns and `seed`; when a seed appears
    /// twice in a cell the later row (a re-run) wins. A `method` key must be a known method; a
    /// seed must be an integer and the metric a finite number (errors name the line).
    pub fn cells(&self, keys: &[&str], metric: &str) -> Result<Cells> {
        let key_index = keys
            .iter()
            .map(|k| self.index(k))
            .collect::<Result<Vec<_>>>()?;
        let (seed_index, metric_index) = (self.index("seed")?, self.index(metric)?);
        let mut cells = Cells::new();
        for row in &self.rows {
            let line = row.position().map_or(0, |p| p.line());
            let at = |i: usize| row.get(i).unwrap_or("").trim();
            let bad = |what: String| Error::csv(&self.path, format!("line {line}: {what}"));
            let seed: u64 = at(seed_index)
                .parse()
                .map_err(|_| bad(format!("seed `{}` is not an integer", at(seed_index))))?;
            let value = at(metric_index)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    bad(format!(
                        "{metric} `{}` is not a finite number",
                        at(metric_index)
                    ))
                })?;
            let key: Vec<String> = key_index.iter().map(|&i| at(i).to_string()).collect();
            for (name, value) in keys.iter().zip(&key) {
                if *name == "method" {
                    parse_method(value, &self.path)?;
                }
            }
            cells.entry(key).or_default().insert(seed, value);
        }
        Ok(cells)
    }
}
