//! Reader of CoOp's `split_zhou_<Name>.json`: `{"train"|"val"|"test": [[path, label, class], …]}`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::source::{ImageSource, Item};

/// One parsed entry of a split list.
struct Entry {
    /// `train[3]`-style position, for error messages.
    at: String,
    image: String,
    label: i64,
    classname: String,
}

/// The train and test items of a split file plus the class names its labels imply. The `val`
/// list (if present) is validated with the others but not returned: CLIP-LoRA reports the
/// last-iteration test accuracy and never selects on validation.
pub(crate) struct CoopSplit {
    /// Class names, by label.
    pub classnames: Vec<String>,
    /// Training items.
    pub train: Vec<Item>,
    /// Test items.
    pub test: Vec<Item>,
}

/// Reads `split_file`, resolving image paths under `image_dir`. Labels must be `0..n` with one
/// class name each, where `n` is the number of distinct labels.
pub(crate) fn read_coop_split(split_file: &Path, image_dir: &Path) -> Result<CoopSplit> {
    if !split_file.is_file() {
        return Err(DataError::MissingSplitFile {
            path: split_file.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(split_file).map_err(|e| DataError::io(split_file, e))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| DataError::malformed(split_file, format!("invalid JSON: {e}")))?;
    let mut lists = Vec::new();
    // In file order, so a mismatch is blamed on the later entry.
    for key in ["train", "val", "test"] {
        let entries = match json.get(key) {
            Some(v) => parse_list(split_file, key, v)?,
            None if key == "val" => Vec::new(),
            None => {
                return Err(DataError::malformed(
                    split_file,
                    format!("missing \"{key}\" list"),
                ))
            }
        };
        lists.push(entries);
    }
    let classnames = class_names(split_file, lists.iter().flatten())?;
    let to_items = |entries: &[Entry]| -> Vec<Item> {
        entries
            .iter()
            .map(|e| Item {
                source: ImageSource::File(image_dir.join(&e.image)),
                label: e.label as usize,
            })
            .collect()
    };
    Ok(CoopSplit {
        train: to_items(&lists[0]),
        test: to_items(&lists[2]),
        classnames,
    })
}

/// Parses one list, naming the first malformed entry.
fn parse_list(file: &Path, key: &str, value: &Value) -> Result<Vec<Entry>> {
    let list = value
        .as_array()
        .ok_or_else(|| DataError::malformed(file, format!("\"{key}\" is not a list")))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let at = format!("{key}[{i}]");
            let bad = || {
                DataError::malformed(
                    file,
                    format!("{at}: expected [image path, label, class name], got {v}"),
                )
            };
            match v.as_array().map(Vec::as_slice) {
                Some([Value::String(image), label, Value::String(classname)]) => Ok(Entry {
                    image: image.clone(),
                    label: label.as_i64().ok_or_else(bad)?,
                    classname: classname.clone(),
                    at,
                }),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// Class names by label, checking each label has one name and labels are `0..n`.
fn class_names<'a>(file: &Path, entries: impl Iterator<Item = &'a Entry>) -> Result<Vec<String>> {
    let entries: Vec<&Entry> = entries.collect();
    let mut names: BTreeMap<i64, &str> = BTreeMap::new();
    for e in &entries {
        match names.get(&e.label) {
            Some(&expected) if expected != e.classname => {
                return Err(DataError::ClassNameMismatch {
                    path: file.to_path_buf(),
                    entry: e.at.clone(),
                    label: e.label,
                    expected: expected.to_owned(),
                    found: e.classname.clone(),
                })
            }
            Some(_) => {}
            None => {
                names.insert(e.label, &e.classname);
            }
        }
    }
    let n = names.len();
    if let Some(e) = entries
        .iter()
        .find(|e| e.label < 0 || e.label as usize >= n)
    {
        return Err(DataError::LabelOutOfRange {
            path: file.to_path_buf(),
            entry: e.at.clone(),
            image: e.image.clone(),
            label: e.label,
            num_classes: n,
        });
    }
    Ok(names.into_values().map(str::to_owned).collect())
}
