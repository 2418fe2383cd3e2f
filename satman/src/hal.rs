//! The hardware the satellite core drives, as small traits.
//!
//! Each board provides one implementation of each trait: the Kasli-SoC
//! gateware (CSRs), the QEMU model, and the host simulation used by the
//! tests. The core never waits on any of them: every call returns promptly,
//! and anything that takes time is started, then polled.

use alloc::vec::Vec;

use libdma::PlaybackTrace;
use libdrtio::MAX_PACKET;
use libksupport::msg::{Bytes, FromKernel, PlaybackStatus, ToKernel};

pub use crate::lent::LentError;

/// A monotonic clock.
pub trait Clock {
    /// Microseconds since an arbitrary origin; never goes backwards.
    fn now_us(&self) -> u64;
}

/// Why an aux link operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// The transmitter is still sending the previous frame; try again later.
    Busy,
    /// The gateware flagged a receive error (frame too long, ring overflow);
    /// the flag has been cleared.
    Gateware,
    /// The link is down.
    Down,
    /// The frame cannot be sent (empty, or longer than a packet).
    Invalid,
}

/// One DRTIO aux channel (the uplink, or a link to a downstream repeater).
pub trait AuxLink {
    /// Whether the link's receiver is up (`rx_up`).
    fn is_up(&mut self) -> bool;
    /// Copies the next received frame into `buf` and returns how many bytes
    /// of it are meaningful. The gateware does not report frame lengths, so
    /// it returns a whole slot; the frame decoder finds the frame's end.
    fn receive(&mut self, buf: &mut [u8; MAX_PACKET]) -> Result<Option<usize>, LinkError>;
    /// Starts sending one frame.
    fn transmit(&mut self, frame: &[u8]) -> Result<(), LinkError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuError {
    /// CPU1 did not acknowledge a restart within its deadline and could not
    /// be reset; kernels cannot run until the board is reset.
    Unresponsive,
    /// The mailbox to CPU1 is full.
    MailboxFull,
}

/// CPU0's side of the kernel CPU.
pub trait KernelCpu {
    /// Stops whatever CPU1 runs and brings it back to its idle loop with
    /// empty mailboxes and a fresh heap. Bounded in time (milliseconds):
    /// falls back to a hard reset, and reports `Unresponsive` if even that
    /// fails.
    fn restart(&mut self) -> Result<(), CpuError>;
    fn send(&mut self, msg: ToKernel) -> Result<(), CpuError>;
    /// The next message from CPU1. The byte ranges it carries are read
    /// through [`KernelCpu::lent`], until the next `send` or `restart`.
    fn receive(&mut self) -> Option<FromKernel>;
    /// The bytes of `range`, a range of the message `receive` returned last,
    /// borrowed from the link: the reply (`send`) and `restart` take the
    /// link mutably, so the slice cannot outlive CPU1's loan
    /// ([`crate::lent`]). Refused for any other range, after the reply, or
    /// outside the memory CPU1 can lend.
    fn lent(&self, range: Bytes) -> Result<&[u8], LentError>;
    /// The fatal exception CPU1 took since the last restart, if any (once:
    /// the record is consumed). CPU1 then waits, touching nothing, for
    /// [`KernelCpu::restart`].
    fn fault(&mut self) -> Option<crate::fault::CpuFault>;
    /// Bytes allocated on CPU1's heap now, if this CPU keeps an account.
    /// Only meaningful while CPU1 allocates nothing: the kernel manager
    /// reads it right after `LoadDone` and when a kernel has ended by
    /// itself (finished, raised, crashed), before the teardown's restart
    /// recreates the heap ([`crate::stats::Stats::heap1_loaded`]).
    fn heap_in_use(&mut self) -> Option<usize> {
        None
    }
}

/// Who drives the satellite's RTIO interconnect (`cri_con.selected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The master, through the DRTIO link.
    Drtio,
    /// The local DMA engine.
    Dma,
    /// The kernel running on CPU1.
    Kernel,
}

/// Asynchronous RTIO errors the satellite reports to
/// `DestinationStatusRequest`, with the channel concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtioError {
    Sequence(u16),
    Collision(u16),
    Busy(u16),
}

