"""Drives devicetrust's admin API through Okta's own Python SDK, unchanged.

Run by crates/server/tests/okta_sdk.rs with the venv that
scripts/setup makes; the only settings are the org URL, the token and the
SDK's documented switch for plain http in tests
(OKTA_TESTING_TESTINGDISABLEHTTPSCHECK). Asserts on the SDK's typed objects
and prints one JSON line of what it saw, for the Rust side to check again.

    python python_sdk.py ORG_URL TOKEN DEVICE_ID
"""

import asyncio
import json
import sys

from okta.client import Client
from okta.models import (
    Device,
    DeviceAssurance,
    DeviceAssuranceMacOSPlatform,
    DeviceStatus,
    UserDevice,
)


def check(ok, what):
    if not ok:
        raise AssertionError(what)


def unwrap(result, what):
    """Every SDK call answers (value, response, error); error must be None."""
    value, response, error = result
    check(error is None, f"{what}: {error}")
    return value, response


async def main(org_url, token, device_id):
    client = Client({"orgUrl": org_url, "token": token})
    seen = {}

    # Devices: list (typed), get, and every lifecycle call (204, no body).
    devices, _ = unwrap(await client.list_devices(), "list_devices")
    check(len(devices) == 1, f"one device listed: {devices}")
    check(devices[0].id == device_id, f"listed id {devices[0].id}")
    seen["listedStatus"] = devices[0].status.value
    expanded, _ = unwrap(await client.list_devices(expand="user"), "list_devices(expand)")
    users = expanded[0].embedded.users
    seen["embeddedUsers"] = [u.user.id for u in users]
    status = users[0].management_status
    seen["managementStatus"] = getattr(status, "value", status)
    user_devices, _ = unwrap(await client.list_user_devices("alice"), "list_user_devices")
    check(isinstance(user_devices[0], UserDevice), f"a UserDevice: {user_devices}")
    seen["userDevices"] = [d.device.id for d in user_devices]
    check(user_devices[0].created is not None and user_devices[0].device_user_id, "link fields")
    device, _ = unwrap(await client.get_device(device_id), "get_device")
    check(isinstance(device, Device), f"a Device: {type(device)}")
    check(device.status == DeviceStatus.ACTIVE, f"ACTIVE: {device.status}")
    seen["platform"] = device.profile.platform.value
    statuses = []
    links = []
    for call, status in [
        (client.suspend_device, DeviceStatus.SUSPENDED),
        (client.unsuspend_device, DeviceStatus.ACTIVE),
        (client.deactivate_device, DeviceStatus.DEACTIVATED),
        (client.activate_device, DeviceStatus.ACTIVE),
    ]:
        _, response = unwrap(await call(device_id), call.__name__)
        check(response.status_code == 204, f"{call.__name__}: {response.status_code}")
        device, _ = unwrap(await client.get_device(device_id), "get_device")
        check(device.status == status, f"after {call.__name__}: {device.status}")
        statuses.append(device.status.value)
        # The links say what the new state allows, typed by the SDK.
        offered = [n for n in ("activate", "deactivate", "suspend", "unsuspend")
                   if getattr(device.links, n) is not None]
        links.append(offered)
        check(device.links.var_self.href.endswith(device_id), f"self: {device.links}")
    seen["statuses"] = statuses
    seen["links"] = links

    # Device assurance: the SDK sends no id (read-only) and reads a 200.
    body = DeviceAssurance.from_dict(
        {
            "name": "macOS 14 with FileVault",
            "platform": "MACOS",
            "osVersion": {"minimum": "14.0.0"},
            "diskEncryptionType": {"include": ["ALL_INTERNAL_VOLUMES"]},
            "screenLockType": {"include": ["BIOMETRIC", "PASSCODE"]},
        }
    )
    created, response = unwrap(
        await client.create_device_assurance_policy(body), "create_device_assurance_policy"
    )
    check(response.status_code == 200, f"create: {response.status_code}")
    created = getattr(created, "actual_instance", created)
    check(isinstance(created, DeviceAssuranceMacOSPlatform), f"typed: {type(created)}")
    check(bool(created.id) and created.created_date, f"server fields: {created}")
    seen["assuranceId"] = created.id
    seen["createdBy"] = created.created_by

    got, _ = unwrap(await client.get_device_assurance_policy(created.id), "get")
    got = getattr(got, "actual_instance", got)
    check(got.os_version.minimum == "14.0.0", f"get: {got}")
    listed, _ = unwrap(await client.list_device_assurance_policies(), "list")
    check([getattr(a, "actual_instance", a).id for a in listed] == [created.id], f"list: {listed}")

    body = DeviceAssurance.from_dict(
        {"name": "macOS 14.4", "platform": "MACOS", "osVersion": {"minimum": "14.4.0"}}
    )
    replaced, _ = unwrap(
        await client.replace_device_assurance_policy(created.id, body), "replace"
    )
    replaced = getattr(replaced, "actual_instance", replaced)
    check(replaced.id == created.id and replaced.name == "macOS 14.4", f"replace: {replaced}")
    check(replaced.created_date == created.created_date, "the creation is kept")
    seen["replacedMinimum"] = replaced.os_version.minimum

    _, response = unwrap(await client.delete_device_assurance_policy(created.id), "delete")
    check(response.status_code == 204, f"delete: {response.status_code}")
    _, _, error = await client.get_device_assurance_policy(created.id)
    check(error is not None and "404" in str(error), f"gone: {error}")
    listed, _ = unwrap(await client.list_device_assurance_policies(), "list")
    seen["assurancesLeft"] = len(listed or [])

    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
