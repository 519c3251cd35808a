//! The node's only source of randomness: SplitMix64 seeded from [`crate::Config::seed`].
//!
//! SplitMix64 is a few lines, fixed by its published constants, so a seed gives the same
//! draws in every version of Rust and of this crate: a simulated run replays exactly. The
//! node draws little (election timeouts, its incarnation), so statistical strength
//! beyond SplitMix64's is not needed.

/// A seeded SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A draw uniform on `[0, n)`, or 0 when `n` is 0. The modulo bias is below 2^-40 for
    /// the small ranges the node draws from.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_published_sequence_for_seed_zero() {
        // SplitMix64's reference outputs for seed 0.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.below(0), 0);
        assert!((0..1000).all(|_| rng.below(7) < 7));
    }
}
