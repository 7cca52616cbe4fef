//! The comparison as an aligned text table for the terminal, the rule and the tally under it.

use crate::compare::cells::{Cell, Side};
use crate::compare::verdict::{Tally, RULE};

/// The table of `cells` (keyed by `key_columns`) with the rule and the `tally` under it.
pub fn render(key_columns: &[&str], cells: &[Cell], tally: &Tally) -> String {
    let mut rows: Vec<Vec<String>> = vec![key_columns
        .iter()
        .map(|c| c.to_string())
        .chain(["ours", "reference", "difference", "verdict"].map(String::from))
        .collect()];
    for cell in cells {
        let mut row = cell.key.clone();
        row.push(side(cell.ours.as_ref()));
        row.push(side(cell.reference.as_ref()));
        row.push(
            cell.difference()
                .map(|d| format!("{d:+.4}"))
                .unwrap_or_else(|| "-".into()),
        );
        row.push(cell.verdict().name().to_string());
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(v, &w)| format!("{v:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text.push('\n');
    text.push_str(RULE);
    text.push('\n');
    text.push_str(&tally.to_string());
    text.push('\n');
    text
}

/// `mean ± std (n=seeds)`, or `-` without the cell.
fn side(side: Option<&Side>) -> String {
    match side {
        Some(s) => format!("{:.4} ± {:.4} (n={})", s.mean, s.std, s.seeds),
        None => "-".into(),
    }
}
