//! The 11 data sets of CLIP few-shot papers, in the folder layout CoOp and CLIP-LoRA expect
//! under one data root (see CoOp's DATASETS.md).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::Result;
use crate::layouts::aircraft::load_aircraft;
use crate::layouts::coop_split::read_coop_split;
use crate::layouts::fs::require_dir;
use crate::layouts::imagenet::load_imagenet;

/// One of the 11 CLIP data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipDataset {
    /// `imagenet/classnames.txt`, `imagenet/images/{train,val}/<wnid>/*`.
    ImageNet,
    /// `caltech-101/split_zhou_Caltech101.json`, `caltech-101/101_ObjectCategories/`.
    Caltech101,
    /// `oxford_pets/split_zhou_OxfordPets.json`, `oxford_pets/images/`.
    OxfordPets,
    /// `stanford_cars/split_zhou_StanfordCars.json`, images under `stanford_cars/` itself.
    StanfordCars,
    /// `oxford_flowers/split_zhou_OxfordFlowers.json`, `oxford_flowers/jpg/`.
    Flowers102,
    /// `food-101/split_zhou_Food101.json`, `food-101/images/`.
    Food101,
    /// `fgvc_aircraft/variants.txt`, `images_variant_{train,test}.txt`, `images/<id>.jpg`.
    FgvcAircraft,
    /// `sun397/split_zhou_SUN397.json`, `sun397/SUN397/`.
    Sun397,
    /// `dtd/split_zhou_DescribableTextures.json`, `dtd/images/`.
    Dtd,
    /// `eurosat/split_zhou_EuroSAT.json`, `eurosat/2750/`.
    EuroSat,
    /// `ucf101/split_zhou_UCF101.json`, `ucf101/UCF-101-midframes/`.
    Ucf101,
}

impl ClipDataset {
    /// All 11, in CLIP-LoRA's table order.
    pub const ALL: [Self; 11] = [
        Self::ImageNet,
        Self::Sun397,
        Self::FgvcAircraft,
        Self::EuroSat,
        Self::StanfordCars,
        Self::Food101,
        Self::OxfordPets,
        Self::Flowers102,
        Self::Caltech101,
        Self::Dtd,
        Self::Ucf101,
    ];

    /// The folder under the data root.
    pub fn folder(self) -> &'static str {
        match self {
            Self::ImageNet => "imagenet",
            Self::Caltech101 => "caltech-101",
            Self::OxfordPets => "oxford_pets",
            Self::StanfordCars => "stanford_cars",
            Self::Flowers102 => "oxford_flowers",
            Self::Food101 => "food-101",
            Self::FgvcAircraft => "fgvc_aircraft",
            Self::Sun397 => "sun397",
            Self::Dtd => "dtd",
            Self::EuroSat => "eurosat",
            Self::Ucf101 => "ucf101",
        }
    }

    /// The split file name and the image folder (relative to [`ClipDataset::folder`]) of the data
    /// sets that use CoOp's `split_zhou_*.json`; `None` for ImageNet and FGVC-Aircraft.
    pub fn coop_split(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Self::Caltech101 => ("split_zhou_Caltech101.json", "101_ObjectCategories"),
            Self::OxfordPets => ("split_zhou_OxfordPets.json", "images"),
            Self::StanfordCars => ("split_zhou_StanfordCars.json", ""),
            Self::Flowers102 => ("split_zhou_OxfordFlowers.json", "jpg"),
            Self::Food101 => ("split_zhou_Food101.json", "images"),
            Self::Sun397 => ("split_zhou_SUN397.json", "SUN397"),
            Self::Dtd => ("split_zhou_DescribableTextures.json", "images"),
            Self::EuroSat => ("split_zhou_EuroSAT.json", "2750"),
            Self::Ucf101 => ("split_zhou_UCF101.json", "UCF-101-midframes"),
            Self::ImageNet | Self::FgvcAircraft => return None,
        })
    }

    /// Finds a data set by its folder name (`oxford_pets`) or its serde name (`oxford_pets`,
    /// `fgvc_aircraft`, `euro_sat` …), ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        Self::ALL.into_iter().find(|d| {
            d.folder() == lower
                || serde_json::to_value(d).is_ok_and(|v| v.as_str() == Some(lower.as_str()))
        })
    }

    /// Loads the data set from `data_root/<folder>`: the CoOp train and test splits.
    pub fn load(self, data_root: &Path) -> Result<Dataset> {
        require_dir(data_root)?;
        let dir = data_root.join(self.folder());
        require_dir(&dir)?;
        let (classnames, train, test) = match self.coop_split() {
            Some((split, images)) => {
                let s = read_coop_split(&dir.join(split), &dir.join(images))?;
                (s.classnames, s.train, s.test)
            }
            None if self == Self::ImageNet => load_imagenet(&dir)?,
            None => load_aircraft(&dir)?,
        };
        Ok(Dataset {
            name: self.folder().to_owned(),
            classnames,
            train,
            test,
        })
    }
}
