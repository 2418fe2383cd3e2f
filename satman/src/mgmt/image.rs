//! The structural check a flashed boot image passes before it may replace
//! `/BOOT.BIN`: it must parse as a Zynq boot image (boot header, image and
//! partition header tables with their checksums, every partition inside the
//! image, no overlaps), and hold what the boot loader needs: a boot loader
//! partition and a PS partition after it for the firmware. A bitstream is
//! optional (a loader may program it from elsewhere).

use libbootimage::{BootImage, Destination, Error};
use log::{error, info};

use crate::hal::{ConfigError, ImageReader};

/// libbootimage's reader over the store's [`ImageReader`].
struct Reader<'a>(&'a mut dyn ImageReader);

impl libbootimage::ReadAt for Reader<'_> {
    type Error = ConfigError;
    fn len(&self) -> u32 {
        self.0.len()
    }
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), ConfigError> {
        self.0.read_at(offset, buf)
    }
}

/// Checks a boot image read back from the card; the error names the cause
/// (the detail is logged).
pub fn check_boot_image(r: &mut dyn ImageReader) -> Result<(), &'static str> {
    let image = match BootImage::parse(&mut Reader(r)) {
        Ok(i) => i,
        Err(Error::Read { error, .. }) => {
            error!("flash: reading the image back failed: {:?}", error);
            return Err("the card could not be read back");
        }
        Err(e) => {
            error!("flash: boot image structure: {:?}", e);
            return Err("malformed boot image");
        }
    };
    let Some(fw) = image.first_ps_after_bootloader() else {
        return Err("no firmware (PS) partition after the boot loader");
    };
    let bitstreams = image.partitions().iter().filter(|p| p.destination == Destination::Pl).count();
    info!(
        "flash: boot image with {} partitions: loader {} bytes, {} bitstream(s), firmware {} bytes at {:#010x}",
        image.partitions().len(),
        image.bootloader().len,
        bitstreams,
        fw.len,
        fw.load
    );
    Ok(())
}
