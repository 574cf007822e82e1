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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::bindings as c;

    #[test]
    fn the_bits_are_nbdkits() {
        assert_eq!(Flags::MAY_TRIM, c::NBDKIT_FLAG_MAY_TRIM);
        assert_eq!(Flags::FUA, c::NBDKIT_FLAG_FUA);
        assert_eq!(Flags::REQ_ONE, c::NBDKIT_FLAG_REQ_ONE);
        assert_eq!(Flags::FAST_ZERO, c::NBDKIT_FLAG_FAST_ZERO);
    }

    #[test]
    fn each_question_reads_its_own_bit() {
        type Ask = fn(Flags) -> bool;
        let asks: [(u32, Ask); 4] = [
            (Flags::MAY_TRIM, Flags::may_trim),
            (Flags::FUA, Flags::fua),
            (Flags::REQ_ONE, Flags::req_one),
            (Flags::FAST_ZERO, Flags::fast_zero),
        ];
        for (bit, _) in asks {
            let f = Flags(bit);
            for (other, ask) in asks {
                assert_eq!(ask(f), bit == other, "{bit:#x} asked for {other:#x}");
                assert_eq!(f.has(other), bit == other);
            }
        }
        assert_eq!(Flags::default(), Flags::NONE);
        assert!(asks.iter().all(|(_, ask)| !ask(Flags::NONE)));
    }

    #[test]
    fn without_clears_only_the_bits_named() {
        let all = Flags(0xf | 0x100);
        let f = all.without(Flags::REQ_ONE);
        assert_eq!(f, Flags(0x10b));
        assert!(!f.req_one() && f.fua() && f.may_trim() && f.fast_zero());
        assert_eq!(
            f.without(Flags::REQ_ONE),
            f,
            "clearing twice is clearing once"
        );
        assert_eq!(all.without(Flags::FUA | Flags::MAY_TRIM), Flags(0x10c));
        assert_eq!(Flags::NONE.without(Flags::FUA), Flags::NONE);
    }
}
