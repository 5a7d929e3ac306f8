//! The store's behaviour, one suite for every engine: each behaviour below is an `async fn`
//! taking a fresh store (or its URL), and [`suite!`] makes one test per engine of it,
//! `sqlite::<behaviour>` on a temporary file and `postgres::<behaviour>` in a fresh schema of the
//! test database (`MODELGATE_TEST_POSTGRES_URL`, else the default loopback one; skipped with a
//! printed line where PostgreSQL does not answer, failing under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../store/tests/support/postgres.rs"]
mod postgres_support;

use modelgate_domain::secret_box::SealedSecret;
use modelgate_store::*;
use modelgate_store_sql::open;
use serde_json::json;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// One test per engine for every behaviour: `store` behaviours get an open store, `url`
/// behaviours the URL of an empty database to open stores on themselves.
macro_rules! suite {
    (store: $($behaviour:ident),* $(,)?; url: $($url_behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $behaviour() { crate::with_sqlite(crate::$behaviour).await; })*
            $(#[tokio::test] async fn $url_behaviour() { crate::with_sqlite_url(crate::$url_behaviour).await; })*
        }
        mod postgres {
            $(#[tokio::test] async fn $behaviour() {
                crate::with_postgres(concat!("postgres::", stringify!($behaviour)), crate::$behaviour).await;
            })*
            $(#[tokio::test] async fn $url_behaviour() {
                crate::with_postgres_url(concat!("postgres::", stringify!($url_behaviour)), crate::$url_behaviour).await;
            })*
        }
    };
}

suite! {
    store:
        ping_answers,
        resources_round_trip_through_create_get_update_delete,
        documents_and_secrets_are_stored_exactly,
        names_are_unique_per_workspace_and_kind,
        concurrent_creates_of_one_name_admit_one,
        writing_into_a_missing_workspace_fails,
        references_are_checked_and_recorded,
        a_referenced_resource_cannot_be_deleted,
        a_failed_write_changes_nothing,
        a_delete_racing_a_reference_never_leaves_it_dangling,
        events_are_appended_and_capped,
        concurrent_updates_keep_every_event,
        revisions_are_listed_newest_first_and_reset_on_recreate,
        listing_orders_by_every_sort,
        listing_pages_with_keyset_cursors,
        listing_searches_literally_and_filters_by_status,
        listing_returns_the_tail_in_order,
        api_keys_are_inserted_found_listed_and_revoked,
        workspaces_are_created_listed_and_updated,
        deleting_a_workspace_needs_force_unless_empty,
        a_workspace_that_is_home_to_user_keys_is_never_deleted,
        users_and_admins,
        service_accounts_and_their_keys,
        sealed_secrets_are_replaced_by_compare_and_set,
        all_resources_spans_every_workspace,
        the_configuration_is_read_whole,
        usage_round_trips_in_a_half_open_range_by_workspace_and_model,
        old_usage_expires,
        a_large_usage_batch_is_written_whole,
        a_usage_batch_written_twice_is_stored_once,
        deleting_a_workspace_deletes_its_usage_only,
        usage_series_sums_buckets_and_percentiles_in_the_database,
        usage_percentiles_stay_within_a_32nd_of_the_true_value,
        usage_groups_by_model_key_or_both_busiest_first,
        spend_and_cached_tokens_are_summed_and_grouped_across_workspaces,
        console_sessions_are_created_found_touched_and_ended;
    url:
        reopening_keeps_everything,
}

// ---- engines ----

async fn with_sqlite<F, Fut>(behaviour: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = open(&format!("sqlite://{}", dir.path().join("test.db").display())).await.unwrap();
    behaviour(store.clone()).await;
    store.close().await;
}

async fn with_sqlite_url<F, Fut>(behaviour: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    behaviour(format!("sqlite://{}", dir.path().join("test.db").display())).await;
}

async fn with_postgres<F, Fut>(test: &str, behaviour: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(schema) = postgres_support::TestSchema::create(test).await else { return };
    let store = open(&schema.url).await.unwrap();
    behaviour(store.clone()).await;
    store.close().await;
}

async fn with_postgres_url<F, Fut>(test: &str, behaviour: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(schema) = postgres_support::TestSchema::create(test).await else { return };
    behaviour(schema.url.clone()).await;
}

// ---- fixtures ----

const WS: &str = "ws";

fn key(kind: ResourceKind, name: &str) -> ResourceKey {
    ResourceKey::new(WS, kind, name)
}

fn reference(kind: ResourceKind, name: &str) -> Reference {
    Reference { kind, name: name.to_string() }
}

/// A create of `name` at `at`, with one event and a revision `r{at}`.
fn write(kind: ResourceKind, name: &str, at: Micros) -> ResourceWrite {
    ResourceWrite {
        key: key(kind, name),
        document: json!({"metadata": {"displayName": name.to_uppercase()}, "spec": {"at": at}}),
        search_text: name.to_string(),
        status: Some("DEPLOYED".into()),
        new_events: vec![json!({"type": "DEPLOYED", "at": at})],
        sealed_secret: None,
        references: Vec::new(),
        revision: Some(RevisionWrite { id: format!("r{at}"), status: "DEPLOYED".into() }),
        actor: "creator".into(),
        at,
    }
}

fn model(name: &str, at: Micros, references: Vec<Reference>) -> ResourceWrite {
    ResourceWrite { references, ..write(ResourceKind::Model, name, at) }
}

fn sealed(key_id: &str, bytes: &[u8]) -> SealedSecret {
    SealedSecret { key_id: key_id.into(), bytes: bytes.to_vec() }
}

async fn with_workspace(store: &dyn Store, name: &str) {
    store.ensure_workspace(name, "test", 1).await.unwrap();
}

fn names(records: &[ResourceRecord]) -> Vec<&str> {
    records.iter().map(|r| r.key.name.as_str()).collect()
}

fn position(record: &ResourceRecord) -> Position {
    Position { created_at: record.created_at, name: record.key.name.clone() }
}

fn api_key(id: &str, workspace: &str, subject: &str, subject_type: &str, at: Micros) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        workspace: workspace.into(),
        name: format!("key {id}"),
        key_digest: format!("digest-{id}"),
        subject: subject.into(),
        subject_type: subject_type.into(),
        scopes: vec!["models:read".into(), "models:write".into()],
        expires_in: None,
        expires_at: None,
        created_at: at,
        created_by: "admin".into(),
    }
}

fn workspace_record(name: &str, at: Micros) -> WorkspaceRecord {
    WorkspaceRecord {
        name: name.into(),
        document: json!({"displayName": name, "labels": {"team": "a"}}),
        created_at: at,
        updated_at: at,
        created_by: "admin".into(),
        updated_by: "admin".into(),
    }
}

fn service_account(client_id: &str, workspace: &str, at: Micros) -> ServiceAccountRecord {
    ServiceAccountRecord {
        client_id: client_id.into(),
        workspace: workspace.into(),
        name: format!("account {client_id}"),
        description: Some("does things".into()),
        secret_digest: format!("secret-{client_id}"),
        scopes: vec!["admin".into()],
        created_at: at,
        updated_at: at,
        created_by: "admin".into(),
        updated_by: "admin".into(),
    }
}

fn usage(workspace: &str, model: &str, at: Micros) -> UsageRecord {
    UsageRecord {
        id: None,
        at,
        workspace: workspace.into(),
        model: model.into(),
        subject: "sa-1".into(),
        key_id: Some("ak_1".into()),
        provider: "openai".into(),
        status: 200,
        input_tokens: 10,
        output_tokens: 5,
        total_tokens: 15,
        latency_ms: 120,
        ttfb_ms: Some(40),
        ..UsageRecord::default()
    }
}

fn usage_query(workspace: &str, model: Option<&str>, from: Micros, to: Micros) -> UsageQuery {
    UsageQuery { workspace: workspace.into(), model: model.map(str::to_string), from, to }
}

fn counts(entries: [i64; 5]) -> BTreeMap<String, i64> {
    ["integrationconnections", "models", "policies", "serviceaccounts", USER_KEYS_COUNT]
        .into_iter()
        .map(String::from)
        .zip(entries)
        .collect()
}

// ---- behaviours: resources ----

async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert!(!store.is_initialized().await.unwrap(), "a fresh store holds no workspace");
}

