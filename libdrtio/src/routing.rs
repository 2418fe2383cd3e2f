//! [`RoutingTable`]: where each DRTIO destination lies, seen from each
//! rank of the tree.
//!
//! `hop(d, r)` is the next hop towards destination `d` for the node at
//! rank `r`. On a satellite, 0 means "d is me" and n ≥ 1 means "through
//! repeater n − 1" (aux link n); [`INVALID_HOP`] (0xff) marks no route and
//! pads the end of a path. The master (rank 0) reads hop n as DRTIO link
//! n − 1 instead; this type stores either but [`RoutingTable::route`]
//! speaks for satellites.

use core::fmt;

/// Number of DRTIO destinations.
pub const DESTINATIONS: usize = 256;

/// Hops stored per destination, one per rank.
pub const MAX_HOPS: usize = 32;

/// A hop that leads nowhere: no route, or past the end of a path.
pub const INVALID_HOP: u8 = 0xff;

/// Size of the table in its raw form (config key `routing_table`).
pub const TABLE_BYTES: usize = DESTINATIONS * MAX_HOPS;

/// Where a satellite sends a packet for a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// The destination is this satellite.
    Local,
    /// Through the repeater with this 0-based index (aux link index + 1).
    Repeater(u8),
    /// No route: an invalid hop, a hop beyond the repeaters this satellite
    /// has, or a rank beyond the table.
    Unreachable,
}

/// 256 destinations × 32 hops, row-major: `table[destination][rank]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RoutingTable {
    hops: [[u8; MAX_HOPS]; DESTINATIONS],
}

impl RoutingTable {
    /// A table with no routes (every hop [`INVALID_HOP`]), the satellite's
    /// state until the master sends the paths.
    pub const fn new() -> Self {
        RoutingTable {
            hops: [[INVALID_HOP; MAX_HOPS]; DESTINATIONS],
        }
    }

    /// The hop towards `destination` at `rank`; [`INVALID_HOP`] for a rank
    /// beyond the table.
    pub fn hop(&self, destination: u8, rank: u8) -> u8 {
        self.path(destination)
            .get(usize::from(rank))
            .copied()
            .unwrap_or(INVALID_HOP)
    }

    /// The hops towards `destination`, one per rank.
    pub fn path(&self, destination: u8) -> &[u8; MAX_HOPS] {
        &self.hops[usize::from(destination)]
    }

    /// Replaces the path towards `destination`, as `RoutingSetPath` does.
    pub fn set_path(&mut self, destination: u8, hops: [u8; MAX_HOPS]) {
        self.hops[usize::from(destination)] = hops;
    }

    /// Where a satellite at `rank` with `repeater_count` repeaters sends a
    /// packet for `destination`.
    ///
    /// Hop n ≥ 1 is usable when n − 1 < `repeater_count`. (The reference
    /// forwards with this bound but its asynchronous router compares with
    /// a strict `n < repeater_count`, which can never pick the last
    /// repeater; we use the correct bound everywhere.)
    pub fn route(&self, destination: u8, rank: u8, repeater_count: usize) -> Route {
        match self.hop(destination, rank) {
            0 => Route::Local,
            INVALID_HOP => Route::Unreachable,
            hop => {
                let repeater = hop - 1;
                if usize::from(repeater) < repeater_count {
                    Route::Repeater(repeater)
                } else {
                    Route::Unreachable
                }
            }
        }
    }

    /// The raw table, 8192 bytes, row-major (destination-major).
    pub fn as_bytes(&self) -> &[u8] {
        self.hops.as_flattened()
    }

    /// A table from its raw form; `None` unless `bytes` is exactly
    /// [`TABLE_BYTES`] long (the master then falls back to its default).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != TABLE_BYTES {
            return None;
        }
        let mut table = RoutingTable::new();
        for (row, chunk) in table.hops.iter_mut().zip(bytes.chunks_exact(MAX_HOPS)) {
            row.copy_from_slice(chunk);
        }
        Some(table)
    }
}