/// The satellite's RTIO core, seen from CPU0.
pub trait Rtio {
    fn select(&mut self, initiator: Initiator);
    /// Pulses the RTIO reset (`ResetRequest`, `rtio_init`).
    fn reset(&mut self);
    /// Holds the RTIO core (and link PHY) in reset while the uplink is down,
    /// and releases it when the uplink comes up.
    fn hold_reset(&mut self, held: bool);
    /// The next pending asynchronous error (sequence, then collision, then
    /// busy), clearing it.
    fn take_error(&mut self) -> Option<RtioError>;
    /// Programs the gateware routing table entry for `destination`.
    fn set_route(&mut self, destination: u8, hop: u8);
    /// True once after the master has loaded the timestamp counter.
    fn take_tsc_loaded(&mut self) -> bool;

    /// The RT link's protocol errors latched since the last call
    /// (`drtiosat.protocol_error` and its details), clearing them. Boards
    /// without such diagnostics report none.
    fn take_link_errors(&mut self) -> Option<LinkErrors> {
        None
    }

    /// Loads the timestamp counter of the satellite below repeater `i`
    /// (`drtiorepN.set_time`: strobe, then a bounded wait for the gateware
    /// to clear it). `Ok` only once the gateware has sent the time down.
    fn repeater_set_time(&mut self, _i: usize) -> Result<(), RepeaterFault> {
        Err(RepeaterFault::Absent)
    }

    /// Pulses repeater `i`'s RTIO reset (`drtiorepN.reset`, ~100 µs),
    /// bounded.
    fn repeater_reset(&mut self, _i: usize) -> Result<(), RepeaterFault> {
        Err(RepeaterFault::Absent)
    }

    /// Repeater `i`'s protocol errors latched since the last call
    /// (`drtiorepN.protocol_error` and its details), clearing them.
    fn take_repeater_errors(&mut self, _i: usize) -> Option<LinkErrors> {
        None
    }
}

/// Why a repeater operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeaterFault {
    /// The board has no such repeater in its gateware.
    Absent,
    /// The gateware did not finish the operation within its deadline.
    Timeout,
}

/// An output the RTIO core received too late (`drtiosat.underflow_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Underflow {
    pub channel: u16,
    pub timestamp: i64,
    /// The counter when the event was refused.
    pub counter: i64,
}

/// A command the repeater could not pass down (`command_missed_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandMissed {
    pub cmd: u8,
    pub chan_sel: u32,
}

/// Protocol errors of one RT link end, with their details: the
/// satellite's own (`drtiosat.protocol_error`: unknown packet, truncated
/// packet, buffer-space timeout, write underflow, write overflow) or a
/// repeater's (`drtiorepN.protocol_error`: unknown packet, truncated
/// packet, command missed, buffer-space timeout). The master normally
/// prevents all of them: they point at a link or gateware problem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkErrors {
    pub unknown_packet: bool,
    pub truncated_packet: bool,
    /// Destination whose buffer space request timed out.
    pub buffer_space_timeout: Option<u8>,
    /// Satellite only.
    pub underflow: Option<Underflow>,
    /// Satellite only.
    pub overflow: bool,
    /// Repeaters only.
    pub command_missed: Option<CommandMissed>,
}

impl LinkErrors {
    pub fn is_empty(&self) -> bool {
        *self == LinkErrors::default()
    }
}

/// The gateware DMA engine.
pub trait DmaEngine {
    /// Starts playing `trace` with `time_offset` added to every timestamp.
    /// The implementation makes the trace visible to the engine (cache
    /// clean) first.
    fn start(&mut self, trace: &PlaybackTrace, time_offset: u64);
    /// `None` while playing; the outcome once the engine has stopped.
    fn poll(&mut self) -> Option<PlaybackStatus>;
    /// Abandons a playback; bounded. The engine may go on reading the trace
    /// for a while (the gateware has no abort): see [`DmaEngine::idle`].
    fn stop(&mut self);
    /// Whether the engine has stopped reading trace memory.
    fn idle(&mut self) -> bool;
}

/// Why a moninj request was not carried out (logged by name; the wire has
/// no failure code: a monitor of nothing reads 0, as on the gateware).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoninjError {
    /// The channel is past the moninj core's channel selector.
    NoSuchChannel,
    /// The probe is past the probe selector, or the channel has no such
    /// probe.
    NoSuchProbe,
    /// The override is past the override selector, or the channel has no
    /// such override.
    NoSuchOverride,
}

