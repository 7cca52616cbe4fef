//! The numerics of one backbone on each side of a comparison ([`Machines`]).

use formats::Numerics;

use crate::compare::numerics::same_numerics;

/// The numerics of one backbone on each side.
#[derive(Debug, Clone, PartialEq)]
pub struct Machines {
    /// The backbone.
    pub backbone: String,
    /// Yours.
    pub ours: Option<Numerics>,
    /// The reference's.
    pub reference: Option<Numerics>,
}

impl Machines {
    /// Whether both sides computed under the same complete signature (exact reproduction due).
    pub fn same(&self) -> bool {
        same_numerics(self.ours.as_ref(), self.reference.as_ref())
    }
}