async fn resources_round_trip_through_create_get_update_delete(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    let connection_key = key(ResourceKind::IntegrationConnection, "conn");
    let mut create = write(ResourceKind::IntegrationConnection, "conn", 100);
    create.sealed_secret = Some(sealed("k1", b"sealed-bytes"));
    let created = store.create_resource(&create).await.unwrap();
    assert_eq!(created.key, connection_key);
    assert_eq!(created.document, create.document);
    assert_eq!(created.status.as_deref(), Some("DEPLOYED"));
    assert_eq!(created.events, create.new_events);
    assert_eq!(created.sealed_secret, Some(sealed("k1", b"sealed-bytes")));
    assert_eq!((created.created_at, created.updated_at), (100, 100));
    assert_eq!((created.created_by.as_str(), created.updated_by.as_str()), ("creator", "creator"));

    let got = store.get_resource(&connection_key).await.unwrap().unwrap();
    assert_eq!(
        (got.document, got.sealed_secret, got.events),
        (created.document, created.sealed_secret, created.events)
    );

    let update = ResourceWrite {
        document: json!({"metadata": {}, "spec": {"changed": true}}),
        status: None,
        new_events: vec![json!({"type": "UPDATED"})],
        sealed_secret: None,
        revision: None,
        actor: "updater".into(),
        at: 200,
        ..create.clone()
    };
    let updated = store.update_resource(&update).await.unwrap();
    assert_eq!(updated.document, update.document);
    assert_eq!(updated.status, None);
    assert_eq!(updated.events, vec![json!({"type": "DEPLOYED", "at": 100}), json!({"type": "UPDATED"})]);
    assert_eq!(updated.sealed_secret, None, "a write without a secret clears it");
    assert_eq!((updated.created_at, updated.updated_at), (100, 200));
    assert_eq!((updated.created_by.as_str(), updated.updated_by.as_str()), ("creator", "updater"));
    assert_eq!(store.get_resource(&connection_key).await.unwrap().unwrap().updated_at, 200);

    let missing = write(ResourceKind::IntegrationConnection, "missing", 300);
    assert!(matches!(store.update_resource(&missing).await, Err(StoreError::NotFound)));

    let deleted = store.delete_resource(&connection_key).await.unwrap();
    assert_eq!(deleted.document, update.document, "the delete returns what it deleted");
    assert!(store.get_resource(&connection_key).await.unwrap().is_none());
    assert!(matches!(store.delete_resource(&connection_key).await, Err(StoreError::NotFound)));
    assert_eq!(store.count_resources(WS, ResourceKind::IntegrationConnection).await.unwrap(), 0);
}

async fn documents_and_secrets_are_stored_exactly(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    let document = json!({
        "metadata": {"displayName": "Café ☕ 😀 \"quoted\" \\ back", "labels": {"z": "1", "a": "", "m": "x\ny"}},
        "spec": {"big": 9007199254740993_i64, "neg": -1, "float": 0.5, "null": null, "list": [1, "two", {"three": []}]}
    });
    let bytes: Vec<u8> = (0..=255).collect();
    let mut create = write(ResourceKind::IntegrationConnection, "exact", 1);
    create.document = document.clone();
    create.sealed_secret = Some(SealedSecret { key_id: "key-ü".into(), bytes: bytes.clone() });
    store.create_resource(&create).await.unwrap();
    let got = store.get_resource(&create.key).await.unwrap().unwrap();
    assert_eq!(got.document, document);
    assert_eq!(got.document.to_string(), document.to_string(), "key order survives too");
    assert_eq!(got.sealed_secret.unwrap().bytes, bytes, "every byte value survives");
}

async fn names_are_unique_per_workspace_and_kind(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    with_workspace(&*store, "other").await;
    store.create_resource(&write(ResourceKind::Model, "same", 1)).await.unwrap();
    let mut again = write(ResourceKind::Model, "same", 2);
    again.document = json!({"second": true});
    assert!(matches!(store.create_resource(&again).await, Err(StoreError::AlreadyExists)));
    let kept = store.get_resource(&key(ResourceKind::Model, "same")).await.unwrap().unwrap();
    assert_eq!(kept.created_at, 1, "the failed create changed nothing");
    assert_eq!(store.list_revisions(&kept.key).await.unwrap().len(), 1);

    store.create_resource(&write(ResourceKind::Policy, "same", 3)).await.unwrap();
    let mut elsewhere = write(ResourceKind::Model, "same", 4);
    elsewhere.key.workspace = "other".into();
    store.create_resource(&elsewhere).await.unwrap();
    assert_eq!(store.count_resources(WS, ResourceKind::Model).await.unwrap(), 1);
    assert_eq!(store.count_resources("other", ResourceKind::Model).await.unwrap(), 1);
}

async fn concurrent_creates_of_one_name_admit_one(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    let mut tasks = tokio::task::JoinSet::new();
    for at in 0..8 {
        let store = store.clone();
        tasks.spawn(async move { store.create_resource(&write(ResourceKind::Model, "contended", at)).await });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::AlreadyExists) => refused += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((created, refused), (1, 7));
    let record = store.get_resource(&key(ResourceKind::Model, "contended")).await.unwrap().unwrap();
    assert_eq!(store.list_revisions(&record.key).await.unwrap().len(), 1);
}

async fn writing_into_a_missing_workspace_fails(store: Arc<dyn Store>) {
    let result = store.create_resource(&write(ResourceKind::Model, "orphan", 1)).await;
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
    assert!(store.all_resources(ResourceKind::Model).await.unwrap().is_empty());
}

async fn references_are_checked_and_recorded(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    with_workspace(&*store, "other").await;
    let connection = reference(ResourceKind::IntegrationConnection, "conn");
    let policy = reference(ResourceKind::Policy, "pol");

    let result = store.create_resource(&model("m", 1, vec![connection.clone()])).await;
    assert!(matches!(&result, Err(StoreError::MissingReference(r)) if *r == connection), "{result:?}");
    assert!(store.get_resource(&key(ResourceKind::Model, "m")).await.unwrap().is_none(), "nothing was written");

    // A resource of the same name in another workspace does not count.
    let mut foreign = write(ResourceKind::IntegrationConnection, "conn", 1);
    foreign.key.workspace = "other".into();
    store.create_resource(&foreign).await.unwrap();
    let result = store.create_resource(&model("m", 1, vec![connection.clone()])).await;
    assert!(matches!(result, Err(StoreError::MissingReference(_))), "{result:?}");

    store.create_resource(&write(ResourceKind::IntegrationConnection, "conn", 2)).await.unwrap();
    store.create_resource(&write(ResourceKind::Policy, "pol", 3)).await.unwrap();
    store.create_resource(&model("m", 4, vec![connection.clone(), policy.clone()])).await.unwrap();
    let m = reference(ResourceKind::Model, "m");
    assert_eq!(store.referrers(&key(ResourceKind::IntegrationConnection, "conn")).await.unwrap(), vec![m.clone()]);
    assert_eq!(store.referrers(&key(ResourceKind::Policy, "pol")).await.unwrap(), vec![m.clone()]);
    assert!(store
        .referrers(&ResourceKey::new("other", ResourceKind::IntegrationConnection, "conn"))
        .await
        .unwrap()
        .is_empty());

    // An update replaces the references.
    store.update_resource(&model("m", 5, vec![policy.clone()])).await.unwrap();
    assert!(store.referrers(&key(ResourceKind::IntegrationConnection, "conn")).await.unwrap().is_empty());
    assert_eq!(store.referrers(&key(ResourceKind::Policy, "pol")).await.unwrap(), [m]);
}

async fn a_referenced_resource_cannot_be_deleted(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    let policy = reference(ResourceKind::Policy, "pol");
    store.create_resource(&write(ResourceKind::Policy, "pol", 1)).await.unwrap();
    store.create_resource(&model("zeta", 2, vec![policy.clone()])).await.unwrap();
    store.create_resource(&model("alpha", 3, vec![policy.clone()])).await.unwrap();

    let result = store.delete_resource(&key(ResourceKind::Policy, "pol")).await;
    let expected = [reference(ResourceKind::Model, "alpha"), reference(ResourceKind::Model, "zeta")];
    assert!(matches!(&result, Err(StoreError::InUse(r)) if r.as_slice() == expected), "{result:?}, by name");
    assert!(store.get_resource(&key(ResourceKind::Policy, "pol")).await.unwrap().is_some());

    store.delete_resource(&key(ResourceKind::Model, "zeta")).await.unwrap();
    store.delete_resource(&key(ResourceKind::Model, "alpha")).await.unwrap();
    assert!(
        store.referrers(&key(ResourceKind::Policy, "pol")).await.unwrap().is_empty(),
        "a delete drops its references"
    );
    store.delete_resource(&key(ResourceKind::Policy, "pol")).await.unwrap();
}

