//! API keys: created once per id, read back by id (and verified against their secret),
//! listed oldest first (all, or one tenant's), revoked at once and announced on the signals;
//! the store never holds a key.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use herald_core::apikey::{ApiKey, PlainKey};
use herald_core::store::Signal;
use herald_core::store::keys::verify;
use serde_json::json;

use crate::support::{Backend, new_job, open_default, other_tenant, tenant};

herald_testkit::on_every_backend!(
    a_store_without_keys_says_so_and_lists_nothing,
    a_created_key_is_read_back_by_id_and_verifies_only_with_its_secret,
    a_second_key_with_the_same_id_is_refused_and_the_first_kept,
    keys_are_listed_oldest_first_for_everyone_or_for_one_tenant,
    a_revoked_key_is_gone_at_once,
    the_store_never_holds_the_secret,
    a_revocation_is_announced_on_the_signals_once_and_only_for_a_key_that_existed,
);

fn key_for(plain: &PlainKey, tenant: herald_core::TenantId, admin: bool, age_s: i64) -> ApiKey {
    let created_at = Utc::now() - TimeDelta::seconds(age_s);
    ApiKey::new(plain, tenant, format!("key {age_s}"), admin, created_at)
}

async fn a_store_without_keys_says_so_and_lists_nothing(backend: Backend) {
    let h = open_default(backend).await;

    assert!(!h.keys.has_keys().await.unwrap());
    assert!(h.keys.keys(None).await.unwrap().is_empty());
    assert!(
        h.keys
            .key(PlainKey::generate().id())
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_created_key_is_read_back_by_id_and_verifies_only_with_its_secret(backend: Backend) {
    let h = open_default(backend).await;
    let plain = PlainKey::generate();
    let key = key_for(&plain, tenant(), true, 0);

    assert!(h.keys.create_key(&key).await.unwrap());

    assert!(h.keys.has_keys().await.unwrap());
    assert_eq!(h.keys.key(plain.id()).await.unwrap(), Some(key.clone()));
    assert_eq!(verify(&*h.keys, &plain).await.unwrap(), Some(key));
    let stranger = PlainKey::generate();
    assert_eq!(verify(&*h.keys, &stranger).await.unwrap(), None);
    let forged = format!("hk_{}_{}", plain.id(), "A".repeat(64));
    let forged = PlainKey::parse(&forged).unwrap();
    assert_eq!(verify(&*h.keys, &forged).await.unwrap(), None);
}

async fn a_second_key_with_the_same_id_is_refused_and_the_first_kept(backend: Backend) {
    let h = open_default(backend).await;
    let plain = PlainKey::generate();
    let first = key_for(&plain, tenant(), false, 0);
    assert!(h.keys.create_key(&first).await.unwrap());

    let second = key_for(&plain, other_tenant(), true, 0);
    assert!(!h.keys.create_key(&second).await.unwrap());

    assert_eq!(h.keys.key(plain.id()).await.unwrap(), Some(first));
    assert_eq!(h.keys.keys(None).await.unwrap().len(), 1);
}

async fn keys_are_listed_oldest_first_for_everyone_or_for_one_tenant(backend: Backend) {
    let h = open_default(backend).await;
    let oldest = key_for(&PlainKey::generate(), tenant(), true, 30);
    let middle = key_for(&PlainKey::generate(), other_tenant(), false, 20);
    let newest = key_for(&PlainKey::generate(), tenant(), false, 10);
    for key in [&newest, &oldest, &middle] {
        assert!(h.keys.create_key(key).await.unwrap());
    }

    let all = h.keys.keys(None).await.unwrap();
    assert_eq!(all, [oldest.clone(), middle.clone(), newest.clone()]);
    let mine = h.keys.keys(Some(&tenant())).await.unwrap();
    assert_eq!(mine, [oldest, newest]);
    let theirs = h.keys.keys(Some(&other_tenant())).await.unwrap();
    assert_eq!(theirs, [middle]);
}

async fn a_revoked_key_is_gone_at_once(backend: Backend) {
    let h = open_default(backend).await;
    let plain = PlainKey::generate();
    let kept = PlainKey::generate();
    h.keys
        .create_key(&key_for(&plain, tenant(), false, 1))
        .await
        .unwrap();
    h.keys
        .create_key(&key_for(&kept, tenant(), false, 0))
        .await
        .unwrap();

    assert!(h.keys.revoke_key(plain.id()).await.unwrap());

    assert_eq!(verify(&*h.keys, &plain).await.unwrap(), None);
    assert!(h.keys.key(plain.id()).await.unwrap().is_none());
    let left: Vec<_> = h.keys.keys(None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(&left[0].id, kept.id());
    assert!(!h.keys.revoke_key(plain.id()).await.unwrap());
    assert!(h.keys.revoke_key(kept.id()).await.unwrap());
    assert!(!h.keys.has_keys().await.unwrap());
}

async fn the_store_never_holds_the_secret(backend: Backend) {
    let h = open_default(backend).await;
    let plain = PlainKey::generate();
    let key = key_for(&plain, tenant(), false, 0);
    h.keys.create_key(&key).await.unwrap();

    let revealed = plain.reveal();
    // `hk_`, the 16-character id, `_`, then the secret (base64url: it may hold `_` too).
    let secret = &revealed["hk_".len() + 16 + 1..];
    let stored = h.keys.key(plain.id()).await.unwrap().unwrap();
    let json = serde_json::to_string(&stored).unwrap();
    assert!(!json.contains(secret), "{json}");
    assert!(stored.display_hint().ends_with(&secret[secret.len() - 4..]));
}

async fn a_revocation_is_announced_on_the_signals_once_and_only_for_a_key_that_existed(
    backend: Backend,
) {
    let h = open_default(backend).await;
    let plain = PlainKey::generate();
    h.keys
        .create_key(&key_for(&plain, tenant(), false, 0))
        .await
        .unwrap();
    // The store subscribes when it is opened: nothing published from now on is missed.
    let mut signals = h.store.signals();

    assert!(!h.keys.revoke_key(PlainKey::generate().id()).await.unwrap());
    assert!(h.keys.revoke_key(plain.id()).await.unwrap());
    assert!(!h.keys.revoke_key(plain.id()).await.unwrap());

    let mut revoked = Vec::new();
    // A job to mark the end: its event comes after any announcement made above.
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    loop {
        let signal = tokio::time::timeout(Duration::from_secs(10), signals.recv())
            .await
            .expect("a signal within 10 s")
            .expect("the signal channel is open");
        match signal {
            Signal::KeyRevoked(id) => revoked.push(id),
            Signal::Event(entry) if entry.job_id() == &job.id => break,
            _ => {}
        }
    }
    assert_eq!(revoked, [plain.id().clone()]);
}
