//! FGVC-Aircraft in CoOp's layout: `variants.txt` (one class per line),
//! `images_variant_{train,test}.txt` (`<image id> <variant>` per line), `images/<id>.jpg`.

use std::path::Path;

use crate::error::{DataError, Result};
use crate::source::{ImageSource, Item};

/// Class names, train and test items of FGVC-Aircraft under `dir`.
pub(crate) fn load_aircraft(dir: &Path) -> Result<(Vec<String>, Vec<Item>, Vec<Item>)> {
    let classnames: Vec<String> = read_lines(&dir.join("variants.txt"))?
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let split = |file: &str| -> Result<Vec<Item>> {
        let path = dir.join(file);
        read_lines(&path)?
            .into_iter()
            .map(|(n, line)| {
                let (id, variant) = line.split_once(' ').ok_or_else(|| {
                    DataError::malformed(
                        &path,
                        format!("line {n}: expected \"<image id> <variant>\""),
                    )
                })?;
                let label = classnames
                    .iter()
                    .position(|c| c == variant)
                    .ok_or_else(|| {
                        DataError::malformed(
                            &path,
                            format!("line {n}: variant {variant:?} is not in variants.txt"),
                        )
                    })?;
                Ok(Item {
                    source: ImageSource::File(dir.join("images").join(format!("{id}.jpg"))),
                    label,
                })
            })
            .collect()
    };
    let train = split("images_variant_train.txt")?;
    let test = split("images_variant_test.txt")?;
    Ok((classnames, train, test))
}

/// Non-empty trimmed lines of a split text file with their 1-based numbers.
fn read_lines(path: &Path) -> Result<Vec<(usize, String)>> {
    if !path.is_file() {
        return Err(DataError::MissingSplitFile {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_owned()))
        .filter(|(_, l)| !l.is_empty())
        .collect())
}
