// Drives devicetrust's admin API through Okta's own Node SDK, unchanged.
//
// Run by crates/server/tests/okta_sdk.rs with the npm prefix that
// scripts/setup makes (NODE_PATH points at it); the only settings are the
// org URL and the token. Asserts on the SDK's typed objects and prints one
// JSON line of what it saw, for the Rust side to check again.
//
//     node node_sdk.js ORG_URL TOKEN DEVICE_ID
'use strict';
const assert = require('node:assert/strict');
const okta = require('@okta/okta-sdk-nodejs');

async function collect(collection) {
  const all = [];
  for await (const item of collection) all.push(item);
  return all;
}

async function main([orgUrl, token, deviceId]) {
  const client = new okta.Client({ orgUrl, token });
  const seen = {};

  // Devices: list (typed), get, and every lifecycle call.
  const devices = await collect(await client.deviceApi.listDevices());
  assert.equal(devices.length, 1, 'one device listed');
  assert.equal(devices[0].id, deviceId);
  seen.listedStatus = devices[0].status;
  const expanded = await collect(await client.deviceApi.listDevices({ expand: 'user' }));
  seen.embeddedUsers = expanded[0]._embedded.users.map((u) => u.user.id);
  seen.managementStatus = expanded[0]._embedded.users[0].managementStatus;
  const userDevices = await collect(await client.userApi.listUserDevices({ userId: 'alice' }));
  assert.equal(userDevices[0].constructor.name, 'UserDevice');
  assert.ok(userDevices[0].created && userDevices[0].deviceUserId, 'link fields');
  seen.userDevices = userDevices.map((d) => d.device.id);
  let device = await client.deviceApi.getDevice({ deviceId });
  assert.equal(device.constructor.name, 'Device');
  seen.platform = device.profile.platform;
  seen.statuses = [];
  seen.links = [];
  for (const [call, status] of [
    ['suspendDevice', 'SUSPENDED'],
    ['unsuspendDevice', 'ACTIVE'],
    ['deactivateDevice', 'DEACTIVATED'],
    ['activateDevice', 'ACTIVE'],
  ]) {
    await client.deviceApi[call]({ deviceId });
    device = await client.deviceApi.getDevice({ deviceId });
    assert.equal(device.status, status, `after ${call}`);
    seen.statuses.push(device.status);
    seen.links.push(['activate', 'deactivate', 'suspend', 'unsuspend'].filter((n) => device._links[n]));
  }

  // Device assurance: the SDK sends no id (read-only) and reads a 200.
  const created = await client.deviceAssuranceApi.createDeviceAssurancePolicy({
    deviceAssurance: {
      name: 'macOS 14 with FileVault',
      platform: 'MACOS',
      osVersion: { minimum: '14.0.0' },
      diskEncryptionType: { include: ['ALL_INTERNAL_VOLUMES'] },
      screenLockType: { include: ['BIOMETRIC', 'PASSCODE'] },
    },
  });
  assert.equal(created.constructor.name, 'DeviceAssuranceMacOSPlatform');
  assert.ok(created.id && created.createdDate, 'server fields');
  seen.assuranceId = created.id;
  seen.createdBy = created.createdBy;
  const got = await client.deviceAssuranceApi.getDeviceAssurancePolicy({ deviceAssuranceId: created.id });
  assert.equal(got.osVersion.minimum, '14.0.0');
  const listed = await collect(await client.deviceAssuranceApi.listDeviceAssurancePolicies());
  assert.deepEqual(listed.map((a) => a.id), [created.id]);
  const replaced = await client.deviceAssuranceApi.replaceDeviceAssurancePolicy({
    deviceAssuranceId: created.id,
    deviceAssurance: { name: 'macOS 14.4', platform: 'MACOS', osVersion: { minimum: '14.4.0' } },
  });
  assert.equal(replaced.id, created.id);
  assert.equal(replaced.name, 'macOS 14.4');
  assert.equal(String(replaced.createdDate), String(created.createdDate), 'the creation is kept');
  seen.replacedMinimum = replaced.osVersion.minimum;
  await client.deviceAssuranceApi.deleteDeviceAssurancePolicy({ deviceAssuranceId: created.id });
  await assert.rejects(
    client.deviceAssuranceApi.getDeviceAssurancePolicy({ deviceAssuranceId: created.id }),
    (e) => e.status === 404,
  );
  seen.assurancesLeft = (await collect(await client.deviceAssuranceApi.listDeviceAssurancePolicies())).length;

  console.log(JSON.stringify(seen));
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e);
  process.exit(1);
});