async fn a_failed_write_changes_nothing(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    let policy = reference(ResourceKind::Policy, "pol");
    store.create_resource(&write(ResourceKind::Policy, "pol", 1)).await.unwrap();
    let before = store.create_resource(&model("m", 2, vec![policy.clone()])).await.unwrap();

    let mut broken = model("m", 3, vec![policy.clone(), reference(ResourceKind::IntegrationConnection, "nope")]);
    broken.document = json!({"broken": true});
    let result = store.update_resource(&broken).await;
    assert!(matches!(result, Err(StoreError::MissingReference(_))), "{result:?}");

    let after = store.get_resource(&before.key).await.unwrap().unwrap();
    assert_eq!((after.document, after.updated_at, after.events.len()), (before.document, 2, 1));
    assert_eq!(store.referrers(&key(ResourceKind::Policy, "pol")).await.unwrap().len(), 1, "references kept");
    assert_eq!(store.list_revisions(&before.key).await.unwrap().len(), 1, "no revision recorded");
}

async fn a_delete_racing_a_reference_never_leaves_it_dangling(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    for round in 0..10 {
        let connection = format!("conn-{round}");
        let model_name = format!("model-{round}");
        store.create_resource(&write(ResourceKind::IntegrationConnection, &connection, round)).await.unwrap();
        let (creator, deleter) = (store.clone(), store.clone());
        let model_write = model(&model_name, round, vec![reference(ResourceKind::IntegrationConnection, &connection)]);
        let create = tokio::spawn(async move { creator.create_resource(&model_write).await });
        let connection_key = key(ResourceKind::IntegrationConnection, &connection);
        let delete = tokio::spawn(async move { deleter.delete_resource(&connection_key).await });
        let (created, deleted) = (create.await.unwrap(), delete.await.unwrap());
        match (&created, &deleted) {
            (Ok(_), Err(StoreError::InUse(_))) | (Err(StoreError::MissingReference(_)), Ok(_)) => {}
            other => panic!("round {round}: one of the two must win cleanly, got {other:?}"),
        }
        let model_exists = store.get_resource(&key(ResourceKind::Model, &model_name)).await.unwrap().is_some();
        let connection_exists =
            store.get_resource(&key(ResourceKind::IntegrationConnection, &connection)).await.unwrap().is_some();
        assert!(!model_exists || connection_exists, "round {round}: a model points at a deleted connection");
    }
}

async fn events_are_appended_and_capped(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    let mut first = write(ResourceKind::Model, "busy", 0);
    first.new_events = vec![json!(0), json!(1)];
    store.create_resource(&first).await.unwrap();
    for i in 1..=MAX_EVENTS as i64 {
        let mut update = write(ResourceKind::Model, "busy", i);
        update.new_events = vec![json!(i + 1)];
        update.revision = None;
        store.update_resource(&update).await.unwrap();
    }
    let record = store.get_resource(&first.key).await.unwrap().unwrap();
    assert_eq!(record.events.len(), MAX_EVENTS);
    assert_eq!(record.events.first(), Some(&json!(2)), "the oldest go first");
    assert_eq!(record.events.last(), Some(&json!(MAX_EVENTS as i64 + 1)));
}

async fn concurrent_updates_keep_every_event(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    let mut first = write(ResourceKind::Model, "hot", 0);
    first.new_events = Vec::new();
    store.create_resource(&first).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 1..=10 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut update = write(ResourceKind::Model, "hot", i);
            update.new_events = vec![json!(i)];
            update.revision = Some(RevisionWrite { id: format!("r{i}"), status: "DEPLOYED".into() });
            store.update_resource(&update).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let record = store.get_resource(&first.key).await.unwrap().unwrap();
    let mut events: Vec<i64> = record.events.iter().map(|e| e.as_i64().unwrap()).collect();
    events.sort_unstable();
    assert_eq!(events, (1..=10).collect::<Vec<_>>(), "no update lost another's event");
    assert_eq!(store.list_revisions(&first.key).await.unwrap().len(), 11, "every revision kept");
}

async fn revisions_are_listed_newest_first_and_reset_on_recreate(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    let k = key(ResourceKind::Model, "m");
    store.create_resource(&write(ResourceKind::Model, "m", 10)).await.unwrap();
    let mut second = write(ResourceKind::Model, "m", 20);
    second.actor = "editor".into();
    second.revision = Some(RevisionWrite { id: "r20".into(), status: "FAILED".into() });
    store.update_resource(&second).await.unwrap();
    store.update_resource(&ResourceWrite { revision: None, ..write(ResourceKind::Model, "m", 30) }).await.unwrap();

    let revisions = store.list_revisions(&k).await.unwrap();
    let seen: Vec<_> =
        revisions.iter().map(|r| (r.id.as_str(), r.status.as_str(), r.created_at, r.created_by.as_str())).collect();
    assert_eq!(seen, [("r20", "FAILED", 20, "editor"), ("r10", "DEPLOYED", 10, "creator")]);
    assert!(store.list_revisions(&key(ResourceKind::Policy, "m")).await.unwrap().is_empty());

    store.delete_resource(&k).await.unwrap();
    assert!(store.list_revisions(&k).await.unwrap().is_empty(), "revisions go with the resource");
    store.create_resource(&write(ResourceKind::Model, "m", 40)).await.unwrap();
    let ids: Vec<_> = store.list_revisions(&k).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["r40"]);
}

/// Five models whose names order differently by byte and by a natural-language collation, with
/// a tie on `created_at`; plus a policy and a model elsewhere that no listing may show.
async fn listing_fixture(store: &dyn Store) {
    with_workspace(store, WS).await;
    with_workspace(store, "other").await;
    for (name, at, status) in [
        ("ab", 10, "DEPLOYED"),
        ("a-c", 10, "FAILED"),
        ("a1", 30, "DEPLOYED"),
        ("b", 5, "DEPLOYING"),
        ("c", 20, "FAILED"),
    ] {
        let mut w = write(ResourceKind::Model, name, at);
        w.status = Some(status.into());
        w.search_text = format!("{name} #{}", status.to_lowercase());
        store.create_resource(&w).await.unwrap();
    }
    store.create_resource(&write(ResourceKind::Policy, "policy", 1)).await.unwrap();
    let mut elsewhere = write(ResourceKind::Model, "aa", 1);
    elsewhere.key.workspace = "other".into();
    store.create_resource(&elsewhere).await.unwrap();
}

/// Every sort with the full order it must give on [`listing_fixture`].
const ORDERS: [(SortOrder, [&str; 5]); 4] = [
    (SortOrder::CreatedDesc, ["a1", "c", "ab", "a-c", "b"]),
    (SortOrder::CreatedAsc, ["b", "a-c", "ab", "c", "a1"]),
    (SortOrder::NameAsc, ["a-c", "a1", "ab", "b", "c"]),
    (SortOrder::NameDesc, ["c", "b", "ab", "a1", "a-c"]),
];

async fn list(store: &dyn Store, query: ListQuery) -> Vec<ResourceRecord> {
    store.list_resources(WS, ResourceKind::Model, &query).await.unwrap()
}

async fn listing_orders_by_every_sort(store: Arc<dyn Store>) {
    listing_fixture(&*store).await;
    for (sort, expected) in ORDERS {
        let records = list(&*store, ListQuery { sort, ..Default::default() }).await;
        assert_eq!(names(&records), expected, "{sort:?}");
    }
    assert_eq!(ListQuery::default().sort, SortOrder::CreatedDesc);
    assert_eq!(store.count_resources(WS, ResourceKind::Model).await.unwrap(), 5);
    let limited = list(&*store, ListQuery { sort: SortOrder::NameAsc, limit: Some(2), ..Default::default() }).await;
    assert_eq!(names(&limited), ["a-c", "a1"]);
}

async fn listing_pages_with_keyset_cursors(store: Arc<dyn Store>) {
    listing_fixture(&*store).await;
    for (sort, expected) in ORDERS {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page =
                list(&*store, ListQuery { sort, after: after.clone(), limit: Some(2), ..Default::default() }).await;
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 2);
            after = page.last().map(position);
            seen.extend(page.iter().map(|r| r.key.name.clone()));
        }
        assert_eq!(seen, expected, "{sort:?}: pages in order, none repeated or skipped");
    }
    // A cursor stays valid when the row it names is gone: paging goes on from its position.
    let first = list(&*store, ListQuery { sort: SortOrder::CreatedAsc, limit: Some(2), ..Default::default() }).await;
    let cursor = position(&first[1]);
    store.delete_resource(&first[1].key).await.unwrap();
    let rest =
        list(&*store, ListQuery { sort: SortOrder::CreatedAsc, after: Some(cursor), ..Default::default() }).await;
    assert_eq!(names(&rest), ["ab", "c", "a1"]);
    // Ties on created_at are broken by name, both ways.
    let tie = Position { created_at: 10, name: "a-c".into() };
    let asc =
        list(&*store, ListQuery { sort: SortOrder::CreatedAsc, after: Some(tie.clone()), ..Default::default() }).await;
    assert_eq!(names(&asc), ["ab", "c", "a1"]);
    let desc = list(&*store, ListQuery { sort: SortOrder::CreatedDesc, after: Some(tie), ..Default::default() }).await;
    assert_eq!(names(&desc), ["b"]);
}

