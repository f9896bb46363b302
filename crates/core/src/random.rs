//! Random bytes for secrets, from the operating system's generator (`getrandom`): webhook
//! signing secrets, API keys and their ids, and the api's read-token secrets all draw here.
//! (UUIDs are ids, not secrets: a v4 UUID carries fixed version and variant bits.)

/// Fills `dest` with random bytes from the operating system.
///
/// # Panics
/// When the operating system's generator fails, which leaves nothing safe to make a secret
/// from (it does not fail on the systems Herald runs on once they have booted).
pub fn fill(dest: &mut [u8]) {
    getrandom::fill(dest).expect("the operating system's random number generator failed");
}

/// `N` random bytes from the operating system.
///
/// # Panics
/// As [`fill`].
#[must_use]
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ_and_every_byte_is_drawn() {
        let (a, b) = (bytes::<32>(), bytes::<32>());
        assert_ne!(a, b);
        // Every position takes more than one value over a few draws: no fixed bits anywhere,
        // unlike the version and variant nibbles of a v4 UUID.
        let draws: Vec<[u8; 16]> = (0..64).map(|_| bytes()).collect();
        for i in 0..16 {
            assert!(
                draws.iter().any(|d| d[i] != draws[0][i]),
                "byte {i} never changed"
            );
        }
    }
}
