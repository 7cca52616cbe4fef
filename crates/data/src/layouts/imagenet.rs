//! ImageNet in CoOp/CLIP-LoRA's layout: `classnames.txt` (`<wnid> <name>` per line) and
//! `images/train/<wnid>/*`, `images/val/<wnid>/*` (the val set is the test set).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{DataError, Result};
use crate::layouts::folder::scan_split;
use crate::layouts::fs::{require_dir, subfolders};
use crate::source::Item;

/// Class names, train and test items of ImageNet under `dir`; labels follow the sorted wnid
/// folders of `images/train`, as CoOp's reader does.
pub(crate) fn load_imagenet(dir: &Path) -> Result<(Vec<String>, Vec<Item>, Vec<Item>)> {
    let names_file = dir.join("classnames.txt");
    if !names_file.is_file() {
        return Err(DataError::MissingSplitFile { path: names_file });
    }
    let text = std::fs::read_to_string(&names_file).map_err(|e| DataError::io(&names_file, e))?;
    let mut names = HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (wnid, name) = line.trim().split_once(' ').ok_or_else(|| {
            DataError::malformed(
                &names_file,
                format!("line {}: expected \"<wnid> <class name>\"", i + 1),
            )
        })?;
        names.insert(wnid.to_owned(), name.trim().to_owned());
    }
    let train_dir = dir.join("images").join("train");
    let test_dir = dir.join("images").join("val");
    require_dir(&train_dir)?;
    require_dir(&test_dir)?;
    let wnids = subfolders(&train_dir)?;
    let classnames = wnids
        .iter()
        .map(|w| {
            names.get(w).cloned().ok_or_else(|| {
                DataError::malformed(&names_file, format!("no class name for folder {w}"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let train = scan_split(&train_dir, &wnids, &wnids)?;
    let test = scan_split(&test_dir, &subfolders(&test_dir)?, &wnids)?;
    Ok((classnames, train, test))
}
