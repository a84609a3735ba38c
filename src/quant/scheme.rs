//! A quantization scheme: everything about the integer grid that does not
//! depend on the data.

use serde::{Deserialize, Serialize};

use super::{QuantError, Rounding};

pub const MIN_BITS: u8 = 1;
pub const MAX_BITS: u8 = 16;

/// The lab handout's two ways of choosing [αq, βq].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// [αq, βq] = [qmin, qmax]: the whole float range maps onto the clamp range.
    Normal,
    /// [αq, βq] = [2·qmin, 2·qmax + 1] (int8: [−256, 255]): a step half as wide,
    /// still clamped to [qmin, qmax], so the outer half of the range saturates.
    Clip,
}

impl Method {
    pub const ALL: [Method; 2] = [Method::Normal, Method::Clip];

    pub fn name(self) -> &'static str {
        match self {
            Method::Normal => "normal",
            Method::Clip => "clip",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scheme {
    /// Integer width, 1..=16.
    pub bits: u8,
    /// Signed: [−2^(b−1), 2^(b−1) − 1]; unsigned: [0, 2^b − 1].
    pub signed: bool,
    /// Symmetric: the grid is centred on zero (Z = 0 when signed) and s = max(|α|, |β|) / ((βq − αq) / 2).
    pub symmetric: bool,
    /// Narrow range drops the lowest level (int8: [−127, 127]).
    pub narrow_range: bool,
    pub method: Method,
    pub rounding: Rounding,
}

impl Scheme {
    /// The lab handout's setting: signed, asymmetric, full range, round half to even (torch.round).
    pub fn lab(method: Method, bits: u8) -> Scheme {
        Scheme { bits, signed: true, symmetric: false, narrow_range: false, method, rounding: Rounding::HalfEven }
    }

    pub fn validate(&self) -> Result<(), QuantError> {
        if !(MIN_BITS..=MAX_BITS).contains(&self.bits) {
            return Err(QuantError::Bits(self.bits as u32));
        }
        let (qmin, qmax) = self.clamp_range();
        if qmax <= qmin {
            return Err(QuantError::DegenerateGrid { bits: self.bits });
        }
        Ok(())
    }

    /// [qmin, qmax]: the integers that q is clamped to.
    pub fn clamp_range(&self) -> (i32, i32) {
        let b = self.bits.clamp(MIN_BITS, MAX_BITS) as u32;
        let (lo, hi) = if self.signed { (-(1i32 << (b - 1)), (1i32 << (b - 1)) - 1) } else { (0, (1i32 << b) - 1) };
        (if self.narrow_range { lo + 1 } else { lo }, hi)
    }

    /// [αq, βq]: the integers that the float range [α, β] is mapped onto.
    pub fn grid_range(&self) -> (i32, i32) {
        let (qmin, qmax) = self.clamp_range();
        match self.method {
            Method::Normal => (qmin, qmax),
            // int8 signed: [−256, 255]; the lab's clip method.
            Method::Clip => (2 * qmin, 2 * qmax + 1),
        }
    }
}
