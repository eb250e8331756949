//! Rotation: indexes `0..n` from a moving start, for providers inside a tier and hosts inside a
//! provider (pure).

/// Indexes `0..n` starting at `start` and wrapping around: `rotation(4, 2)` = 2, 3, 0, 1.
pub fn rotation(n: usize, start: usize) -> impl Iterator<Item = usize> {
    let start = if n == 0 { 0 } else { start % n };
    (0..n).map(move |i| (start + i) % n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_wraps_and_visits_each_once() {
        assert_eq!(rotation(4, 2).collect::<Vec<_>>(), vec![2, 3, 0, 1]);
        assert_eq!(rotation(4, 6).collect::<Vec<_>>(), vec![2, 3, 0, 1]);
        assert_eq!(rotation(1, 5).collect::<Vec<_>>(), vec![0]);
        assert_eq!(rotation(0, 3).count(), 0);
    }

    #[test]
    fn successive_starts_spread_the_first_choice() {
        let firsts: Vec<usize> = (0..5).filter_map(|s| rotation(5, s).next()).collect();
        assert_eq!(firsts, vec![0, 1, 2, 3, 4]);
    }
}
