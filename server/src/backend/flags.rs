//! Request flags as plugins see them (pure: also built by the fuzz targets).

/// Request flags as nbdkit passes them to plugins (`NBDKIT_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(pub u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const MAY_TRIM: u32 = 1 << 0;
    pub const FUA: u32 = 1 << 1;
    pub const REQ_ONE: u32 = 1 << 2;
    pub const FAST_ZERO: u32 = 1 << 3;

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    pub fn fua(self) -> bool {
        self.has(Self::FUA)
    }
    pub fn may_trim(self) -> bool {
        self.has(Self::MAY_TRIM)
    }
    pub fn req_one(self) -> bool {
        self.has(Self::REQ_ONE)
    }
    pub fn fast_zero(self) -> bool {
        self.has(Self::FAST_ZERO)
    }
    pub fn without(self, bit: u32) -> Flags {
        Flags(self.0 & !bit)
    }
}
