//! A configuration store in memory, for unit tests of the parts above the
//! store and for benchmarks of the core. No board uses it: on the boards
//! every `Ok` must mean "on the card" (see `mgmt::card`).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::hal::{ConfigError, ConfigStore, ImageReader};

#[derive(Default)]
pub struct RamConfig {
    entries: BTreeMap<String, Vec<u8>>,
    /// The committed boot image.
    pub boot_image: Option<Vec<u8>>,
    pending: Option<Vec<u8>>,
}

impl RamConfig {
    /// The boot image being written (tests).
    pub fn pending_image(&self) -> Option<&[u8]> {
        self.pending.as_deref()
    }
}

struct Slice<'a>(&'a [u8]);

impl ImageReader for Slice<'_> {
    fn len(&self) -> u32 {
        self.0.len() as u32
    }
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), ConfigError> {
        let start = offset as usize;
        let src = start.checked_add(buf.len()).and_then(|end| self.0.get(start..end)).ok_or(ConfigError::Io)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl ConfigStore for RamConfig {
    fn read(&mut self, key: &str, out: &mut Vec<u8>) -> Result<(), ConfigError> {
        let v = self.entries.get(key).ok_or(ConfigError::NotFound)?;
        out.extend_from_slice(v);
        Ok(())
    }

    fn write(&mut self, key: &str, value: &[u8]) -> Result<(), ConfigError> {
        if key.is_empty() {
            return Err(ConfigError::InvalidKey);
        }
        self.entries.insert(String::from(key), value.to_vec());
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Result<(), ConfigError> {
        self.entries.remove(key);
        Ok(())
    }

    fn erase(&mut self) -> Result<(), ConfigError> {
        self.entries.clear();
        Ok(())
    }

    fn boot_begin(&mut self, _capacity: u32) -> Result<(), ConfigError> {
        self.pending = Some(Vec::new());
        Ok(())
    }

    fn boot_write(&mut self, data: &[u8]) -> Result<(), ConfigError> {
        let p = self.pending.as_mut().ok_or(ConfigError::NoTransfer)?;
        p.try_reserve(data.len()).map_err(|_| ConfigError::TooLarge)?;
        p.extend_from_slice(data);
        Ok(())
    }

    fn boot_commit(
        &mut self,
        check: &mut dyn FnMut(&mut dyn ImageReader) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        let image = self.pending.take().ok_or(ConfigError::NoTransfer)?;
        check(&mut Slice(&image))?;
        self.boot_image = Some(image);
        Ok(())
    }

    fn boot_abort(&mut self) {
        self.pending = None;
    }
}
