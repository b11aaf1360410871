//! Registry figures on SQLite, as shipped (WAL, `synchronous=FULL`: the WAL
//! is fsynced on every commit):
//!
//! - `durable_transition`: one lifecycle transition (suspend or unsuspend,
//!   alternating over a pool of devices) with its effects and audit event,
//!   committed and fsynced, from one caller: one fsync per transition.
//! - `durable_transition_32_callers`: the same from 32 threads at once, as a
//!   service's request handlers would; commits are grouped, each caller
//!   still returns only after the fsync that holds its transition.
//!   Transitions per second = 1 / time per transition.
//! - `user_devices_100k`: one user's devices (three) among 100,000 devices
//!   of one org, through `Registry::user_devices`.
//!
//! The database lives in a temporary folder: set `TMPDIR` to put it on the
//! disk whose fsync you want to measure.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use devicetrust_devices::{
    Actor, Device, DeviceId, DeviceProfile, DeviceStatus, DeviceUser, EnrollmentRequest,
    LinkedUser, ManagementStatus, Operation, OrgId, Platform, ResourceDisplayName, ScreenLockType,
    UserId,
};
use devicetrust_store::{Registry, SqliteStore, Store};
use time::OffsetDateTime;

const POOL: usize = 64;
const CALLERS: usize = 32;
const FLEET: usize = 100_000;

#[expect(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a bench that cannot set up should stop loudly"
)]
fn durable_transition(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry =
        Registry::new(SqliteStore::open(&dir.path().join("bench.sqlite3")).expect("open"));
    let org = OrgId::new("acme").expect("org");
    let admin = Actor::new("admin").expect("actor");
    let now = OffsetDateTime::now_utc();
    let ids: Vec<DeviceId> = (0..POOL)
        .map(|i| {
            let mut profile = DeviceProfile::new(format!("device {i}"), Platform::Macos);
            profile.udid = Some(format!("UDID-{i}"));
            let user = UserId::new(format!("user{i}")).expect("user");
            registry
                .enroll(&org, &admin, &EnrollmentRequest::new(user, profile), now)
                .expect("enroll")
                .id
        })
        .collect();
    let mut group = c.benchmark_group("sqlite");
    group.throughput(Throughput::Elements(1));
    let mut n = 0usize;
    group.bench_function("durable_transition", |b| {
        b.iter(|| {
            let id = &ids[n % POOL];
            // Each device alternates: suspend on even rounds, unsuspend on odd.
            let op = if (n / POOL).is_multiple_of(2) {
                Operation::Suspend
            } else {
                Operation::Unsuspend
            };
            n = n.wrapping_add(1);
            registry
                .transition(&org, &admin, id, op, now)
                .expect("transition")
        })
    });
    // Thirty-two callers, each on its own device of the pool.
    group.bench_function("durable_transition_32_callers", |b| {
        b.iter_custom(|iters| {
            let per_caller = iters.div_ceil(CALLERS as u64);
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for caller in 0..CALLERS {
                    let (registry, org, admin, ids) = (&registry, &org, &admin, &ids);
                    scope.spawn(move || {
                        let id = &ids[caller];
                        let mut suspended = registry.device(org, id).expect("device").status
                            != DeviceStatus::Active;
                        for _ in 0..per_caller {
                            let op = if suspended {
                                Operation::Unsuspend
                            } else {
                                Operation::Suspend
                            };
                            registry
                                .transition(org, admin, id, op, now)
                                .expect("transition");
                            suspended = !suspended;
                        }
                    });
                }
            });
            // Time per transition as if `iters` ran (we ran per_caller * CALLERS).
            let ran = per_caller.saturating_mul(CALLERS as u64).max(1);
            start.elapsed().mul_f64(iters as f64 / ran as f64)
        })
    });
    group.finish();
}

#[expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]
fn user_devices_100k(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry =
        Registry::new(SqliteStore::open(&dir.path().join("fleet.sqlite3")).expect("open"));
    let org = OrgId::new("acme").expect("org");
    let now = OffsetDateTime::now_utc();
    // Bulk load in one transaction: the figure is about reading, not loading.
    registry
        .store()
        .write(|tx| {
            for i in 0..FLEET {
                let id = DeviceId::random()?;
                let profile = DeviceProfile::new(format!("device {i}"), Platform::Windows);
                let device = Device {
                    id: id.clone(),
                    status: DeviceStatus::Active,
                    created: now,
                    last_updated: now,
                    last_seen: now,
                    resource_display_name: ResourceDisplayName {
                        value: profile.display_name.clone(),
                        sensitive: false,
                    },
                    profile,
                };
                tx.insert_device(&org, &device)?;
                // 2 devices per user, except user "target" who has 3 (the last 3 devices).
                let user = if i >= FLEET - 3 {
                    UserId::new("target")?
                } else {
                    UserId::new(format!("user{}", i / 2))?
                };
                let link = DeviceUser {
                    user: LinkedUser { id: user },
                    management_status: ManagementStatus::Managed,
                    screen_lock_type: ScreenLockType::Biometric,
                    created: now,
                };
                tx.put_link(&org, &id, &link)?;
            }
            Ok(())
        })
        .expect("load");
    let target = UserId::new("target").expect("user");
    assert_eq!(
        registry.user_devices(&org, &target).expect("query").len(),
        3
    );
    c.bench_function("sqlite/user_devices_100k", |b| {
        b.iter(|| {
            registry
                .user_devices(black_box(&org), black_box(&target))
                .expect("query")
        })
    });
}

criterion_group!(benches, durable_transition, user_devices_100k);
criterion_main!(benches);
