//! The comparison as an aligned text table for the terminal, the rule and the tally under it.

use crate::compare::cells::Cell;
use crate::compare::machines::Machines;
use crate::compare::selection::{Choice, SelectionRow};
use crate::compare::tally::Tally;
use crate::compare::verdict::Side;
use crate::compare::verdict::RULE;

/// One line per backbone you ran: the numerics both sides computed under, both named when they
/// differ.
pub fn render_machines(machines: &[Machines]) -> String {
    let name = |n: Option<&formats::Numerics>| {
        n.map_or("not recorded".to_string(), |n| {
            format!("{} ({})", n.signature(), n.cpu.model_name)
        })
    };
    let mut text = String::new();
    for m in machines {
        if m.same() {
            text.push_str(&format!(
                "{}: same numerics on both sides, {}: exact reproduction due\n",
                m.backbone,
                name(m.ours.as_ref())
            ));
        } else {
            text.push_str(&format!(
                "{}: other numerics: ours {}; reference {}\n",
                m.backbone,
                name(m.ours.as_ref()),
                name(m.reference.as_ref())
            ));
        }
    }
    if !text.is_empty() {
        text.insert(0, '\n');
    }
    text
}

/// The selection compared by choice, one line per choice that is not the same, and a tally.
pub fn render_selection(rows: &[SelectionRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nlearning-rate selection, compared by choice:\n");
    for row in rows.iter().filter(|r| r.choice != Choice::Same) {
        let (b, d, m) = &row.key;
        let chosen =
            |c: Option<(f64, f64)>| c.map_or("-".to_string(), |(lr, l)| format!("lr {lr} λ {l}"));
        text.push_str(&format!(
            "  {b} {d} {m}: ours {}, reference {}: {}\n",
            chosen(row.ours.map(|o| (o.0, o.1))),
            chosen(row.reference),
            row.choice.name()
        ));
    }
    let count = |c: Choice| rows.iter().filter(|r| r.choice == c).count();
    text.push_str(&format!(
        "{} of {} choices the same, {} equivalent (validation scores within the measured band), {} different, {} on one side only\n",
        count(Choice::Same),
        rows.len(),
        count(Choice::Equivalent),
        count(Choice::Different),
        count(Choice::Missing)
    ));
    text
}

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
