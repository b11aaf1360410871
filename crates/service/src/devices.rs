//! The Devices use cases (Okta's Devices API): read a device and its
//! users, page through the registry, lifecycle transitions and delete, and
//! a user's devices.

use devicetrust_devices::{
    Actor, Cursor, Device, DeviceFilter, DeviceId, DeviceUser, MAX_PAGE, Operation, PageRequest,
    UserId,
};
use devicetrust_store::Error;
use time::OffsetDateTime;

use crate::Service;

/// Registry pages one listing filtered by display name may scan before it
/// answers with what it found and a cursor to continue: the name filter
/// runs here, not in the registry, so it must be bounded.
const MAX_SCANNED_PAGES: usize = 50;

/// One page of devices, and where the next one starts.
#[derive(Debug)]
pub struct DevicePage {
    /// The devices, in ID order.
    pub devices: Vec<Device>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<Cursor>,
}

/// A device linked to a user, with when the link was made.
#[derive(Debug)]
pub struct UserDevice {
    /// The device.
    pub device: Device,
    /// When the user was linked to it (the device's creation if unknown).
    pub linked: OffsetDateTime,
}

impl Service {
    /// Device `id`.
    pub fn device(&self, id: &DeviceId) -> Result<Device, Error> {
        self.registry.device(&self.org, id)
    }

    /// The users linked to device `id`.
    pub fn device_users(&self, id: &DeviceId) -> Result<Vec<DeviceUser>, Error> {
        self.registry.users(&self.org, id)
    }

    /// The users of each of `devices`, in order (`expand=user` on a list).
    pub fn users_of_each(&self, devices: &[Device]) -> Result<Vec<Vec<DeviceUser>>, Error> {
        devices.iter().map(|d| self.device_users(&d.id)).collect()
    }

    /// One page of the devices that match `filter` and, if given,
    /// `display_name` (applied to each page the registry returns, within a
    /// bounded scan).
    pub fn list_devices(
        &self,
        filter: &DeviceFilter,
        display_name: Option<&dyn Fn(&str) -> bool>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<DevicePage, Error> {
        let Some(display_name) = display_name else {
            let page = self
                .registry
                .list(&self.org, filter, &PageRequest { after, limit })?;
            return Ok(DevicePage {
                devices: page.devices,
                next: page.next,
            });
        };
        let mut devices = Vec::new();
        let mut after = after;
        for _ in 0..MAX_SCANNED_PAGES {
            let request = PageRequest {
                after: after.clone(),
                limit: MAX_PAGE,
            };
            let page = self.registry.list(&self.org, filter, &request)?;
            for device in page.devices {
                after = Some(Cursor::after(&device.id));
                if display_name(&device.profile.display_name) {
                    devices.push(device);
                    if devices.len() == limit {
                        return Ok(DevicePage {
                            devices,
                            next: after,
                        });
                    }
                }
            }
            if page.next.is_none() {
                return Ok(DevicePage {
                    devices,
                    next: None,
                });
            }
        }
        Ok(DevicePage {
            devices,
            next: after,
        })
    }

    /// Suspends, unsuspends, deactivates or activates device `id`, by
    /// `actor`, as one durable transition with its effects (deactivate
    /// revokes certificates, ends sessions and retires the device key).
    pub fn transition_device(
        &self,
        actor: &Actor,
        id: &DeviceId,
        operation: Operation,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        self.registry
            .transition(&self.org, actor, id, operation, now)?;
        if operation == Operation::Delete {
            // The store deleted the rest with the device; the parse cache follows.
            self.forget_device_signals(id.as_str());
        }
        tracing::info!(device = %id, %operation, actor = %actor, "device lifecycle");
        Ok(())
    }

    /// The devices linked to `user`, with when each link was made.
    pub fn user_devices(&self, user: &UserId) -> Result<Vec<UserDevice>, Error> {
        let devices = self.registry.user_devices(&self.org, user)?;
        let mut out = Vec::with_capacity(devices.len());
        for device in devices {
            let linked = self
                .registry
                .users(&self.org, &device.id)?
                .into_iter()
                .find(|link| &link.user.id == user)
                .map_or(device.created, |link| link.created);
            out.push(UserDevice { device, linked });
        }
        Ok(out)
    }
}
