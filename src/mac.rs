//! MAC addresses in one canonical form: 12 upper-case hex digits (`AABBCCDDEEFF`), shown as
//! `AA:BB:CC:DD:EE:FF`. Every spelling a gateway, a console or an integrator may send is
//! accepted (`aa-bb-cc-dd-ee-ff`, `aabb.ccdd.eeff`, `AABBCCDDEEFF`, …); the API and the
//! ingest pipeline both go through [`canonical`], so a tag registered one way is found when
//! detected another way.

use std::fmt;

/// A MAC address in canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 12]);

impl Mac {
    /// The 12-digit form stored in the database.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }

    /// The colon-separated form the API shows.
    pub fn display(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            f.write_str(std::str::from_utf8(pair).expect("ASCII"))?;
        }
        Ok(())
    }
}

/// Parses any common spelling of a MAC address: 12 hex digits, optionally separated by
/// `:`, `-`, `.` or spaces in the usual groupings. Anything else is `None`.
pub fn canonical(input: &str) -> Option<Mac> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 17 {
        return None;
    }
    let mut digits = [0u8; 12];
    let mut count = 0;
    for c in trimmed.chars() {
        match c {
            '0'..='9' | 'a'..='f' | 'A'..='F' => {
                if count == 12 {
                    return None;
                }
                digits[count] = c.to_ascii_uppercase() as u8;
                count += 1;
            }
            ':' | '-' | '.' | ' ' => {}
            _ => return None,
        }
    }
    (count == 12).then_some(Mac(digits))
}

/// The stored (12-digit) form shown as `AA:BB:CC:DD:EE:FF`; other text is returned as is.
pub fn display_stored(stored: &str) -> String {
    canonical(stored).map_or_else(|| stored.to_string(), |m| m.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_common_spelling_is_one_mac() {
        let expected = "AABBCCDDEEFF";
        for spelling in [
            "AA:BB:CC:DD:EE:FF",
            "aa:bb:cc:dd:ee:ff",
            "aa-bb-cc-dd-ee-ff",
            "AABBCCDDEEFF",
            "aabbccddeeff",
            "aabb.ccdd.eeff",
            " Aa:Bb:Cc:Dd:Ee:Ff ",
        ] {
            assert_eq!(
                canonical(spelling)
                    .map(|m| m.as_str().to_string())
                    .as_deref(),
                Some(expected),
                "{spelling}"
            );
        }
        assert_eq!(
            canonical("aabbccddeeff").unwrap().to_string(),
            "AA:BB:CC:DD:EE:FF"
        );
    }

    #[test]
    fn non_macs_are_refused() {
        for bad in [
            "",
            "AABBCCDDEE",
            "AABBCCDDEEFF00",
            "GG:BB:CC:DD:EE:FF",
            "AA:BB:CC:DD:EE:FF:",
            "tag-1",
            "AA_BB_CC_DD_EE_FF",
            "💥",
        ] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
        assert_eq!(display_stored("legacy"), "legacy");
    }
}