/// The RTIO channels' monitor probes and injection overrides (ARTIQ's
/// moninj). Channel numbers are local (without the destination bits).
pub trait Moninj {
    /// The current value of one probe (a TTL's level: probe 0).
    fn monitor(&mut self, channel: u16, probe: u8) -> Result<u64, MoninjError>;
    /// Sets one override (a TTL's: 0 = override enable, 1 = level).
    fn inject(&mut self, channel: u16, overrd: u8, value: u8) -> Result<(), MoninjError>;
    /// The value an override holds now.
    fn injection_status(&mut self, channel: u16, overrd: u8) -> Result<u8, MoninjError>;
}

/// Why an I2C byte operation failed (not a NACK: a NACK is an answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I2cError {
    /// This board has no I2C bus the master may use.
    NoBus,
    /// SDA read low while the master released it.
    ArbitrationLost,
    /// A line stayed low past its deadline (clock stretching, recovery).
    Stuck,
}

/// One I2C bus at the byte level, as ARTIQ's I2C requests drive it: every
/// call is one bus condition or one byte, bounded in time.
pub trait I2cBus {
    /// START (from an idle bus).
    fn start(&mut self) -> Result<(), I2cError>;
    /// Repeated START (inside a transfer).
    fn restart(&mut self) -> Result<(), I2cError>;
    fn stop(&mut self) -> Result<(), I2cError>;
    /// Writes one byte; `Ok(false)` when the device did not acknowledge.
    fn write(&mut self, byte: u8) -> Result<bool, I2cError>;
    /// Reads one byte, then acknowledges it (`ack`) or not (the last byte).
    fn read(&mut self, ack: bool) -> Result<u8, I2cError>;
    /// The control byte that makes the I2C switch at `address` connect
    /// `channel` alone (`None`: none). The default is the PCA9548's (one
    /// enable bit per channel); a board with other switches overrides it.
    fn switch_control(&self, _address: u8, channel: Option<u8>) -> u8 {
        channel.map_or(0, |c| 1 << (c & 7))
    }
}

/// A board without an I2C bus for the master: every operation fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoI2c;

impl I2cBus for NoI2c {
    fn start(&mut self) -> Result<(), I2cError> {
        Err(I2cError::NoBus)
    }
    fn restart(&mut self) -> Result<(), I2cError> {
        Err(I2cError::NoBus)
    }
    fn stop(&mut self) -> Result<(), I2cError> {
        Err(I2cError::NoBus)
    }
    fn write(&mut self, _byte: u8) -> Result<bool, I2cError> {
        Err(I2cError::NoBus)
    }
    fn read(&mut self, _ack: bool) -> Result<u8, I2cError> {
        Err(I2cError::NoBus)
    }
}

/// What the RTIO analyzer captured, as `AnalyzerHeader` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnalyzerHeader {
    /// Bytes [`RtioAnalyzer::read`] serves: the whole buffer once it wrapped.
    pub sent_bytes: u32,
    /// Bytes captured since the capture was armed.
    pub total_byte_count: u64,
    /// Records were lost (the gateware's message-encoder overflow, or a
    /// bus error of its DMA).
    pub overflow: bool,
}

/// The RTIO analyzer: captures every event of the RTIO core, in
/// `artiq_coreanalyzer`'s 32-byte record format, into a ring buffer.
pub trait RtioAnalyzer {
    /// Stops the capture (bounded) and describes what it holds.
    fn stop(&mut self) -> AnalyzerHeader;
    /// Copies the stopped capture's bytes from `offset` (0 = its oldest
    /// record) into `out`; returns how many were copied (0 past the end).
    fn read(&mut self, offset: u32, out: &mut [u8]) -> usize;
    /// Empties the buffer and captures again.
    fn arm(&mut self);
    /// Whether the board has an analyzer at all (the requests are refused
    /// otherwise, never answered with a made-up empty capture).
    fn exists(&self) -> bool {
        true
    }
}

/// A board without an analyzer (the host simulation).
#[derive(Debug, Default)]
pub struct NoAnalyzer;

impl RtioAnalyzer for NoAnalyzer {
    fn exists(&self) -> bool {
        false
    }
    fn stop(&mut self) -> AnalyzerHeader {
        AnalyzerHeader::default()
    }
    fn read(&mut self, _offset: u32, _out: &mut [u8]) -> usize {
        0
    }
    fn arm(&mut self) {}
}