async fn listing_searches_literally_and_filters_by_status(store: Arc<dyn Store>) {
    listing_fixture(&*store).await;
    for (name, text) in [("pct", "50% off"), ("under", "snake_case"), ("slash", "back\\slash")] {
        let mut w = write(ResourceKind::Model, name, 100);
        w.search_text = text.into();
        w.status = None;
        store.create_resource(&w).await.unwrap();
    }
    let search = |text: &str| ListQuery { sort: SortOrder::NameAsc, search: Some(text.into()), ..Default::default() };
    assert_eq!(names(&list(&*store, search("b")).await), ["ab", "b", "slash"]);
    assert_eq!(names(&list(&*store, search("#failed")).await), ["a-c", "c"]);
    assert_eq!(names(&list(&*store, search("%")).await), ["pct"], "% is a character, not a wildcard");
    assert_eq!(names(&list(&*store, search("_")).await), ["under"], "_ is a character, not a wildcard");
    assert_eq!(names(&list(&*store, search("\\")).await), ["slash"]);
    assert!(list(&*store, search("zzz")).await.is_empty());

    let status = |statuses: &[&str]| ListQuery {
        sort: SortOrder::NameAsc,
        statuses: statuses.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    assert_eq!(names(&list(&*store, status(&["FAILED"])).await), ["a-c", "c"]);
    assert_eq!(names(&list(&*store, status(&["DEPLOYING", "DEPLOYED"])).await), ["a1", "ab", "b"]);
    assert!(list(&*store, status(&["UNKNOWN"])).await.is_empty());
    let both = ListQuery { search: Some("-".into()), ..status(&["FAILED"]) };
    assert_eq!(names(&list(&*store, both).await), ["a-c"]);
    assert_eq!(store.count_resources(WS, ResourceKind::Model).await.unwrap(), 8, "counts ignore filters");
}

async fn listing_returns_the_tail_in_order(store: Arc<dyn Store>) {
    listing_fixture(&*store).await;
    for (sort, expected) in ORDERS {
        let tail = list(&*store, ListQuery { sort, tail: true, limit: Some(2), ..Default::default() }).await;
        assert_eq!(names(&tail), expected[3..], "{sort:?}");
        let all = list(&*store, ListQuery { sort, tail: true, ..Default::default() }).await;
        assert_eq!(names(&all), expected, "{sort:?}");
    }
    let filtered = ListQuery {
        sort: SortOrder::CreatedDesc,
        tail: true,
        limit: Some(1),
        statuses: vec!["FAILED".into()],
        ..Default::default()
    };
    assert_eq!(names(&list(&*store, filtered).await), ["a-c"]);
}

// ---- behaviours: identity ----

async fn console_sessions_are_created_found_touched_and_ended(store: Arc<dyn Store>) {
    let session = |token: &str, created_at: i64, expires_at: i64| ConsoleSessionRecord {
        token_digest: token.to_string(),
        credential_digest: format!("digest-of-{token}"),
        client_id: (token == "b").then(|| "sa_1".to_string()),
        created_at,
        last_seen_at: created_at,
        expires_at,
    };
    store.create_console_session(&session("a", 10, 100)).await.unwrap();
    store.create_console_session(&session("b", 20, 200)).await.unwrap();
    assert_eq!(store.find_console_session("a").await.unwrap(), Some(session("a", 10, 100)));
    assert_eq!(store.find_console_session("b").await.unwrap(), Some(session("b", 20, 200)));
    assert!(matches!(store.create_console_session(&session("a", 30, 300)).await, Err(StoreError::AlreadyExists)));

    store.touch_console_session("a", 50).await.unwrap();
    assert_eq!(store.find_console_session("a").await.unwrap().unwrap().last_seen_at, 50);

    // A session created later sweeps those that ended before it started.
    store.create_console_session(&session("c", 150, 400)).await.unwrap();
    assert_eq!(store.find_console_session("a").await.unwrap(), None);
    assert!(store.find_console_session("b").await.unwrap().is_some());

    assert!(store.delete_console_session("b").await.unwrap());
    assert!(!store.delete_console_session("b").await.unwrap(), "a session ends once");
    assert_eq!(store.find_console_session("b").await.unwrap(), None);
    assert_eq!(store.find_console_session("unknown").await.unwrap(), None);
}

async fn api_keys_are_inserted_found_listed_and_revoked(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    let mut expiring = api_key("ak_b", WS, "sa-1", "service_account", 20);
    expiring.expires_in = Some("30d".into());
    expiring.expires_at = Some(20 + 30 * 86_400_000_000);
    let keys = [
        api_key("ak_c", WS, "sa-1", "service_account", 10),
        expiring.clone(),
        api_key("ak_a", WS, "sa-1", "service_account", 20),
        api_key("ak_u", WS, "user-1", "user", 5),
    ];
    for k in &keys {
        store.insert_api_key(k).await.unwrap();
    }
    let duplicate_id = ApiKeyRecord { key_digest: "other-digest".into(), ..keys[0].clone() };
    assert!(matches!(store.insert_api_key(&duplicate_id).await, Err(StoreError::AlreadyExists)));
    let duplicate_digest = ApiKeyRecord { id: "ak_z".into(), ..keys[0].clone() };
    assert!(matches!(store.insert_api_key(&duplicate_digest).await, Err(StoreError::AlreadyExists)));

    let found = store.find_api_key("digest-ak_b").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.workspace.as_str(), found.name.as_str(), found.subject.as_str()),
        ("ak_b", WS, "key ak_b", "sa-1")
    );
    assert_eq!(
        (found.subject_type.as_str(), found.created_by.as_str(), found.created_at),
        ("service_account", "admin", 20)
    );
    assert_eq!((found.expires_in, found.expires_at), (expiring.expires_in, expiring.expires_at));
    assert_eq!(found.scopes, ["models:read", "models:write"]);
    let plain = store.find_api_key("digest-ak_c").await.unwrap().unwrap();
    assert_eq!((plain.expires_in, plain.expires_at), (None, None));
    assert!(store.find_api_key("digest-unknown").await.unwrap().is_none());

    let listed: Vec<_> = store.list_api_keys("sa-1").await.unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(listed, ["ak_c", "ak_a", "ak_b"], "oldest first, then by id");
    let mut all: Vec<_> = store.all_api_keys().await.unwrap().into_iter().map(|k| k.id).collect();
    all.sort();
    assert_eq!(all, ["ak_a", "ak_b", "ak_c", "ak_u"]);

    assert!(matches!(store.delete_api_key("user-1", "ak_a").await, Err(StoreError::NotFound)), "not the subject's");
    assert_eq!(store.delete_api_key("sa-1", "ak_a").await.unwrap().key_digest, "digest-ak_a");
    assert!(matches!(store.delete_api_key("sa-1", "ak_a").await, Err(StoreError::NotFound)));
    assert!(store.find_api_key("digest-ak_a").await.unwrap().is_none());
    assert_eq!(store.list_api_keys("sa-1").await.unwrap().len(), 2);
}

async fn workspaces_are_created_listed_and_updated(store: Arc<dyn Store>) {
    assert!(!store.is_initialized().await.unwrap());
    assert!(store.ensure_workspace("default", "bootstrap", 1).await.unwrap(), "created");
    assert!(!store.ensure_workspace("default", "someone", 2).await.unwrap(), "already there");
    assert!(store.is_initialized().await.unwrap());
    let default = store.get_workspace("default").await.unwrap().unwrap();
    assert_eq!((default.document, default.created_at, default.created_by.as_str()), (json!({}), 1, "bootstrap"));

    store.create_workspace(&workspace_record("zeta", 10), Some("alice")).await.unwrap();
    store.create_workspace(&workspace_record("alpha", 20), None).await.unwrap();
    let taken = WorkspaceRecord { document: json!({"other": true}), ..workspace_record("zeta", 30) };
    assert!(matches!(store.create_workspace(&taken, Some("bob")).await, Err(StoreError::AlreadyExists)));
    assert!(!store.is_workspace_admin("zeta", "bob").await.unwrap(), "the failed create made no admin");
    assert!(store.workspace_exists("zeta").await.unwrap());
    assert!(!store.workspace_exists("nope").await.unwrap());
    assert!(store.get_workspace("nope").await.unwrap().is_none());

    let zeta = store.get_workspace("zeta").await.unwrap().unwrap();
    assert_eq!(zeta.document, json!({"displayName": "zeta", "labels": {"team": "a"}}));
    let all: Vec<_> = store.list_workspaces(None).await.unwrap().into_iter().map(|w| w.name).collect();
    assert_eq!(all, ["alpha", "default", "zeta"]);
    let alices: Vec<_> = store.list_workspaces(Some("alice")).await.unwrap().into_iter().map(|w| w.name).collect();
    assert_eq!(alices, ["zeta"]);
    assert!(store.list_workspaces(Some("nobody")).await.unwrap().is_empty());

    let updated = WorkspaceRecord {
        document: json!({"displayName": "Zeta"}),
        updated_at: 40,
        updated_by: "alice".into(),
        ..zeta.clone()
    };
    store.update_workspace(&updated).await.unwrap();
    let got = store.get_workspace("zeta").await.unwrap().unwrap();
    assert_eq!(
        (got.document, got.created_at, got.updated_at, got.updated_by.as_str()),
        (json!({"displayName": "Zeta"}), 10, 40, "alice")
    );
    let missing = workspace_record("nope", 1);
    assert!(matches!(store.update_workspace(&missing).await, Err(StoreError::NotFound)));
}

