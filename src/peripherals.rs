//! The master's moninj and I2C-over-DRTIO requests, as ARTIQ's master
//! sends them (one aux transaction per request; `InjectionRequest` has no
//! reply).

use libdrtio::Packet;

use crate::master::{Master, MasterError, Transport};

/// An I2C request's reply, as the satellite sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I2cReply {
    Basic { succeeded: bool },
    Write { succeeded: bool, ack: bool },
    Read { succeeded: bool, data: u8 },
}

impl<T: Transport> Master<T> {
    fn reply_of(&mut self, packet: &Packet<'_>, what: &'static str) -> Result<Packet<'static>, MasterError> {
        let frame = self.transact(packet, what)?;
        let reply = frame.decode().map_err(|e| MasterError::Corrupt(e.to_string()))?;
        Ok(match reply {
            Packet::MonitorReply { value } => Packet::MonitorReply { value },
            Packet::InjectionStatusReply { value } => Packet::InjectionStatusReply { value },
            Packet::I2cBasicReply { succeeded } => Packet::I2cBasicReply { succeeded },
            Packet::I2cWriteReply { succeeded, ack } => Packet::I2cWriteReply { succeeded, ack },
            Packet::I2cReadReply { succeeded, data } => Packet::I2cReadReply { succeeded, data },
            other => return Err(MasterError::Unexpected { waiting_for: what, got: other.packet_id() }),
        })
    }

    /// `MonitorRequest`: the probe's value.
    pub fn monitor(&mut self, destination: u8, channel: u16, probe: u8) -> Result<u64, MasterError> {
        match self.reply_of(&Packet::MonitorRequest { destination, channel, probe }, "monitor")? {
            Packet::MonitorReply { value } => Ok(value),
            other => Err(MasterError::Unexpected { waiting_for: "monitor", got: other.packet_id() }),
        }
    }

    /// `InjectionRequest` (no reply).
    pub fn inject(&mut self, destination: u8, channel: u16, overrd: u8, value: u8) -> Result<(), MasterError> {
        self.send(&Packet::InjectionRequest { destination, channel, overrd, value })
    }

    /// `InjectionStatusRequest`: the override's value.
    pub fn injection_status(&mut self, destination: u8, channel: u16, overrd: u8) -> Result<u8, MasterError> {
        match self.reply_of(&Packet::InjectionStatusRequest { destination, channel, overrd }, "injection status")? {
            Packet::InjectionStatusReply { value } => Ok(value),
            other => Err(MasterError::Unexpected { waiting_for: "injection status", got: other.packet_id() }),
        }
    }

    /// Any `I2c*Request`; its reply.
    pub fn i2c(&mut self, request: &Packet<'_>) -> Result<I2cReply, MasterError> {
        match self.reply_of(request, "i2c")? {
            Packet::I2cBasicReply { succeeded } => Ok(I2cReply::Basic { succeeded }),
            Packet::I2cWriteReply { succeeded, ack } => Ok(I2cReply::Write { succeeded, ack }),
            Packet::I2cReadReply { succeeded, data } => Ok(I2cReply::Read { succeeded, data }),
            other => Err(MasterError::Unexpected { waiting_for: "i2c", got: other.packet_id() }),
        }
    }
}