/// Why a configuration or boot image operation did not happen. Each is
/// logged by name; the master only sees `succeeded: false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The key is not set.
    NotFound,
    /// No SD card, or it did not answer its initialisation.
    NoCard,
    /// A block read or write failed.
    Io,
    /// The card has no FAT file system on MBR partition 1, or it is damaged.
    Unreadable,
    /// The file system has no room left.
    Full,
    /// The value or image is larger than the store accepts.
    TooLarge,
    /// The key is empty, not ASCII, or not usable as a file name.
    InvalidKey,
    /// The new boot image failed its checks (CRC, read-back, structure);
    /// the current one is untouched.
    BadImage,
    /// A boot image operation out of order (data without a start, ...).
    NoTransfer,
}

/// Reads a boot image back from where it was written, for the checks that
/// run before it replaces the current one.
pub trait ImageReader {
    /// Length of the image in bytes.
    fn len(&self) -> u32;
    /// Fills `buf` from `offset`; fails past the end.
    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), ConfigError>;
}

/// Persistent configuration and the boot image: the SD card's
/// `/CONFIG.TXT`, `/CONFIG/<KEY>.BIN` and `/BOOT.BIN` on the boards.
///
/// Every `Ok` means the change reached the medium: nothing may report
/// success for something that was not persisted.
pub trait ConfigStore {
    fn read(&mut self, key: &str, out: &mut Vec<u8>) -> Result<(), ConfigError>;
    fn write(&mut self, key: &str, value: &[u8]) -> Result<(), ConfigError>;
    /// Removing a key that is not set is not an error.
    fn remove(&mut self, key: &str) -> Result<(), ConfigError>;
    /// Removes every key (the boot image stays).
    fn erase(&mut self) -> Result<(), ConfigError>;
    /// Starts writing a new boot image of at most `capacity` bytes beside
    /// the current one, abandoning any unfinished one.
    fn boot_begin(&mut self, capacity: u32) -> Result<(), ConfigError>;
    /// Appends to the new boot image; data reaches the card as it arrives.
    fn boot_write(&mut self, data: &[u8]) -> Result<(), ConfigError>;
    /// Reads the new image back through `check` and, only if it passes,
    /// makes it the boot image (crash-consistently: a power cut leaves the
    /// complete old or the complete new image).
    fn boot_commit(
        &mut self,
        check: &mut dyn FnMut(&mut dyn ImageReader) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError>;
    /// Abandons the new image; the current one is untouched.
    fn boot_abort(&mut self);
    /// Heap bytes a boot image transfer holds from `boot_begin` to its
    /// commit or abort (the card store's run buffer), admitted against
    /// CPU0's budget before the transfer starts.
    fn boot_buffer_bytes(&self) -> usize {
        0
    }
}

/// Board services used by core management.
pub trait System {
    /// A copy of the firmware log, optionally clearing it.
    fn log_snapshot(&mut self, clear: bool) -> Option<Vec<u8>>;
    fn log_clear(&mut self);
    /// Applies `uart_log_level` (the `log` crate's max level is set by the
    /// core for the in-memory log).
    fn set_uart_log_level(&mut self, level: log::LevelFilter);
    /// Resets the board. Called after the reply has been sent.
    fn reboot(&mut self);
    /// Allocator figures for `CoreMgmtAllocatorDebugRequest`.
    fn heap_summary(&mut self) -> HeapSummary;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapSummary {
    pub cpu0_used: usize,
    pub cpu0_capacity: usize,
    pub cpu1_used: usize,
    pub cpu1_capacity: usize,
}

/// A board: one type per piece of hardware.
pub trait Platform {
    type Link: AuxLink;
    type Cpu: KernelCpu;
    type Rtio: Rtio;
    type Dma: DmaEngine;
    type Analyzer: RtioAnalyzer;
    type Clock: Clock;
    type Config: ConfigStore;
    type System: System;
    type Moninj: Moninj;
    type I2c: I2cBus;
}

/// The hardware of one satellite.
pub struct Hardware<P: Platform> {
    pub uplink: P::Link,
    /// Downstream links; repeater `n` is aux link `n + 1`.
    pub repeaters: Vec<P::Link>,
    pub cpu: P::Cpu,
    pub rtio: P::Rtio,
    pub dma: P::Dma,
    pub analyzer: P::Analyzer,
    pub clock: P::Clock,
    pub config: P::Config,
    pub system: P::System,
    pub moninj: P::Moninj,
    /// The I2C bus the master's `I2c*Request`s drive (bus 0).
    pub i2c: P::I2c,
}