/// A workspace holding one of everything, with a model referencing a connection.
async fn fill_workspace(store: &dyn Store, name: &str) {
    store.ensure_workspace(name, "test", 1).await.unwrap();
    let at_name = |kind, resource: &str, at| {
        let mut w = write(kind, resource, at);
        w.key.workspace = name.into();
        w
    };
    let mut connection = at_name(ResourceKind::IntegrationConnection, "conn", 1);
    connection.sealed_secret = Some(sealed("k1", b"secret"));
    store.create_resource(&connection).await.unwrap();
    store.create_resource(&at_name(ResourceKind::Policy, "pol", 2)).await.unwrap();
    let mut m = at_name(ResourceKind::Model, "m", 3);
    m.references = vec![reference(ResourceKind::IntegrationConnection, "conn")];
    store.create_resource(&m).await.unwrap();
    let account = format!("sa-{name}");
    store.create_service_account(&service_account(&account, name, 4)).await.unwrap();
    store.insert_api_key(&api_key(&format!("ak-{name}"), name, &account, "service_account", 5)).await.unwrap();
    store.add_workspace_admin(name, "alice", 6).await.unwrap();
    store.insert_usage(&[usage(name, "m", 7)]).await.unwrap();
}

async fn deleting_a_workspace_needs_force_unless_empty(store: Arc<dyn Store>) {
    store.ensure_workspace("empty", "test", 1).await.unwrap();
    assert_eq!(store.count_workspace_contents("empty").await.unwrap(), counts([0, 0, 0, 0, 0]));
    assert_eq!(store.delete_workspace("empty", false).await.unwrap().name, "empty");
    assert!(!store.workspace_exists("empty").await.unwrap());
    assert!(matches!(store.delete_workspace("empty", true).await, Err(StoreError::NotFound)));

    fill_workspace(&*store, "full").await;
    fill_workspace(&*store, "kept").await;
    assert_eq!(store.count_workspace_contents("full").await.unwrap(), counts([1, 1, 1, 1, 0]));
    let result = store.delete_workspace("full", false).await;
    assert!(matches!(&result, Err(StoreError::NotEmpty(c)) if *c == counts([1, 1, 1, 1, 0])), "{result:?}");
    assert!(store.workspace_exists("full").await.unwrap());

    store.delete_workspace("full", true).await.unwrap();
    assert!(!store.workspace_exists("full").await.unwrap());
    assert!(store.all_resources(ResourceKind::Model).await.unwrap().iter().all(|r| r.key.workspace == "kept"));
    assert!(store.get_service_account("sa-full").await.unwrap().is_none());
    assert!(store.find_api_key("digest-ak-full").await.unwrap().is_none());
    assert!(!store.is_workspace_admin("full", "alice").await.unwrap());
    assert_eq!(store.sealed_secrets().await.unwrap().len(), 1, "the deleted workspace's secret is gone");
    assert!(store.query_usage(&usage_query("full", None, 0, 100)).await.unwrap().is_empty());

    // The same name starts empty: no references, revisions or usage come back.
    store.ensure_workspace("full", "test", 50).await.unwrap();
    assert_eq!(store.count_workspace_contents("full").await.unwrap(), counts([0, 0, 0, 0, 0]));
    let mut recreated = write(ResourceKind::IntegrationConnection, "conn", 51);
    recreated.key.workspace = "full".into();
    store.create_resource(&recreated).await.unwrap();
    assert!(store.referrers(&recreated.key).await.unwrap().is_empty());
    assert_eq!(store.list_revisions(&recreated.key).await.unwrap().len(), 1);

    assert_eq!(store.count_workspace_contents("kept").await.unwrap(), counts([1, 1, 1, 1, 0]), "untouched");
    assert_eq!(store.query_usage(&usage_query("kept", None, 0, 100)).await.unwrap().len(), 1);
    assert!(store.find_api_key("digest-ak-kept").await.unwrap().is_some());
}

async fn a_workspace_that_is_home_to_user_keys_is_never_deleted(store: Arc<dyn Store>) {
    store.ensure_workspace("home", "test", 1).await.unwrap();
    store.insert_api_key(&api_key("ak-user", "home", "admin", "user", 2)).await.unwrap();
    assert_eq!(store.count_workspace_contents("home").await.unwrap(), counts([0, 0, 0, 0, 1]));
    for force in [false, true] {
        let result = store.delete_workspace("home", force).await;
        assert!(
            matches!(&result, Err(StoreError::NotEmpty(c)) if c[USER_KEYS_COUNT] == 1),
            "force={force}: {result:?}"
        );
    }
    assert!(store.workspace_exists("home").await.unwrap());
    assert_eq!(store.count_workspace_contents("nope").await.unwrap(), counts([0, 0, 0, 0, 0]));
}

async fn users_and_admins(store: Arc<dyn Store>) {
    store.ensure_workspace("a", "test", 1).await.unwrap();
    store.ensure_workspace("b", "test", 1).await.unwrap();
    store.ensure_user("bob", false, 1).await.unwrap();
    assert!(!store.is_platform_admin("bob").await.unwrap());
    store.ensure_user("root", true, 1).await.unwrap();
    store.ensure_user("root", false, 2).await.unwrap();
    assert!(store.is_platform_admin("root").await.unwrap(), "never lowered");
    store.ensure_user("bob", true, 3).await.unwrap();
    assert!(store.is_platform_admin("bob").await.unwrap(), "raised");
    assert!(!store.is_platform_admin("nobody").await.unwrap());

    store.add_workspace_admin("a", "carol", 1).await.unwrap();
    store.add_workspace_admin("a", "carol", 2).await.unwrap();
    store.add_workspace_admin("b", "carol", 3).await.unwrap();
    store.add_workspace_admin("b", "dave", 4).await.unwrap();
    assert!(store.is_workspace_admin("a", "carol").await.unwrap());
    assert!(!store.is_workspace_admin("a", "dave").await.unwrap());

    let (mut admins, mut platform) = store.all_admins().await.unwrap();
    admins.sort();
    platform.sort();
    let pair = |w: &str, s: &str| (w.to_string(), s.to_string());
    assert_eq!(admins, [pair("a", "carol"), pair("b", "carol"), pair("b", "dave")]);
    assert_eq!(platform, ["bob", "root"]);
}

async fn service_accounts_and_their_keys(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    with_workspace(&*store, "other").await;
    store.create_service_account(&service_account("sa-2", WS, 10)).await.unwrap();
    store.create_service_account(&service_account("sa-1", WS, 10)).await.unwrap();
    store.create_service_account(&service_account("sa-0", WS, 20)).await.unwrap();
    store.create_service_account(&service_account("sa-x", "other", 5)).await.unwrap();
    let duplicate = service_account("sa-1", "other", 30);
    assert!(matches!(store.create_service_account(&duplicate).await, Err(StoreError::AlreadyExists)));

    let got = store.get_service_account("sa-1").await.unwrap().unwrap();
    assert_eq!(
        (got.workspace.as_str(), got.name.as_str(), got.description.as_deref()),
        (WS, "account sa-1", Some("does things"))
    );
    assert_eq!(
        (got.secret_digest.as_str(), got.scopes.as_slice(), got.created_at),
        ("secret-sa-1", &["admin".to_string()][..], 10)
    );
    assert!(store.get_service_account("sa-none").await.unwrap().is_none());
    let listed: Vec<_> = store.list_service_accounts(WS).await.unwrap().into_iter().map(|a| a.client_id).collect();
    assert_eq!(listed, ["sa-1", "sa-2", "sa-0"], "oldest first, then by client id");

    let renamed = ServiceAccountRecord {
        name: "renamed".into(),
        description: None,
        updated_at: 40,
        updated_by: "bob".into(),
        ..got.clone()
    };
    store.update_service_account(&renamed).await.unwrap();
    let got = store.get_service_account("sa-1").await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.description, got.updated_at, got.updated_by.as_str()),
        ("renamed", None, 40, "bob")
    );
    assert_eq!(got.secret_digest, "secret-sa-1", "the secret is not an updatable field");
    let missing = service_account("sa-none", WS, 1);
    assert!(matches!(store.update_service_account(&missing).await, Err(StoreError::NotFound)));

    store.insert_api_key(&api_key("ak-1", WS, "sa-1", "service_account", 1)).await.unwrap();
    store.insert_api_key(&api_key("ak-2", WS, "sa-2", "service_account", 1)).await.unwrap();
    assert_eq!(store.delete_service_account("sa-1").await.unwrap().name, "renamed");
    assert!(store.find_api_key("digest-ak-1").await.unwrap().is_none(), "its keys go with it");
    assert!(store.find_api_key("digest-ak-2").await.unwrap().is_some(), "other accounts' keys stay");
    assert!(matches!(store.delete_service_account("sa-1").await, Err(StoreError::NotFound)));
}

