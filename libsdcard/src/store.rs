//! The configuration store on the card, with upstream libconfig's layout
//! and semantics: `/CONFIG.TXT` holds `key=value` lines for short one-line
//! ASCII values; other values live in `/CONFIG/<KEY>.BIN`. A read tries the
//! `.BIN` file first, then `CONFIG.TXT`.
//!
//! Writes keep the reader's view old-or-new at every block write:
//! `CONFIG.TXT` is replaced through its spare `/CONFIG.NEW` (one-block
//! commit, `crate::card`); a `.BIN` value is written to free clusters, the
//! chain linked, then its directory entry written (the commit), then the
//! old chain freed; a key moving between the two places is written to its
//! new place first and removed from the old one after (the `.BIN` file
//! shadows `CONFIG.TXT` while both exist, so the order matters: a text
//! value is committed to `CONFIG.TXT` and then the `.BIN` is deleted; a
//! binary value's `.BIN` is committed and then the line is dropped).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::block::BlockDevice;
use crate::card::Card;
use crate::config;
use crate::error::CardError;
use crate::fat::dir::{Dir, Entry};
use crate::readat::ReadAt;
use crate::spare::Pinned;

pub const CONFIG_TXT: &str = "CONFIG.TXT";
pub const CONFIG_SPARE: &str = "CONFIG.NEW";
pub const CONFIG_DIR: &str = "CONFIG";

impl<D: BlockDevice> Card<D> {
    fn config_dir(&mut self) -> Result<Option<Dir>, CardError> {
        match self.vol.find(Dir::Root, CONFIG_DIR)? {
            Some(e) if e.is_dir() && e.start != 0 => Ok(Some(Dir::Cluster(e.start))),
            _ => Ok(None),
        }
    }

    fn bin_entry(&mut self, key: &str) -> Result<Option<(Dir, Entry)>, CardError> {
        let Some(dir) = self.config_dir()? else { return Ok(None) };
        Ok(self
            .vol
            .find(dir, &format!("{key}.BIN"))?
            .filter(|e| !e.is_dir())
            .map(|e| (dir, e)))
    }

    fn read_entry(&mut self, e: &Entry, out: &mut Vec<u8>) -> Result<(), CardError> {
        let mut r = crate::readat::ChainReader::new(&mut self.vol, e.start, e.size);
        let base = out.len();
        out.resize(base + e.size as usize, 0);
        r.read_exact_at(0, &mut out[base..])
    }

    fn config_txt(&mut self) -> Result<Vec<u8>, CardError> {
        let mut v = Vec::new();
        match self.vol.find(Dir::Root, CONFIG_TXT)? {
            Some(e) if !e.is_dir() => self.read_entry(&e, &mut v)?,
            _ => {}
        }
        Ok(v)
    }

    /// Replaces `/CONFIG.TXT` with `content` through its spare: data blocks
    /// of the spare, then the one-block swap.
    fn write_config_txt(&mut self, content: &[u8]) -> Result<(), CardError> {
        let target = self.ensure_file(Dir::Root, CONFIG_TXT)?;
        let k = self.clusters_for(content.len() as u32);
        let spare = self.ensure_spare(Dir::Root, &target, CONFIG_SPARE, k, false)?;
        if k > 0 {
            self.vol.write_chain(spare.start, content)?;
        }
        self.swap(Pinned::from(&target), Pinned::from(&spare), content.len() as u32)?;
        if target.start == 0 && k > 0 {
            // The first write left the spare without a chain: give it one
            // now (outside any commit), so later writes need no allocation.
            let target = self.ensure_file(Dir::Root, CONFIG_TXT)?;
            self.ensure_spare(Dir::Root, &target, CONFIG_SPARE, k, false)?;
        }
        Ok(())
    }

    /// Appends the value of `key` to `out`: `/CONFIG/<key>.BIN` if present,
    /// else its `CONFIG.TXT` line. `Err(NotFound)` if neither.
    pub fn config_read(&mut self, key: &str, out: &mut Vec<u8>) -> Result<(), CardError> {
        if !config::key_ok(key) {
            return Err(CardError::BadKey);
        }
        if let Some((_, e)) = self.bin_entry(key)? {
            return self.read_entry(&e, out);
        }
        let txt = self.config_txt()?;
        let v = config::lookup(&txt, key).ok_or(CardError::NotFound)?;
        out.extend_from_slice(v);
        Ok(())
    }

    /// Stores `value` for `key` (see the module docs for where and how).
    pub fn config_write(&mut self, key: &str, value: &[u8]) -> Result<(), CardError> {
        if !config::key_ok(key) {
            return Err(CardError::BadKey);
        }
        if config::is_text(value) {
            let txt = self.config_txt()?;
            self.write_config_txt(&config::set(&txt, key, value))?;
            if let Some((_, e)) = self.bin_entry(key)? {
                self.delete_file(&e)?;
            }
            return Ok(());
        }
        let dir = self.ensure_dir(CONFIG_DIR)?;
        let name = format!("{key}.BIN");
        let start = self.write_new_chain(value)?;
        match self.vol.find(dir, &name)? {
            Some(old) if !old.is_dir() => {
                // Commit: one block write; then the old chain is freed.
                self.set_fields(old.slot, start, value.len() as u32)?;
                self.vol.free_chain(old.start)?;
            }
            Some(_) => return Err(CardError::NotAFile),
            None => {
                self.create_entry(dir, &name, 0x20, start, value.len() as u32, 0)?;
            }
        }
        let txt = self.config_txt()?;
        let (rest, had) = config::remove(&txt, key);
        if had {
            self.write_config_txt(&rest)?;
        }
        Ok(())
    }

    /// Removes `key` from both places (no error if it was not set).
    pub fn config_remove(&mut self, key: &str) -> Result<(), CardError> {
        if !config::key_ok(key) {
            return Err(CardError::BadKey);
        }
        if let Some((_, e)) = self.bin_entry(key)? {
            self.delete_file(&e)?;
        }
        let txt = self.config_txt()?;
        let (rest, had) = config::remove(&txt, key);
        if had {
            self.write_config_txt(&rest)?;
        }
        Ok(())
    }

    /// Removes every key: all `/CONFIG/*.BIN` files, and `CONFIG.TXT`
    /// emptied.
    pub fn config_erase(&mut self) -> Result<(), CardError> {
        if let Some(dir) = self.config_dir()? {
            for e in self.files_with_suffix(dir, ".bin")? {
                self.delete_file(&e)?;
            }
        }
        if self.vol.find(Dir::Root, CONFIG_TXT)?.is_some() {
            self.write_config_txt(&[])?;
        }
        Ok(())
    }

    /// Every key set on the card (`.BIN` files first, then `CONFIG.TXT`).
    pub fn config_keys(&mut self) -> Result<Vec<String>, CardError> {
        let mut keys: Vec<String> = Vec::new();
        if let Some(dir) = self.config_dir()? {
            for e in self.files_with_suffix(dir, ".bin")? {
                let n = e.name();
                keys.push(n[..n.len() - 4].into());
            }
        }
        let txt = self.config_txt()?;
        for k in config::keys(&txt) {
            if !keys.iter().any(|x| x.eq_ignore_ascii_case(&k)) {
                keys.push(k);
            }
        }
        Ok(keys)
    }
}
