//! Parameter counts written short, for legends and tables.

/// `1.47M`, `18.4K` or `512`.
pub fn format_params(n: u64) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.2}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}K", n as f64 / 1e3),
        n => n.to_string(),
    }
}
