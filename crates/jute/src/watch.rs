//! Watch notifications and the enums that describe watches.

use bytes::BufMut;

use crate::error::DecodeError;
use crate::reader::Reader;
use crate::record::Record;
use crate::writer::JuteWrite;

/// What happened to a watched znode (`Watcher.Event.EventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A connection state change, not a znode event.
    None = -1,
    /// The znode was created.
    NodeCreated = 1,
    /// The znode was deleted.
    NodeDeleted = 2,
    /// The znode's data changed.
    NodeDataChanged = 3,
    /// The znode's children changed.
    NodeChildrenChanged = 4,
    /// A data watch was removed.
    DataWatchRemoved = 5,
    /// A child watch was removed.
    ChildWatchRemoved = 6,
    /// A persistent watch was removed.
    PersistentWatchRemoved = 7,
}

impl EventType {
    /// The event type for a wire number.
    pub fn from_code(code: i32) -> Result<Self, DecodeError> {
        Ok(match code {
            -1 => EventType::None,
            1 => EventType::NodeCreated,
            2 => EventType::NodeDeleted,
            3 => EventType::NodeDataChanged,
            4 => EventType::NodeChildrenChanged,
            5 => EventType::DataWatchRemoved,
            6 => EventType::ChildWatchRemoved,
            7 => EventType::PersistentWatchRemoved,
            value => {
                return Err(DecodeError::BadValue {
                    field: "WatcherEvent.type",
                    value,
                });
            }
        })
    }
}

/// The client's connection state as carried in a notification (`KeeperState`).
pub mod keeper_state {
    /// Disconnected from the ensemble.
    pub const DISCONNECTED: i32 = 0;
    /// Connected; every znode event carries this state.
    pub const SYNC_CONNECTED: i32 = 3;
    /// Authentication failed.
    pub const AUTH_FAILED: i32 = 4;
    /// Connected to a read-only server.
    pub const CONNECTED_READ_ONLY: i32 = 5;
    /// The session expired.
    pub const EXPIRED: i32 = -112;
    /// The client closed.
    pub const CLOSED: i32 = 7;
}

/// A watch notification's body (the reply header has xid -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherEvent {
    /// What happened.
    pub event_type: EventType,
    /// The connection state, from [`keeper_state`].
    pub state: i32,
    /// The znode, as the client named it.
    pub path: String,
}

impl Record for WatcherEvent {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_i32(self.event_type as i32);
        buf.put_jute_i32(self.state);
        buf.put_jute_string(&self.path);
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            event_type: EventType::from_code(r.read_i32("WatcherEvent.type")?)?,
            state: r.read_i32("WatcherEvent.state")?,
            path: r.read_string("WatcherEvent.path")?,
        })
    }
}

/// The kind of watch addWatch installs (`AddWatchMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddWatchMode {
    /// Fires on every change of the znode and its children list, not removed by firing.
    Persistent = 0,
    /// Fires on every change of the znode and all descendants, not removed by firing.
    PersistentRecursive = 1,
}

impl AddWatchMode {
    /// The mode for a wire number.
    pub fn from_code(code: i32) -> Result<Self, DecodeError> {
        match code {
            0 => Ok(AddWatchMode::Persistent),
            1 => Ok(AddWatchMode::PersistentRecursive),
            value => Err(DecodeError::BadValue {
                field: "AddWatchRequest.mode",
                value,
            }),
        }
    }
}

/// Which watches checkWatches / removeWatches address (`Watcher.WatcherType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatcherType {
    /// Child watches.
    Children = 1,
    /// Data and exist watches.
    Data = 2,
    /// Every kind.
    Any = 3,
    /// Persistent watches.
    Persistent = 4,
    /// Persistent-recursive watches.
    PersistentRecursive = 5,
}

impl WatcherType {
    /// The watcher type for a wire number.
    pub fn from_code(code: i32) -> Result<Self, DecodeError> {
        Ok(match code {
            1 => WatcherType::Children,
            2 => WatcherType::Data,
            3 => WatcherType::Any,
            4 => WatcherType::Persistent,
            5 => WatcherType::PersistentRecursive,
            value => {
                return Err(DecodeError::BadValue {
                    field: "WatcherType",
                    value,
                });
            }
        })
    }
}