async fn sealed_secrets_are_replaced_by_compare_and_set(store: Arc<dyn Store>) {
    with_workspace(&*store, WS).await;
    for (name, secret) in [("one", Some(sealed("k1", b"one"))), ("two", Some(sealed("k2", b"two"))), ("none", None)] {
        let mut w = write(ResourceKind::IntegrationConnection, name, 1);
        w.sealed_secret = secret;
        store.create_resource(&w).await.unwrap();
    }
    let mut listed = store.sealed_secrets().await.unwrap();
    listed.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    assert_eq!(
        listed,
        [
            (key(ResourceKind::IntegrationConnection, "one"), sealed("k1", b"one")),
            (key(ResourceKind::IntegrationConnection, "two"), sealed("k2", b"two")),
        ]
    );

    let one = key(ResourceKind::IntegrationConnection, "one");
    assert!(store.replace_sealed_secret(&one, "k1", &sealed("k3", b"one again")).await.unwrap());
    assert!(!store.replace_sealed_secret(&one, "k1", &sealed("k4", b"stale")).await.unwrap(), "no longer under k1");
    assert_eq!(store.get_resource(&one).await.unwrap().unwrap().sealed_secret, Some(sealed("k3", b"one again")));
    let none = key(ResourceKind::IntegrationConnection, "none");
    assert!(!store.replace_sealed_secret(&none, "k1", &sealed("k3", b"x")).await.unwrap());
    assert_eq!(store.get_resource(&none).await.unwrap().unwrap().sealed_secret, None);
    let missing = key(ResourceKind::IntegrationConnection, "missing");
    assert!(!store.replace_sealed_secret(&missing, "k1", &sealed("k3", b"x")).await.unwrap());
}

async fn all_resources_spans_every_workspace(store: Arc<dyn Store>) {
    for workspace in ["b", "a"] {
        store.ensure_workspace(workspace, "test", 1).await.unwrap();
        for (kind, name) in [(ResourceKind::Model, "y"), (ResourceKind::Model, "x"), (ResourceKind::Policy, "p")] {
            let mut w = write(kind, name, 1);
            w.key.workspace = workspace.into();
            store.create_resource(&w).await.unwrap();
        }
    }
    let models: Vec<_> = store
        .all_resources(ResourceKind::Model)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key.workspace, r.key.name))
        .collect();
    let pair = |w: &str, n: &str| (w.to_string(), n.to_string());
    assert_eq!(models, [pair("a", "x"), pair("a", "y"), pair("b", "x"), pair("b", "y")], "by workspace, then name");
    assert_eq!(store.all_resources(ResourceKind::Policy).await.unwrap().len(), 2);
    assert!(store.all_resources(ResourceKind::IntegrationConnection).await.unwrap().is_empty());
}

async fn the_configuration_is_read_whole(store: Arc<dyn Store>) {
    store.ensure_workspace(WS, "test", 1).await.unwrap();
    for (kind, name) in [
        (ResourceKind::IntegrationConnection, "c"),
        (ResourceKind::Policy, "p"),
        (ResourceKind::Model, "m2"),
        (ResourceKind::Model, "m1"),
    ] {
        store.create_resource(&write(kind, name, 1)).await.unwrap();
    }
    let configuration = store.configuration().await.unwrap();
    let names = |records: &[ResourceRecord]| records.iter().map(|r| r.key.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&configuration.models), ["m1", "m2"]);
    assert_eq!(names(&configuration.connections), ["c"]);
    assert_eq!(names(&configuration.policies), ["p"]);
    let keys = store.all_api_keys().await.unwrap();
    assert_eq!(configuration.api_keys.len(), keys.len());
    let (admins, platform_admins) = store.all_admins().await.unwrap();
    assert_eq!((configuration.admins, configuration.platform_admins), (admins, platform_admins));
    // The read leaves nothing open: writes go on.
    store.create_resource(&write(ResourceKind::Model, "m3", 2)).await.unwrap();
    assert_eq!(store.configuration().await.unwrap().models.len(), 3);
}

// ---- behaviours: usage ----

async fn usage_round_trips_in_a_half_open_range_by_workspace_and_model(store: Arc<dyn Store>) {
    let mut failed = usage("ws-a", "m1", 30);
    failed.status = 502;
    failed.key_id = None;
    failed.ttfb_ms = None;
    let records = vec![usage("ws-a", "m1", 20), usage("ws-a", "m2", 10), failed.clone(), usage("ws-b", "m1", 15)];
    store.insert_usage(&records).await.unwrap();
    store.insert_usage(&[]).await.unwrap();

    let all = store.query_usage(&usage_query("ws-a", None, 0, 100)).await.unwrap();
    assert_eq!(all.iter().map(|r| (r.at, r.model.as_str())).collect::<Vec<_>>(), [(10, "m2"), (20, "m1"), (30, "m1")]);
    assert_eq!(all[2], failed, "every field survives, None included");

    let m1 = store.query_usage(&usage_query("ws-a", Some("m1"), 0, 100)).await.unwrap();
    assert_eq!(m1.iter().map(|r| r.at).collect::<Vec<_>>(), [20, 30]);
    let half_open = store.query_usage(&usage_query("ws-a", None, 10, 30)).await.unwrap();
    assert_eq!(half_open.iter().map(|r| r.at).collect::<Vec<_>>(), [10, 20], "from included, to excluded");
    let other = store.query_usage(&usage_query("ws-b", None, 0, 100)).await.unwrap();
    assert_eq!(other, [usage("ws-b", "m1", 15)]);
    assert!(store.query_usage(&usage_query("ws-c", None, 0, 100)).await.unwrap().is_empty());
}

async fn old_usage_expires(store: Arc<dyn Store>) {
    store.insert_usage(&[usage("ws", "m", 10), usage("ws", "m", 20), usage("ws", "m", 30)]).await.unwrap();
    assert_eq!(store.delete_usage_before(20).await.unwrap(), 1);
    let kept = store.query_usage(&usage_query("ws", None, 0, 100)).await.unwrap();
    assert_eq!(kept.iter().map(|r| r.at).collect::<Vec<_>>(), [20, 30], "records at the cut-off stay");
    assert_eq!(store.delete_usage_before(0).await.unwrap(), 0);
}

async fn a_large_usage_batch_is_written_whole(store: Arc<dyn Store>) {
    let records: Vec<UsageRecord> = (0..1_201).map(|i| usage("ws", "m", i)).collect();
    store.insert_usage(&records).await.unwrap();
    assert_eq!(store.query_usage(&usage_query("ws", None, 0, 10_000)).await.unwrap(), records);
    let same_instant: Vec<UsageRecord> =
        (0..3).map(|i| UsageRecord { input_tokens: i, ..usage("ws", "tie", 50_000) }).collect();
    store.insert_usage(&same_instant).await.unwrap();
    let tied = store.query_usage(&usage_query("ws", Some("tie"), 0, i64::MAX)).await.unwrap();
    assert_eq!(tied, same_instant, "records of one instant keep their insertion order");
}

