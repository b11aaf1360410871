//! Device queries: filters and cursor pagination.

use serde::{Deserialize, Serialize};

use crate::{Device, DeviceError, DeviceId, DeviceStatus, Platform, UserId};

/// The most rows one page returns.
pub const MAX_PAGE: usize = 200;

/// Which devices of an org to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Only in this state.
    pub status: Option<DeviceStatus>,
    /// Only on this platform.
    pub platform: Option<Platform>,
    /// Only linked to this user.
    pub user: Option<UserId>,
}

/// Where a page starts: after this device id (ids order the listing).
/// Opaque to callers; it is the last id of the previous page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// The cursor after `id`.
    pub fn after(id: &DeviceId) -> Self {
        Self(id.as_str().to_owned())
    }

    /// Parses a cursor a caller sent back.
    pub fn parse(s: &str) -> Result<Self, DeviceError> {
        DeviceId::new(s)
            .map(|id| Self::after(&id))
            .map_err(|_| DeviceError::BadCursor)
    }

    /// The id it resumes after.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// The devices, by id.
    pub devices: Vec<Device>,
    /// Where the next page starts, if there may be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Cursor>,
}

/// A page request: where to start and how many (1 to [`MAX_PAGE`]; 0 means the maximum).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Start after this cursor.
    pub after: Option<Cursor>,
    /// At most this many.
    pub limit: usize,
}

impl PageRequest {
    /// The limit actually used.
    pub fn effective_limit(&self) -> usize {
        if self.limit == 0 {
            MAX_PAGE
        } else {
            self.limit.min(MAX_PAGE)
        }
    }

    /// Builds the page from up to `limit + 1` rows fetched in id order.
    pub fn finish(&self, mut rows: Vec<Device>) -> Page {
        let limit = self.effective_limit();
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more {
            rows.last().map(|d| Cursor::after(&d.id))
        } else {
            None
        };
        Page {
            devices: rows,
            next,
        }
    }
}
