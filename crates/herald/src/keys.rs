//! API keys from the command line: `herald keys create|list|revoke|generate`, and what a
//! server does with keys at start-up (register `--bootstrap-admin-key`, enforce `--mode`).
//!
//! `herald keys` talks to the Redis the servers share: a key created or revoked there is seen
//! by every api process on its next request. The embedded backend keeps its keys in the server
//! process, out of reach of another process: it gets its first key from
//! `--bootstrap-admin-key` (a key made by `herald keys generate`), and the others over the
//! admin API (`POST /v1/admin/keys`).

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{Context, bail};
use chrono::Utc;
use herald_core::apikey::{ApiKey, PlainKey};
use herald_core::store::KeyStore;
use herald_core::store::redis::RedisStore;
use herald_core::{StoreConfig, TenantId};

use crate::cli::{KeysAction, KeysArgs};
use crate::settings::Mode;

/// The name the bootstrap admin key is stored under.
const BOOTSTRAP_NAME: &str = "bootstrap";

/// Runs `herald keys …`, writing what it made to `out` (a created key alone on its line, so
/// a script can capture it) and notes for people to `err`.
///
/// # Errors
/// Without `--redis-url` (except `generate`), when Redis cannot be reached, or for a key that
/// does not exist.
pub async fn run(args: KeysArgs, out: &mut impl Write, err: &mut impl Write) -> anyhow::Result<()> {
    if let KeysAction::Generate = args.action {
        writeln!(out, "{}", PlainKey::generate().reveal())?;
        writeln!(
            err,
            "Not stored anywhere yet: start the server with --bootstrap-admin-key \
             (or HERALD_BOOTSTRAP_ADMIN_KEY) set to it, and keep it secret."
        )?;
        return Ok(());
    }
    let Some(url) = &args.redis_url else {
        bail!(
            "`herald keys` manages the keys of a Redis deployment: pass --redis-url (or set \
             HERALD_REDIS_URL). The embedded backend keeps its keys inside the server process, \
             where this command cannot reach them: start the server with \
             --bootstrap-admin-key \"$(herald keys generate)\" and create further keys with \
             POST /v1/admin/keys."
        );
    };
    let store = RedisStore::connect(url.expose(), &args.redis_prefix, StoreConfig::default())
        .await
        .context("failed to connect to Redis")?;
    match args.action {
        KeysAction::Generate => {}
        KeysAction::Create {
            tenant,
            name,
            admin,
        } => {
            let name = herald_core::apikey::parse_name(&name).context("bad --name")?;
            let plain = create(&store, tenant.clone(), name, admin).await?;
            writeln!(out, "{}", plain.reveal())?;
            let role = if admin { "admin key" } else { "key" };
            writeln!(
                err,
                "Created {role} {} for tenant {tenant}. It is shown this once: Herald keeps \
                 only a digest of it.",
                plain.id()
            )?;
        }
        KeysAction::List { tenant } => {
            let keys = store.keys(tenant.as_ref()).await?;
            writeln!(out, "ID\tTENANT\tADMIN\tCREATED\tKEY\tNAME")?;
            for key in keys {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    key.id,
                    key.tenant,
                    if key.admin { "yes" } else { "no" },
                    key.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    key.display_hint(),
                    key.name
                )?;
            }
        }
        KeysAction::Revoke { id } => {
            if !store.revoke_key(&id).await? {
                bail!("there is no key {id} (`herald keys list` shows them)");
            }
            writeln!(
                err,
                "Revoked key {id}: every server refuses it from now on."
            )?;
        }
    }
    Ok(())
}

/// Stores a fresh key; answers it whole (the only time it exists outside the client).
async fn create(
    store: &dyn KeyStore,
    tenant: TenantId,
    name: String,
    admin: bool,
) -> anyhow::Result<PlainKey> {
    // Ids are 64 random bits: a collision is all but impossible, and harmless (try again).
    for _ in 0..3 {
        let plain = PlainKey::generate();
        let key = ApiKey::new(&plain, tenant.clone(), name.clone(), admin, Utc::now());
        if store.create_key(&key).await? {
            return Ok(plain);
        }
    }
    bail!("three fresh key ids were all taken")
}

/// Registers `--bootstrap-admin-key` as an admin key of the default tenant, unless it is
/// registered already (every restart passes it again).
///
/// # Errors
/// When another key holds its id, or the store fails.
pub async fn register_bootstrap(store: &dyn KeyStore, key: &PlainKey) -> anyhow::Result<()> {
    if let Some(stored) = store.key(key.id()).await? {
        if stored.verifies(key) {
            return Ok(());
        }
        bail!(
            "the bootstrap admin key's id {} belongs to another key: generate a new one with \
             `herald keys generate`",
            key.id()
        );
    }
    let record = ApiKey::new(
        key,
        TenantId::default_tenant(),
        BOOTSTRAP_NAME.to_owned(),
        true,
        Utc::now(),
    );
    store.create_key(&record).await?;
    tracing::info!(key_id = %key.id(), "registered the bootstrap admin key");
    Ok(())
}

/// Enforces `--mode` for a process serving the API: production refuses to start without a
/// key; development warns loudly when it runs open.
///
/// # Errors
/// Production mode without any key.
pub async fn check_mode(
    store: &dyn KeyStore,
    mode: Mode,
    on_redis: bool,
    bind: SocketAddr,
) -> anyhow::Result<()> {
    let has_keys = store
        .has_keys()
        .await
        .context("failed to read the API keys")?;
    match (mode, has_keys) {
        (Mode::Production, false) if on_redis => bail!(
            "production mode needs an API key and none exists: create one with `herald keys \
             create --tenant <tenant> --admin --redis-url <url>` (then start again), or pass \
             --bootstrap-admin-key \"$(herald keys generate)\""
        ),
        (Mode::Production, false) => bail!(
            "production mode needs an API key and none exists: the embedded backend keeps keys \
             in this process, so pass one with --bootstrap-admin-key (or \
             HERALD_BOOTSTRAP_ADMIN_KEY), made with `herald keys generate`"
        ),
        (Mode::Production, true) => {
            tracing::info!("production mode: every request needs an API key");
        }
        (Mode::Development, false) => tracing::warn!(
            "DEVELOPMENT MODE: no API keys are configured, so the API is open to anyone who \
             can reach {bind}, every request acting for the default tenant; create a key (`herald keys create`, \
             POST /v1/admin/keys or --bootstrap-admin-key) to require keys, and use \
             --mode production in production"
        ),
        (Mode::Development, true) => tracing::info!(
            "development mode with API keys: every request needs one (--mode production also \
             refuses to start without keys)"
        ),
    }
    Ok(())
}