async fn a_usage_batch_written_twice_is_stored_once(store: Arc<dyn Store>) {
    // 111 records: the statements of 100, 10 and 1 rows all meet a stored id.
    let batch: Vec<UsageRecord> =
        (0..111).map(|i| UsageRecord { id: Some(UsageRecordId::next()), ..usage("ws", "m", i) }).collect();
    store.insert_usage(&batch).await.unwrap();
    // Replayed after an ambiguous failure, and again inside a larger batch with new records.
    store.insert_usage(&batch).await.unwrap();
    let newer: Vec<UsageRecord> =
        (111..120).map(|i| UsageRecord { id: Some(UsageRecordId::next()), ..usage("ws", "m", i) }).collect();
    store.insert_usage(&[batch.clone(), newer.clone()].concat()).await.unwrap();
    let stored = store.query_usage(&usage_query("ws", None, 0, 1_000)).await.unwrap();
    assert_eq!(stored, [batch, newer].concat(), "each id once, ids read back");
    // Records without an id (rows from before ids) are never taken for duplicates.
    let old = usage("ws", "old", 5);
    store.insert_usage(&[old.clone(), old.clone()]).await.unwrap();
    assert_eq!(store.query_usage(&usage_query("ws", Some("old"), 0, 1_000)).await.unwrap(), [old.clone(), old]);
}

async fn deleting_a_workspace_deletes_its_usage_only(store: Arc<dyn Store>) {
    for name in ["gone", "kept"] {
        store.ensure_workspace(name, "test", 1).await.unwrap();
    }
    store.insert_usage(&[usage("gone", "m", 1), usage("kept", "m", 1)]).await.unwrap();
    store.delete_workspace("gone", true).await.unwrap();
    assert!(store.query_usage(&usage_query("gone", None, 0, 10)).await.unwrap().is_empty());
    assert_eq!(store.query_usage(&usage_query("kept", None, 0, 10)).await.unwrap().len(), 1);
}

/// A record of `workspace` at `at` with its model, credential (key id, subject), status,
/// tokens and latencies.
fn metered(
    workspace: &str,
    at: Micros,
    model: &str,
    credential: (Option<&str>, &str),
    status: u16,
    tokens: (i64, i64),
    latency_ms: (i64, Option<i64>),
) -> UsageRecord {
    UsageRecord {
        id: Some(UsageRecordId::next()),
        at,
        workspace: workspace.into(),
        model: model.into(),
        subject: credential.1.into(),
        key_id: credential.0.map(str::to_string),
        provider: "openai".into(),
        status,
        input_tokens: tokens.0,
        output_tokens: tokens.1,
        total_tokens: tokens.0 + tokens.1,
        latency_ms: latency_ms.0,
        ttfb_ms: latency_ms.1,
        ..UsageRecord::default()
    }
}

fn usage_filter(workspace: &str, model: Option<&str>, key: Option<&str>, from: Micros, to: Micros) -> UsageFilter {
    UsageFilter { workspaces: vec![workspace.into()], model: model.map(Into::into), key: key.map(Into::into), from, to }
}

fn sums(requests: i64, errors: i64, input_tokens: i64, output_tokens: i64) -> UsageSums {
    UsageSums {
        requests,
        errors,
        input_tokens,
        output_tokens,
        total_tokens: input_tokens + output_tokens,
        ..UsageSums::default()
    }
}

/// The exact nearest-rank percentile of sorted values.
fn nearest_rank(sorted: &[i64], percent: usize) -> i64 {
    sorted[(percent * sorted.len()).div_ceil(100).max(1) - 1]
}

/// Four records of `ws` in two 100-wide buckets (one before 100, one after), one outside the
/// range, one of another workspace.
async fn usage_series_sums_buckets_and_percentiles_in_the_database(store: Arc<dyn Store>) {
    let key_a = (Some("ak_a"), "sa-1");
    let token = (None, "sa-2");
    #[rustfmt::skip]
    let records = [
        metered("ws", 110, "m1", key_a, 200, (10, 5), (100, Some(30))),
        metered("ws", 150, "m2", token, 429, (0, 0), (5, None)),
        metered("ws", 160, "m1", key_a, 200, (20, 10), (200, Some(50))),
        metered("ws", 340, "m1", token, 500, (5, 0), (300, None)),
        metered("ws", 400, "m1", key_a, 200, (7, 7), (1, Some(1))), // at `to`: outside
        metered("other", 120, "m1", key_a, 200, (1_000, 1_000), (9_999, Some(9_999))),
    ];
    store.insert_usage(&records).await.unwrap();

    // from 110, interval 100: buckets start at 100 (110 aligned down), 200 (empty: left out), 300.
    let series = store.usage_series(&usage_filter("ws", None, None, 110, 400), 100).await.unwrap();
    assert_eq!(series.totals, sums(4, 2, 35, 15));
    assert_eq!(
        series.latency_ms,
        LatencyPercentiles { p50: Some(100), p90: Some(300), p99: Some(300), max: Some(300) }
    );
    assert_eq!(series.ttfb_ms, LatencyPercentiles { p50: Some(30), p90: Some(50), p99: Some(50), max: Some(50) });
    let buckets: Vec<(Micros, UsageSums, Option<i64>)> =
        series.buckets.iter().map(|b| (b.start, b.sums, b.latency_ms_p50)).collect();
    assert_eq!(buckets, [(100, sums(3, 1, 30, 15), Some(100)), (300, sums(1, 1, 5, 0), Some(300))]);

    // Filters: a model, a key (an API key id, or the subject of access-token requests), both.
    let series = store.usage_series(&usage_filter("ws", Some("m1"), None, 0, 400), 100).await.unwrap();
    assert_eq!(series.totals, sums(3, 1, 35, 15));
    let series = store.usage_series(&usage_filter("ws", None, Some("ak_a"), 0, 1_000), 1_000).await.unwrap();
    assert_eq!((series.totals, series.buckets.len()), (sums(3, 0, 37, 22), 1));
    let series = store.usage_series(&usage_filter("ws", None, Some("sa-2"), 0, 1_000), 1_000).await.unwrap();
    assert_eq!(series.totals, sums(2, 2, 5, 0));
    assert_eq!(series.ttfb_ms, LatencyPercentiles::default(), "no first byte: no ttfb");
    let series = store.usage_series(&usage_filter("ws", Some("m2"), Some("sa-2"), 0, 1_000), 7).await.unwrap();
    assert_eq!(series.totals, sums(1, 1, 0, 0));
    assert_eq!(series.buckets[0].start, 147, "aligned from zero: 150 is in [147, 154)");
    // `sa-1` has only key requests: the subject of an API key's requests is not its key.
    let none = store.usage_series(&usage_filter("ws", None, Some("sa-1"), 0, 1_000), 1_000).await.unwrap();
    assert_eq!(none, UsageSeries::default());
    let none = store.usage_series(&usage_filter("nobody", None, None, 0, 1_000), 10).await.unwrap();
    assert_eq!(none, UsageSeries::default());
}

/// 4,000 latencies spread from 1 ms to 17 minutes, and ties: every percentile is less than
/// 1/32 off the exact nearest rank, exact below 64 ms, and the maximum is exact.
async fn usage_percentiles_stay_within_a_32nd_of_the_true_value(store: Arc<dyn Store>) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let records: Vec<UsageRecord> = (0..4_000)
        .map(|i| {
            let latency = if i % 10 == 0 { 640 } else { 2_f64.powf((next() % 2_000) as f64 / 100.0) as i64 };
            let ttfb = (i % 3 != 0).then(|| (next() % 5_000) as i64);
            // Two buckets of 1,000: [0, 1000) and [1000, 2000).
            metered("ws", i % 2_000, "m", (Some("ak"), "sa"), 200, (1, 1), (latency, ttfb))
        })
        .collect();
    store.insert_usage(&records).await.unwrap();
    let series = store.usage_series(&usage_filter("ws", None, None, 0, 2_000), 1_000).await.unwrap();

    let check = |what: &str, estimate: Option<i64>, values: &mut Vec<i64>, percent: usize| {
        values.sort_unstable();
        let (estimate, truth) = (estimate.unwrap(), nearest_rank(values, percent));
        assert!((estimate - truth).abs() * 32 < truth.max(1), "{what} p{percent}: {estimate}, truly {truth}");
        if truth < 64 {
            assert_eq!(estimate, truth, "{what} p{percent}");
        }
    };
    let mut latencies: Vec<i64> = records.iter().map(|r| r.latency_ms).collect();
    let mut ttfbs: Vec<i64> = records.iter().filter_map(|r| r.ttfb_ms).collect();
    for (percent, latency, ttfb) in [
        (50, series.latency_ms.p50, series.ttfb_ms.p50),
        (90, series.latency_ms.p90, series.ttfb_ms.p90),
        (99, series.latency_ms.p99, series.ttfb_ms.p99),
    ] {
        check("latency", latency, &mut latencies, percent);
        check("ttfb", ttfb, &mut ttfbs, percent);
    }
    assert_eq!(series.latency_ms.max, latencies.last().copied());
    assert_eq!(series.ttfb_ms.max, ttfbs.last().copied());
    for bucket in &series.buckets {
        let mut values: Vec<i64> =
            records.iter().filter(|r| r.at / 1_000 * 1_000 == bucket.start).map(|r| r.latency_ms).collect();
        assert_eq!(bucket.sums.requests, 2_000);
        check("bucket latency", bucket.latency_ms_p50, &mut values, 50);
    }
}

