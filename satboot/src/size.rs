//! Byte counts for log lines ("2.1 MiB", "812 KiB", "96 B").

use core::fmt;

/// A byte count, displayed with a binary unit and one decimal above 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u32);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= 1 << 20 {
            // Tenths of a MiB, rounded to nearest.
            let tenths = (b as u64 * 10 + (1 << 19)) >> 20;
            write!(f, "{}.{} MiB", tenths / 10, tenths % 10)
        } else if b >= 1 << 10 {
            write!(f, "{} KiB", (b + 512) >> 10)
        } else {
            write!(f, "{b} B")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Size;
    use std::format;

    #[test]
    fn units() {
        assert_eq!(format!("{}", Size(96)), "96 B");
        assert_eq!(format!("{}", Size(812 * 1024 + 100)), "812 KiB");
        assert_eq!(format!("{}", Size(2_200_000)), "2.1 MiB");
        assert_eq!(format!("{}", Size(u32::MAX)), "4096.0 MiB");
    }
}