impl Default for RoutingTable {
    fn default() -> Self {
        RoutingTable::new()
    }
}

impl fmt::Debug for RoutingTable {
    /// Lists only destinations with a route, up to the end of each path;
    /// the full table is 8 KiB of mostly 0xff.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (destination, row) in self.hops.iter().enumerate() {
            let end = row
                .iter()
                .position(|&h| h == INVALID_HOP)
                .unwrap_or(MAX_HOPS);
            if end > 0 {
                map.entry(&destination, &&row[..end]);
            }
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(hops: &[u8]) -> [u8; MAX_HOPS] {
        let mut row = [INVALID_HOP; MAX_HOPS];
        row[..hops.len()].copy_from_slice(hops);
        row
    }

    #[test]
    fn default_has_no_routes() {
        let t = RoutingTable::default();
        assert!(t.as_bytes().iter().all(|&b| b == INVALID_HOP));
        assert_eq!(t.as_bytes().len(), TABLE_BYTES);
        for d in 0..=255 {
            assert_eq!(t.route(d, 1, 8), Route::Unreachable);
        }
    }

    #[test]
    fn set_path_and_hop() {
        let mut t = RoutingTable::new();
        t.set_path(3, path(&[1, 2, 0]));
        assert_eq!(t.hop(3, 0), 1);
        assert_eq!(t.hop(3, 1), 2);
        assert_eq!(t.hop(3, 2), 0);
        assert_eq!(t.hop(3, 3), INVALID_HOP);
        assert_eq!(t.hop(3, 31), INVALID_HOP);
        assert_eq!(t.hop(3, 32), INVALID_HOP);
        assert_eq!(t.hop(3, 255), INVALID_HOP);
        assert_eq!(t.hop(4, 0), INVALID_HOP);
        assert_eq!(t.path(3)[..3], [1, 2, 0]);
    }

    #[test]
    fn route_by_hop() {
        let mut t = RoutingTable::new();
        t.set_path(1, path(&[1, 0]));
        t.set_path(2, path(&[1, 1]));
        t.set_path(3, path(&[1, 3]));
        t.set_path(4, path(&[1, 4]));
        t.set_path(5, path(&[1, 0xfe]));
        assert_eq!(t.route(1, 1, 0), Route::Local);
        assert_eq!(t.route(2, 1, 0), Route::Unreachable);
        assert_eq!(t.route(2, 1, 1), Route::Repeater(0));
        // The last repeater is reachable (hop == repeater_count).
        assert_eq!(t.route(3, 1, 3), Route::Repeater(2));
        assert_eq!(t.route(4, 1, 3), Route::Unreachable);
        assert_eq!(t.route(5, 1, 255), Route::Repeater(0xfd));
        assert_eq!(t.route(5, 1, 253), Route::Unreachable);
        // Rank 0 sees hop 1 for everything above.
        assert_eq!(t.route(1, 0, 1), Route::Repeater(0));
        assert_eq!(t.route(1, 40, 1), Route::Unreachable);
    }

    #[test]
    fn bytes_round_trip_row_major() {
        let mut t = RoutingTable::new();
        t.set_path(0, path(&[0]));
        t.set_path(2, path(&[1, 2, 3]));
        t.set_path(255, path(&[7; MAX_HOPS]));
        let bytes = t.as_bytes();
        assert_eq!(bytes[0], 0);
        assert_eq!(bytes[1], INVALID_HOP);
        assert_eq!(&bytes[64..67], &[1, 2, 3]);
        assert_eq!(bytes[TABLE_BYTES - 1], 7);
        assert_eq!(RoutingTable::from_bytes(bytes), Some(t.clone()));
        assert_eq!(RoutingTable::from_bytes(&bytes[1..]), None);
        assert_eq!(RoutingTable::from_bytes(&[0; TABLE_BYTES + 1]), None);
    }

    #[test]
    fn debug_lists_routes_only() {
        let mut t = RoutingTable::new();
        t.set_path(9, path(&[1, 0]));
        assert_eq!(alloc::format!("{t:?}"), "{9: [1, 0]}");
    }
}