async fn usage_groups_by_model_key_or_both_busiest_first(store: Arc<dyn Store>) {
    let key_a = (Some("ak_a"), "user-1");
    let key_b = (Some("ak_b"), "sa-1");
    let token = (None, "sa-1");
    #[rustfmt::skip]
    let records = [
        metered("ws", 1, "m1", key_a, 200, (1, 1), (10, None)),
        metered("ws", 2, "m1", key_b, 200, (2, 2), (10, None)),
        metered("ws", 3, "m2", key_b, 500, (3, 3), (10, None)),
        metered("ws", 4, "m2", token, 200, (4, 4), (10, None)),
        metered("ws", 5, "m2", token, 200, (5, 5), (10, None)),
        metered("ws", 6, "m2", token, 200, (6, 6), (10, None)),
        metered("other", 1, "m1", key_a, 200, (100, 100), (10, None)),
    ];
    store.insert_usage(&records).await.unwrap();
    let all = usage_filter("ws", None, None, 0, 100);
    let group = |model: Option<&str>, key: Option<&str>, subject: Option<&str>, sums: UsageSums| UsageGroup {
        workspace: None,
        model: model.map(Into::into),
        key: key.map(Into::into),
        subject: subject.map(Into::into),
        sums,
    };

    let by_model = store.usage_groups(&all, &[UsageDimension::Model], 10).await.unwrap();
    assert_eq!(
        by_model,
        UsageGroups {
            groups: vec![
                group(Some("m2"), None, None, sums(4, 1, 18, 18)),
                group(Some("m1"), None, None, sums(2, 0, 3, 3))
            ],
            truncated: false
        }
    );
    // The credential: API keys by id, access tokens by their service account.
    let by_key = store.usage_groups(&all, &[UsageDimension::Key], 10).await.unwrap();
    assert_eq!(
        by_key.groups,
        [
            group(None, Some("sa-1"), Some("sa-1"), sums(3, 0, 15, 15)),
            group(None, Some("ak_b"), Some("sa-1"), sums(2, 1, 5, 5)),
            group(None, Some("ak_a"), Some("user-1"), sums(1, 0, 1, 1)),
        ]
    );
    let both = store.usage_groups(&all, &[UsageDimension::Key, UsageDimension::Model], 10).await.unwrap();
    let pairs: Vec<(&str, &str, i64)> =
        both.groups.iter().map(|g| (g.model.as_deref().unwrap(), g.key.as_deref().unwrap(), g.sums.requests)).collect();
    assert_eq!(pairs, [("m2", "sa-1", 3), ("m1", "ak_a", 1), ("m1", "ak_b", 1), ("m2", "ak_b", 1)]);
    // The busiest within the limit, and word that more exist.
    let top = store.usage_groups(&all, &[UsageDimension::Key], 2).await.unwrap();
    assert_eq!((top.groups.len(), top.groups[1].key.as_deref(), top.truncated), (2, Some("ak_b"), true));
    let exact = store.usage_groups(&all, &[UsageDimension::Key], 3).await.unwrap();
    assert!(!exact.truncated);
    // Filters apply: one key's models.
    let one_key = usage_filter("ws", None, Some("ak_b"), 0, 100);
    let models = store.usage_groups(&one_key, &[UsageDimension::Model], 10).await.unwrap();
    let names: Vec<(&str, i64)> =
        models.groups.iter().map(|g| (g.model.as_deref().unwrap(), g.sums.requests)).collect();
    assert_eq!(names, [("m1", 1), ("m2", 1)]);
    assert_eq!(store.usage_groups(&all, &[], 10).await.unwrap(), UsageGroups::default());
}

/// Costs sum exactly (integers), unpriced requests count as requests but add no cost, cached
/// tokens are summed, and a filter over several workspaces groups by workspace.
async fn spend_and_cached_tokens_are_summed_and_grouped_across_workspaces(store: Arc<dyn Store>) {
    let key_a = (Some("ak_a"), "sa-1");
    let priced = |workspace: &str, at: Micros, cost: Option<i64>, cached: (i64, i64)| UsageRecord {
        cost_nano_usd: cost,
        cache_read_tokens: cached.0,
        cache_write_tokens: cached.1,
        ..metered(workspace, at, "m1", key_a, 200, (10, 2), (10, None))
    };
    let records = vec![
        priced("a", 1, Some(1_500), (4, 0)),
        priced("a", 2, Some(2_500_000_001), (0, 3)),
        priced("a", 3, None, (0, 0)),
        priced("b", 4, Some(7), (1, 1)),
        priced("c", 5, Some(1_000), (0, 0)),
    ];
    store.insert_usage(&records).await.unwrap();
    let stored = store.query_usage(&usage_query("a", None, 0, 100)).await.unwrap();
    assert_eq!(stored, records[..3], "the spend columns round trip");

    let one = usage_filter("a", None, None, 0, 100);
    let totals = store.usage_series(&one, 100).await.unwrap().totals;
    assert_eq!(
        (
            totals.requests,
            totals.priced_requests,
            totals.cost_nano_usd,
            totals.cache_read_tokens,
            totals.cache_write_tokens
        ),
        (3, 2, 2_500_001_501, 4, 3)
    );

    let two = UsageFilter { workspaces: vec!["a".into(), "b".into()], ..usage_filter("a", None, None, 0, 100) };
    let by_workspace = store.usage_groups(&two, &[UsageDimension::Workspace], 10).await.unwrap();
    let found: Vec<(&str, i64, i64)> = by_workspace
        .groups
        .iter()
        .map(|g| (g.workspace.as_deref().unwrap(), g.sums.requests, g.sums.cost_nano_usd))
        .collect();
    assert_eq!(found, [("a", 3, 2_500_001_501), ("b", 1, 7)], "workspace c is not asked for");
    let none = UsageFilter { workspaces: Vec::new(), ..usage_filter("a", None, None, 0, 100) };
    assert_eq!(store.usage_series(&none, 100).await.unwrap().totals, UsageSums::default());
}

// ---- behaviours on a URL ----

async fn reopening_keeps_everything(url: String) {
    let store = open(&url).await.unwrap();
    fill_workspace(&*store, WS).await;
    store.close().await;
    assert!(store.ping().await.is_err(), "a closed store answers no more");

    let store = open(&url).await.unwrap();
    assert_eq!(store.count_workspace_contents(WS).await.unwrap(), counts([1, 1, 1, 1, 0]));
    let connection = store.get_resource(&key(ResourceKind::IntegrationConnection, "conn")).await.unwrap().unwrap();
    assert_eq!(connection.sealed_secret, Some(sealed("k1", b"secret")));
    assert_eq!(store.query_usage(&usage_query(WS, None, 0, 100)).await.unwrap(), [usage(WS, "m", 7)]);
    store.close().await;
}

// ---- engine-specific ----

#[tokio::test]
async fn unknown_url_schemes_are_refused_without_echoing_the_url() {
    let result = open("mysql://user:hunter2@host/db").await;
    let Err(error) = result else { panic!("mysql is no engine of ours") };
    assert!(matches!(&error, StoreError::UnsupportedUrl(scheme) if scheme == "mysql"), "{error:?}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

/// Nodes starting together on an empty database: sqlx's migrator takes `pg_advisory_lock`, so
/// one migrates and the others wait, then find nothing to do.
#[tokio::test]
async fn postgres_nodes_opening_together_migrate_once() {
    let Some(schema) = postgres_support::TestSchema::create("postgres_nodes_opening_together_migrate_once").await
    else {
        return;
    };
    // Joined, not spawned: sqlx's migrator future cannot be proven `Send`. Each open waits on
    // the network, so the four still race for the lock.
    let url = schema.url.as_str();
    let opened = tokio::join!(open(url), open(url), open(url), open(url));
    let stores = [opened.0.unwrap(), opened.1.unwrap(), opened.2.unwrap(), opened.3.unwrap()];
    for (i, store) in stores.iter().enumerate() {
        assert!(store.ensure_workspace(&format!("ws{i}"), "test", 1).await.unwrap());
    }
    let pool = sqlx::PgPool::connect(&schema.url).await.unwrap();
    let migrations: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&pool)
        .await
        .unwrap();
    // Each migration of the directory applied once, whatever their number.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
    let expected: Vec<(i64, bool)> = (1..=files as i64).map(|version| (version, true)).collect();
    assert_eq!(migrations, expected);
    pool.close().await;
    for store in stores {
        store.close().await;
    }
}
