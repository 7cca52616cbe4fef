//! Where the repository is, and paths that stay valid when results move to another checkout:
//! a location inside the repository is stored relative to its root, anything else as given.

use std::path::{Component, Path, PathBuf};

/// Environment variable that names the repository root explicitly.
pub const ROOT_ENV: &str = "SERIAL_LORA_ROOT";

/// Whether `dir` looks like the root of this repository.
fn is_root(dir: &Path) -> bool {
    dir.join("experiments").is_dir() && dir.join("crates/formats/Cargo.toml").is_file()
}

/// The repository root: `$SERIAL_LORA_ROOT`, else the nearest ancestor of the current folder that
/// holds `experiments/` and `crates/formats/`, else the checkout this binary was built in. So the
/// same binaries serve a copy of the repository when run from inside it.
pub fn repo_root() -> PathBuf {
    if let Some(root) = std::env::var_os(ROOT_ENV) {
        return absolute(Path::new(&root));
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|d| is_root(d))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")))
}

/// `path` made absolute against the current folder, with `.` and `..` resolved lexically.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        normalize(path)
    } else {
        normalize(
            &std::env::current_dir()
                .unwrap_or_else(|_| PathBuf::from("/"))
                .join(path),
        )
    }
}

/// Resolves `.` and `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` (absolute, or relative to `root`) as it is stored in a run's files: relative to `root`
/// when it lies inside it, else absolute.
pub fn portable(path: &Path, root: &Path) -> PathBuf {
    let full = normalize(&root.join(path));
    match full.strip_prefix(normalize(root)) {
        Ok(inside) if !inside.as_os_str().is_empty() => inside.to_path_buf(),
        _ => full,
    }
}

/// A stored path (see [`portable`]) as a path on this machine: relative ones are taken from `root`.
pub fn resolve(stored: &Path, root: &Path) -> PathBuf {
    normalize(&root.join(stored))
}

/// Whether `name` can be used as one file or folder name inside a folder the user gave: not empty,
/// not `.` or `..`, no `/` or `\`, no control character (NUL, newline, …). The error says why.
pub fn check_component(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty")
    } else if name == "." || name == ".." {
        Err("would name a folder outside the run's own")
    } else if name.contains(['/', '\\']) {
        Err("holds a path separator (`/` or `\\`)")
    } else if name.chars().any(char::is_control) {
        Err("holds a control character (NUL, newline, …)")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_paths_become_relative_and_resolve_back() {
        let root = Path::new("/repo/checkout");
        let stored = portable(Path::new("/repo/checkout/.cache/models/m"), root);
        assert_eq!(stored, PathBuf::from(".cache/models/m"));
        assert_eq!(
            resolve(&stored, Path::new("/elsewhere")),
            PathBuf::from("/elsewhere/.cache/models/m")
        );
        assert_eq!(
            portable(Path::new(".cache/x/../y"), root),
            PathBuf::from(".cache/y")
        );
    }

    #[test]
    fn outside_paths_stay_absolute() {
        let root = Path::new("/repo/checkout");
        assert_eq!(
            portable(Path::new("/data/weights"), root),
            PathBuf::from("/data/weights")
        );
        assert_eq!(
            portable(Path::new("../weights"), root),
            PathBuf::from("/repo/weights")
        );
    }

    #[test]
    fn only_plain_names_are_path_components() {
        for good in ["dinov2-s14", "a b", "cifar10_112px", "…"] {
            assert_eq!(check_component(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "/abs", "a\\b", "a\0b", "a\nb"] {
            assert!(check_component(bad).is_err(), "{bad:?}");
        }
    }
}
