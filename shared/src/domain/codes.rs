//! Codes people read and type: coupon and referral codes from an alphabet without the
//! characters that are easy to confuse.

/// Letters and digits a person can read back without confusing 0/O, 1/I/L or U/V.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTWXYZ";

/// Length of a referral code: 8 characters of the alphabet, about 5·10^11 codes.
pub const REFERRAL_CODE_LEN: usize = 8;

/// Turns random bytes into a human-friendly code of `len` characters.
pub fn readable_code(random: &[u8], len: usize) -> String {
    random
        .iter()
        .cycle()
        .take(len)
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect()
}

/// Whether `code` is made only of the alphabet's characters.
pub fn is_readable(code: &str) -> bool {
    code.bytes().all(|b| CODE_ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_avoid_ambiguous_characters() {
        let code = readable_code(&[0, 1, 2, 255, 254, 128, 64, 32], 12);
        assert_eq!(code.len(), 12);
        assert!(!code.chars().any(|c| "01OIUL".contains(c)), "{code}");
        assert!(is_readable(&code));
        assert!(!is_readable("AB0"));
    }
}
