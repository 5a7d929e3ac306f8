//! The usage batch writer. The inference plane hands each request's [`UsageRecord`] to a
//! [`UsageWriter`], which never blocks or awaits; a background task writes them to the store in
//! batches (when `max_batch` are waiting, and every `flush_every`).
//!
//! A record is pushed onto a short mutex-guarded queue without waking the task: the task wakes
//! when a batch is waiting (`max_batch`, or half the queue if that is less) or at the next
//! interval, not once per request (a wakeup per record cost more than the record itself).
//!
//! Usage is billing data: records the store cannot take (a write fails or gets no answer within
//! [`WRITE_TIMEOUT`]) go to the local spool (`usage_spool`), and so does every record after them
//! until the spool is replayed, so it stays in order. While the store fails it is retried once
//! per interval; when it answers, the spool is replayed in batches and then emptied. Records
//! carry ids and the store skips ids it holds, so a batch written twice (no answer, but
//! committed; a crash during a replay) is stored once. A spool left by an earlier run is
//! replayed at start.
//!
//! Memory is bounded whatever the store does: the queue holds at most `capacity` records (a
//! record that finds it full is dropped and counted), and when the spool cannot take records
//! either (none configured, its disk write fails) the task keeps at most `capacity` (or
//! `max_batch`, if larger) of them, dropping and counting the oldest beyond that. Records are
//! also dropped when the spool is full (`spool_max_bytes`). Every drop is counted
//! ([`UsageWriterStats::dropped`]) and logged at error level, at most every ten seconds.

use crate::usage_spool::UsageSpool;
use crate::{UsageRecord, UsageStore};
use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Longest wait for the store to take one batch; without an answer by then the batch is spooled
/// (and written again later: if it was committed after all, the store skips it by id).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest the shutdown flush writes to the store; what is left then is spooled.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(10);
/// Longest one replay runs before the task looks at its queue and stop signal again (a large spool
/// is replayed over several turns).
const REPLAY_SLICE: Duration = Duration::from_secs(2);
/// Least time between two error lines about dropped records.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// How a [`UsageWriter`] batches and where it spools.
#[derive(Clone, Debug)]
pub struct UsageWriterSettings {
    /// Most records waiting in memory (see the module's documentation); at least 1.
    pub capacity: usize,
    /// Records per store write; at least 1.
    pub max_batch: usize,
    /// How often waiting records are written whatever their number (at least 1 ms).
    pub flush_every: Duration,
    /// Directory of the spool file; `None`: no spool (records the store cannot take are held in
    /// memory up to `capacity`).
    pub spool_dir: Option<PathBuf>,
    /// Largest size of the spool file, in bytes.
    pub spool_max_bytes: u64,
}

impl Default for UsageWriterSettings {
    fn default() -> UsageWriterSettings {
        UsageWriterSettings {
            capacity: UsageWriter::DEFAULT_CAPACITY,
            max_batch: UsageWriter::DEFAULT_MAX_BATCH,
            flush_every: UsageWriter::DEFAULT_FLUSH_EVERY,
            spool_dir: None,
            spool_max_bytes: UsageWriter::DEFAULT_SPOOL_MAX_BYTES,
        }
    }
}

/// What a [`UsageWriter`] did so far, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageWriterStats {
    /// Records in memory, neither stored nor spooled yet.
    pub queued: u64,
    /// Records stored (replayed ones included).
    pub written: u64,
    /// Records appended to the spool.
    pub spooled: u64,
    /// Bytes in the spool file.
    pub spool_bytes: u64,
    /// Records read back from the spool and stored.
    pub replayed: u64,
    /// Records lost: the queue or the spool full, the spool unwritable, unreadable spool lines.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    /// Gauges the task sets: records it holds, bytes in the spool.
    held: AtomicU64,
    spool_bytes: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Records handed over and not yet taken by the task.
struct Queue {
    records: Vec<UsageRecord>,
    /// The task has stopped taking records.
    closed: bool,
}

/// What the writers and the task share.
struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the task when `wake_at` records are waiting.
    full: Notify,
    capacity: usize,
    wake_at: usize,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Hands usage records to the writer task. Cheap to clone; [`UsageWriter::record`] never blocks.
#[derive(Clone)]
pub struct UsageWriter {
    shared: Arc<Shared>,
    /// Never sends: the task learns that every writer is gone when all these are dropped.
    _alive: mpsc::Sender<()>,
}

impl fmt::Debug for UsageWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageWriter").field("stats", &self.stats()).finish()
    }
}

/// The background task of a [`UsageWriter`]. Dropping it leaves the task running until every
/// `UsageWriter` is dropped; [`UsageWriterTask::shutdown`] stops it and flushes what is pending.
pub struct UsageWriterTask {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl UsageWriter {
    /// A sensible queue capacity: a few seconds of heavy traffic.
    pub const DEFAULT_CAPACITY: usize = 10_000;
    /// A sensible batch size: one transaction per 500 requests.
    pub const DEFAULT_MAX_BATCH: usize = 500;
    /// A sensible flush interval: usage shows up in the API within a second.
    pub const DEFAULT_FLUSH_EVERY: Duration = Duration::from_secs(1);
    /// A sensible spool bound: 1 GiB, about four million records.
    pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;

    /// Opens the spool, if any (a torn line left by a crash is cut and counted as dropped; a
    /// spool that cannot be opened is logged and the writer runs without one), and starts the
    /// writer task on the current Tokio runtime.
    pub fn spawn(store: Arc<dyn UsageStore>, settings: UsageWriterSettings) -> (UsageWriter, UsageWriterTask) {
        let capacity = settings.capacity.max(1);
        let max_batch = settings.max_batch.max(1);
        let flush_every = settings.flush_every.max(Duration::from_millis(1));
        let (alive, writers_gone) = mpsc::channel(1);
        let (stop, stopped) = oneshot::channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { records: Vec::new(), closed: false }),
            full: Notify::new(),
            capacity,
            wake_at: max_batch.min(capacity.div_ceil(2)),
            counters: Counters::default(),
        });
        let mut batcher = Batcher {
            store,
            pending: VecDeque::new(),
            limit: capacity.max(max_batch),
            max_batch,
            failing: false,
            spool: None,
            batch: Vec::new(),
            spare: Vec::new(),
            deadline: None,
            drops: DropLog::default(),
            shared: shared.clone(),
        };
        if let Some(dir) = &settings.spool_dir {
            match UsageSpool::open(dir, settings.spool_max_bytes) {
                Ok((spool, torn)) => {
                    batcher.spool = Some(Arc::new(Mutex::new(spool)));
                    batcher.dropped(
                        torn as usize,
                        "a torn line at the end of the usage spool (a crash mid-write) was cut",
                    );
                }
                Err(error) => tracing::error!(
                    %error,
                    dir = %dir.display(),
                    "cannot open the usage spool; usage records the store cannot take are held in memory only"
                ),
            }
        }
        batcher.publish(false);
        let handle = tokio::spawn(batcher.run(writers_gone, stopped, flush_every));
        (UsageWriter { shared, _alive: alive }, UsageWriterTask { stop, handle })
    }

    /// Queues a record for writing; if the queue is full or the task has stopped, the record is
    /// dropped and counted in [`UsageWriterStats::dropped`].
    pub fn record(&self, record: UsageRecord) {
        let mut queue = self.shared.lock();
        if queue.closed || queue.records.len() >= self.shared.capacity {
            drop(queue);
            Counters::add(&self.shared.counters.dropped, 1);
            return;
        }
        queue.records.push(record);
        let batch_waiting = queue.records.len() == self.shared.wake_at;
        drop(queue);
        if batch_waiting {
            self.shared.full.notify_one();
        }
    }

    /// Records dropped so far (queue full, spool full or unwritable, or writer stopped).
    pub fn dropped(&self) -> u64 {
        self.shared.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records written to the store so far.
    pub fn written(&self) -> u64 {
        self.shared.counters.written.load(Ordering::Relaxed)
    }

    /// The counters and gauges, read now.
    pub fn stats(&self) -> UsageWriterStats {
        let counters = &self.shared.counters;
        let queued = self.shared.lock().records.len() as u64;
        UsageWriterStats {
            queued: queued + counters.held.load(Ordering::Relaxed),
            written: counters.written.load(Ordering::Relaxed),
            spooled: counters.spooled.load(Ordering::Relaxed),
            spool_bytes: counters.spool_bytes.load(Ordering::Relaxed),
            replayed: counters.replayed.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
        }
    }
}

impl UsageWriterTask {
    /// Stops taking records, writes everything pending (for at most [`SHUTDOWN_BUDGET`], each
    /// write at most [`WRITE_TIMEOUT`]), spools what the store did not take, and returns when the
    /// task has ended. Only what the spool cannot take either is lost (counted and logged).
    pub async fn shutdown(self) {
        // An error means the task already ended (every UsageWriter was dropped): nothing to stop.
        let _ = self.stop.send(());
        if let Err(error) = self.handle.await {
            tracing::warn!(%error, "the usage writer task ended abnormally");
        }
    }
}

/// Drops not yet logged, so that they are logged at most every [`DROP_LOG_EVERY`].
#[derive(Default)]
struct DropLog {
    logged: u64,
    at: Option<Instant>,
    /// Why the task last dropped records; drops it did not log come from a full queue.
    reason: Option<&'static str>,
}

/// Runs `f` on the blocking pool (the spool's file I/O, `fsync` included).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::error!(%error, "a usage spool operation ended abnormally");
            None
        }
    }
}

fn lock(spool: &Mutex<UsageSpool>) -> MutexGuard<'_, UsageSpool> {
    spool.lock().unwrap_or_else(|p| p.into_inner())
}

/// The task's state: records taken from the queue and neither stored nor spooled, oldest first.
struct Batcher {
    store: Arc<dyn UsageStore>,
    pending: VecDeque<UsageRecord>,
    /// Most records kept pending when the spool cannot take them; beyond, the oldest are dropped.
    limit: usize,
    max_batch: usize,
    /// The last write failed: records go to the spool, and the store is retried once per
    /// interval, not on every batch.
    failing: bool,
    /// Only this task uses it; behind a mutex to be lent to the blocking pool.
    spool: Option<Arc<Mutex<UsageSpool>>>,
    /// Buffers reused from batch to batch.
    batch: Vec<UsageRecord>,
    spare: Vec<UsageRecord>,
    /// Set at shutdown: past it, nothing more is written to the store.
    deadline: Option<Instant>,
    drops: DropLog,
    shared: Arc<Shared>,
}

impl Batcher {
    async fn run(
        mut self,
        mut writers_gone: mpsc::Receiver<()>,
        mut stop: oneshot::Receiver<()>,
        flush_every: Duration,
    ) {
        if self.spooled() {
            tracing::info!(bytes = self.spool_bytes(), "replaying the usage records spooled by an earlier run");
            self.replay().await;
            self.publish(false);
        }
        let mut ticker = tokio::time::interval(flush_every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        let mut stop_pending = true;
        loop {
            tokio::select! {
                stopped = &mut stop, if stop_pending => match stopped {
                    Ok(()) => break,
                    // The UsageWriterTask was dropped: keep running until the writers go.
                    Err(_) => stop_pending = false,
                },
                _ = writers_gone.recv() => break, // every UsageWriter is gone
                _ = self.shared.full.notified() => self.step(false).await,
                _ = ticker.tick() => self.step(true).await,
            }
        }
        self.finish().await;
    }

    /// Takes the queue and writes: full batches only unless `tick`. Once the spool holds
    /// records, new ones are appended behind them and the spool is replayed; while the store
    /// fails, only a tick tries it again.
    async fn step(&mut self, tick: bool) {
        self.take(false);
        let retry = tick || !self.failing;
        if self.spooled() || !retry {
            self.spool_pending().await;
            if retry {
                self.replay().await;
            }
        } else if !self.write_pending(!tick).await {
            self.spool_pending().await;
        }
        self.trim();
        self.publish(false);
    }

    /// The shutdown flush: writes what is left within [`SHUTDOWN_BUDGET`], spools the rest.
    async fn finish(&mut self) {
        self.deadline = Some(Instant::now() + SHUTDOWN_BUDGET);
        self.take(true);
        if self.spooled() {
            self.spool_pending().await;
            self.replay().await;
        } else if !self.write_pending(false).await {
            self.spool_pending().await;
        }
        let lost = self.pending.len();
        self.pending.clear();
        self.dropped(lost, "usage records could be neither written nor spooled before shutdown");
        if self.spooled() {
            tracing::warn!(
                bytes = self.spool_bytes(),
                "usage records stay spooled; they are replayed at the next start"
            );
        }
        self.publish(true);
    }

    /// Moves the queued records to `pending` (swapping buffers, so neither side reallocates);
    /// `close` makes later records be dropped.
    fn take(&mut self, close: bool) {
        {
            let mut queue = self.shared.lock();
            queue.closed |= close;
            std::mem::swap(&mut queue.records, &mut self.spare);
        }
        self.pending.extend(self.spare.drain(..));
    }

    /// Drops the oldest pending records beyond `limit` (the spool did not take them).
    fn trim(&mut self) {
        let excess = self.pending.len().saturating_sub(self.limit);
        if excess > 0 {
            self.pending.drain(..excess);
            self.dropped(
                excess,
                "the store and the spool both failed: the oldest records beyond the queue size were dropped",
            );
        }
    }

    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Writes pending records in batches of `max_batch`: only full batches if `full_only`,
    /// else everything. Stops at the first failure (false), keeping the batch pending.
    async fn write_pending(&mut self, full_only: bool) -> bool {
        let min = if full_only { self.max_batch } else { 1 };
        while self.pending.len() >= min {
            if self.past_deadline() {
                return false;
            }
            let n = self.pending.len().min(self.max_batch);
            let mut batch = std::mem::take(&mut self.batch);
            batch.extend(self.pending.drain(..n));
            let stored = self.insert(&batch).await;
            if stored {
                Counters::add(&self.shared.counters.written, n);
            } else {
                for record in batch.drain(..).rev() {
                    self.pending.push_front(record);
                }
            }
            batch.clear();
            self.batch = batch;
            if !stored {
                return false;
            }
        }
        true
    }

    /// Writes one batch, taking the queue meanwhile (so a store slow to answer does not fill
    /// it). False if the store failed or did not answer in time.
    async fn insert(&mut self, batch: &[UsageRecord]) -> bool {
        let limit = self.deadline.map_or(WRITE_TIMEOUT, |d| d.saturating_duration_since(Instant::now()));
        let store = self.store.clone();
        let write = tokio::time::timeout(limit.min(WRITE_TIMEOUT), store.insert_usage(batch));
        tokio::pin!(write);
        let result = loop {
            tokio::select! {
                result = &mut write => break result,
                _ = self.shared.full.notified() => self.take(false),
            }
        };
        let error = match result {
            Ok(Ok(())) => {
                if self.failing {
                    tracing::info!("the store takes usage records again");
                }
                self.failing = false;
                return true;
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} ms", limit.min(WRITE_TIMEOUT).as_millis()),
        };
        if !self.failing {
            tracing::warn!(
                %error,
                spool = self.spool.is_some(),
                "writing usage records failed; they are spooled (or held in memory) and the store is retried every interval"
            );
        }
        self.failing = true;
        false
    }

    fn spooled(&self) -> bool {
        self.spool.as_deref().is_some_and(|spool| lock(spool).has_records())
    }

    fn spool_bytes(&self) -> u64 {
        self.spool.as_deref().map_or(0, |spool| lock(spool).bytes())
    }

    /// Appends every pending record to the spool (none without a spool). What does not fit is
    /// dropped; after a disk error the records stay pending.
    async fn spool_pending(&mut self) {
        let Some(spool) = self.spool.clone() else { return };
        if self.pending.is_empty() {
            return;
        }
        let records: Vec<UsageRecord> = self.pending.drain(..).collect();
        let count = records.len();
        match blocking(move || {
            let appended = lock(&spool).append(&records);
            (records, appended)
        })
        .await
        {
            Some((_, Ok(appended))) => {
                Counters::add(&self.shared.counters.spooled, appended);
                self.dropped(count - appended, "the usage spool is full (MODELGATE_USAGE_SPOOL_MAX_BYTES)");
            }
            Some((records, Err(error))) => {
                tracing::error!(%error, "cannot write the usage spool; the records are held in memory");
                self.pending.extend(records);
            }
            None => self.dropped(count, "writing the usage spool ended abnormally"),
        }
    }

    /// Stores the spooled records in order, a batch at a time, until the spool is empty, the
    /// store fails, [`REPLAY_SLICE`] has passed or the shutdown deadline has. Records arriving
    /// meanwhile are spooled behind them.
    async fn replay(&mut self) {
        let Some(spool) = self.spool.clone() else { return };
        let max = self.max_batch;
        let slice_ends = Instant::now() + REPLAY_SLICE;
        while self.spooled() && !self.past_deadline() && Instant::now() < slice_ends {
            let reader = spool.clone();
            let batch = match blocking(move || lock(&reader).read(max)).await {
                Some(Ok(batch)) => batch,
                Some(Err(error)) => {
                    tracing::error!(%error, "cannot read the usage spool; retrying at the next interval");
                    return;
                }
                None => return,
            };
            self.dropped(batch.skipped as usize, "unreadable lines in the usage spool were skipped");
            let n = batch.records.len();
            if n > 0 {
                if !self.insert(&batch.records).await {
                    return;
                }
                Counters::add(&self.shared.counters.written, n);
                Counters::add(&self.shared.counters.replayed, n);
            }
            // Nothing read although records were expected: the file shrank under us; start over.
            let end = if n == 0 && batch.skipped == 0 { u64::MAX } else { batch.end };
            let consumer = spool.clone();
            match blocking(move || lock(&consumer).consumed(end)).await {
                Some(Ok(())) => {}
                Some(Err(error)) => {
                    // Replayed again later: the store skips what it holds.
                    tracing::error!(%error, "cannot empty the usage spool");
                    return;
                }
                None => return,
            }
            if !self.spooled() {
                tracing::info!("every spooled usage record is stored");
            }
            self.take(false);
            if self.pending.len() >= self.max_batch {
                self.spool_pending().await;
            }
            self.publish(false);
        }
    }

    /// Counts `n` records as dropped, for `reason`.
    fn dropped(&mut self, n: usize, reason: &'static str) {
        if n > 0 {
            Counters::add(&self.shared.counters.dropped, n);
            self.drops.reason = Some(reason);
        }
    }

    /// Sets the gauges, and logs drops not yet logged (at most every [`DROP_LOG_EVERY`] unless
    /// `now`).
    fn publish(&mut self, now: bool) {
        let counters = &self.shared.counters;
        counters.held.store(self.pending.len() as u64, Ordering::Relaxed);
        counters.spool_bytes.store(self.spool_bytes(), Ordering::Relaxed);
        let dropped = counters.dropped.load(Ordering::Relaxed);
        let due = now || self.drops.at.is_none_or(|at| at.elapsed() >= DROP_LOG_EVERY);
        if dropped > self.drops.logged && due {
            tracing::error!(
                lost = dropped - self.drops.logged,
                total = dropped,
                reason =
                    self.drops.reason.take().unwrap_or("the in-memory queue was full (MODELGATE_USAGE_QUEUE_SIZE)"),
                "usage records were dropped"
            );
            self.drops.logged = dropped;
            self.drops.at = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Micros, StoreError, UsageQuery};
    use async_trait::async_trait;
    use std::sync::atomic::AtomicBool;

    const LONG: Duration = Duration::from_secs(3600);

    /// Usage kept in memory, skipping ids it holds as the SQL store does, whose writes fail while
    /// [`MemoryUsage::fail`] says so (or commit and then fail, while [`MemoryUsage::lose_answers`]
    /// says so): the writer's logic is engine-neutral, and this stands in for a database whose
    /// usage table is gone or whose answers are lost.
    #[derive(Default)]
    struct MemoryUsage {
        records: Mutex<Vec<UsageRecord>>,
        failing: AtomicBool,
        losing_answers: AtomicBool,
        attempts: AtomicU64,
    }

    impl MemoryUsage {
        fn fail(&self, failing: bool) {
            self.failing.store(failing, Ordering::Relaxed);
        }

        fn lose_answers(&self, losing: bool) {
            self.losing_answers.store(losing, Ordering::Relaxed);
        }
    }

    #[async_trait]
    impl UsageStore for MemoryUsage {
        async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            if self.failing.load(Ordering::Relaxed) {
                return Err(StoreError::Database("no such table: usage_records".into()));
            }
            let mut stored = self.records.lock().unwrap();
            for record in records {
                if record.id.is_none() || !stored.iter().any(|r| r.id == record.id) {
                    stored.push(record.clone());
                }
            }
            if self.losing_answers.load(Ordering::Relaxed) {
                return Err(StoreError::Database("connection reset after commit".into()));
            }
            Ok(())
        }

        async fn query_usage(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>, StoreError> {
            let records = self.records.lock().unwrap();
            let mut found: Vec<UsageRecord> = records
                .iter()
                .filter(|r| r.workspace == query.workspace && (query.from..query.to).contains(&r.at))
                .filter(|r| query.model.as_ref().is_none_or(|model| &r.model == model))
                .cloned()
                .collect();
            found.sort_by_key(|r| r.at);
            Ok(found)
        }

        async fn delete_usage_before(&self, before: Micros) -> Result<u64, StoreError> {
            let mut records = self.records.lock().unwrap();
            let count = records.len();
            records.retain(|r| r.at >= before);
            Ok((count - records.len()) as u64)
        }
    }

    fn settings(capacity: usize, max_batch: usize, flush_every: Duration) -> UsageWriterSettings {
        UsageWriterSettings { capacity, max_batch, flush_every, ..UsageWriterSettings::default() }
    }

    fn spooling(
        dir: &std::path::Path,
        capacity: usize,
        max_batch: usize,
        flush_every: Duration,
    ) -> UsageWriterSettings {
        UsageWriterSettings { spool_dir: Some(dir.to_path_buf()), ..settings(capacity, max_batch, flush_every) }
    }

    fn usage(at: Micros) -> UsageRecord {
        UsageRecord {
            id: Some(crate::UsageRecordId::next()),
            at,
            workspace: "ws".into(),
            model: "m".into(),
            subject: "sa".into(),
            key_id: None,
            provider: "openai".into(),
            status: 200,
            input_tokens: 1,
            output_tokens: 2,
            total_tokens: 3,
            latency_ms: 10,
            ttfb_ms: Some(5),
            ..UsageRecord::default()
        }
    }

    async fn stored(store: &MemoryUsage) -> Vec<Micros> {
        let query = UsageQuery { workspace: "ws".into(), model: None, from: 0, to: Micros::MAX };
        store.query_usage(&query).await.unwrap().iter().map(|r| r.at).collect()
    }

    /// Waits (up to 10 s) until `check` holds.
    async fn eventually(what: &str, check: impl Fn() -> bool) {
        for _ in 0..1_000 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}");
    }

    #[tokio::test]
    async fn writes_full_batches_and_keeps_the_rest_for_later() {
        let store = Arc::new(MemoryUsage::default());
        let (writer, task) = UsageWriter::spawn(store.clone(), settings(100, 3, LONG));
        for at in 0..7 {
            writer.record(usage(at));
        }
        eventually("two batches are written", || writer.written() == 6).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(writer.written(), 6, "the 7th waits for a full batch or the interval");
        assert_eq!(stored(&store).await, [0, 1, 2, 3, 4, 5]);
        task.shutdown().await;
        assert_eq!((writer.written(), writer.dropped()), (7, 0));
        assert_eq!(stored(&store).await, [0, 1, 2, 3, 4, 5, 6]);
    }

    #[tokio::test]
    async fn flushes_on_the_interval() {
        let store = Arc::new(MemoryUsage::default());
        let (writer, task) = UsageWriter::spawn(store.clone(), settings(100, 100, Duration::from_millis(30)));
        writer.record(usage(1));
        writer.record(usage(2));
        eventually("the interval flushes", || writer.written() == 2).await;
        assert_eq!(stored(&store).await, [1, 2]);
        task.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_flushes_everything_and_later_records_are_dropped() {
        let store = Arc::new(MemoryUsage::default());
        let (writer, task) = UsageWriter::spawn(store.clone(), settings(100, 100, LONG));
        for at in 0..5 {
            writer.record(usage(at));
        }
        task.shutdown().await;
        assert_eq!(writer.written(), 5);
        assert_eq!(stored(&store).await, [0, 1, 2, 3, 4]);
        writer.record(usage(9));
        assert_eq!(writer.dropped(), 1, "after shutdown the channel is closed");
    }

    #[tokio::test]
    async fn dropping_every_writer_flushes_and_ends_the_task() {
        let store = Arc::new(MemoryUsage::default());
        let (writer, task) = UsageWriter::spawn(store.clone(), settings(100, 100, LONG));
        let clone = writer.clone();
        writer.record(usage(1));
        clone.record(usage(2));
        drop(writer);
        drop(clone);
        eventually("the task ends by itself", || task.handle.is_finished()).await;
        assert_eq!(stored(&store).await, [1, 2], "flushed although the interval is an hour away");
        task.shutdown().await;
    }

    #[tokio::test]
    async fn counts_records_dropped_when_the_queue_is_full() {
        let store = Arc::new(MemoryUsage::default());
        // On this single-threaded runtime the task cannot run before the test awaits, so the
        // queue (capacity 2) fills up.
        let (writer, task) = UsageWriter::spawn(store.clone(), settings(2, 100, LONG));
        for at in 0..5 {
            writer.record(usage(at));
        }
        assert_eq!(writer.dropped(), 3);
        task.shutdown().await;
        assert_eq!((writer.written(), writer.dropped()), (2, 3));
        assert_eq!(stored(&store).await, [0, 1], "the records that fit are kept");
    }

    #[tokio::test]
    async fn retries_after_a_store_error() {
        let store = Arc::new(MemoryUsage::default());
        store.fail(true);
        let (writer, task) = UsageWriter::spawn(store.clone(), settings(100, 2, Duration::from_millis(20)));
        for at in 0..3 {
            writer.record(usage(at));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!((writer.written(), writer.dropped()), (0, 0), "kept, not written, not dropped");
        store.fail(false);
        eventually("the kept records are written", || writer.written() == 3).await;
        assert_eq!(stored(&store).await, [0, 1, 2]);
        assert_eq!(writer.dropped(), 0);
        task.shutdown().await;
    }

    #[tokio::test]
    async fn keeps_only_the_newest_records_while_the_store_fails() {
        let store = Arc::new(MemoryUsage::default());
        store.fail(true);
        let (writer, task) = UsageWriter::spawn(store.clone(), settings(3, 2, Duration::from_millis(20)));
        for at in 0..8 {
            writer.record(usage(at));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eventually("the oldest are dropped", || writer.dropped() == 5).await;
        store.fail(false);
        eventually("the newest are written", || writer.written() == 3).await;
        assert_eq!(stored(&store).await, [5, 6, 7]);
        task.shutdown().await;
        assert_eq!(writer.dropped(), 5);
    }

    #[tokio::test]
    async fn shutdown_with_a_failing_store_counts_the_lost_records() {
        let store = Arc::new(MemoryUsage::default());
        store.fail(true);
        let (writer, task) = UsageWriter::spawn(store.clone(), settings(100, 100, LONG));
        writer.record(usage(1));
        writer.record(usage(2));
        task.shutdown().await;
        assert_eq!((writer.written(), writer.dropped()), (0, 2));
    }

    #[tokio::test]
    async fn spools_while_the_store_fails_and_replays_in_order_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryUsage::default());
        store.fail(true);
        // A queue of 4 and batches of 2: far more records than memory holds.
        let (writer, task) = UsageWriter::spawn(store.clone(), spooling(dir.path(), 4, 2, Duration::from_millis(20)));
        for at in 0..40 {
            writer.record(usage(at));
            if at % 2 == 1 {
                // Two records wake the task, which spools them at once: the store is failing.
                eventually("the batch is spooled", || writer.stats().queued == 0).await;
            }
        }
        assert_eq!(writer.stats().spooled, 40);
        let stats = writer.stats();
        assert_eq!((stats.written, stats.dropped, stats.replayed, stats.queued), (0, 0, 0, 0));
        assert!(stats.spool_bytes > 0);
        assert_eq!(std::fs::metadata(dir.path().join(crate::SPOOL_FILE)).unwrap().len(), stats.spool_bytes);

        store.fail(false);
        // Queued behind the spooled ones: appended to the spool if the task takes it before its
        // retry finds the store back, else written once the spool is replayed. In order either way.
        writer.record(usage(40));
        eventually("the spool is replayed and emptied", || {
            let stats = writer.stats();
            (stats.written, stats.spool_bytes) == (41, 0)
        })
        .await;
        let stats = writer.stats();
        assert_eq!((stats.written, stats.dropped, stats.spool_bytes), (41, 0, 0), "{stats:?}");
        assert!((40..=41).contains(&stats.replayed), "{stats:?}");
        assert_eq!(stored(&store).await, (0..41).collect::<Vec<_>>(), "in order");
        assert_eq!(std::fs::metadata(dir.path().join(crate::SPOOL_FILE)).unwrap().len(), 0);
        writer.record(usage(41));
        eventually("later records go straight to the store", || writer.written() == 42).await;
        assert_eq!(writer.stats().replayed, stats.replayed, "not through the spool");
        task.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_with_a_failing_store_spools_and_the_next_start_replays() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryUsage::default());
        store.fail(true);
        let (writer, task) = UsageWriter::spawn(store.clone(), spooling(dir.path(), 100, 100, LONG));
        for at in 0..5 {
            writer.record(usage(at));
        }
        task.shutdown().await;
        let stats = writer.stats();
        assert_eq!((stats.written, stats.spooled, stats.dropped), (0, 5, 0), "{stats:?}");

        store.fail(false);
        let (writer, task) = UsageWriter::spawn(store.clone(), spooling(dir.path(), 100, 100, LONG));
        eventually("the spool is replayed at start", || writer.written() == 5).await;
        assert_eq!(writer.stats().replayed, 5);
        assert_eq!(stored(&store).await, [0, 1, 2, 3, 4]);
        task.shutdown().await;
    }

    #[tokio::test]
    async fn a_batch_committed_without_an_answer_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryUsage::default());
        store.lose_answers(true);
        let (writer, task) = UsageWriter::spawn(store.clone(), spooling(dir.path(), 100, 3, Duration::from_millis(20)));
        for at in 0..3 {
            writer.record(usage(at));
        }
        eventually("the unanswered batch is spooled", || writer.stats().spooled == 3).await;
        store.lose_answers(false);
        eventually("the spool is replayed", || writer.stats().replayed == 3).await;
        assert_eq!(stored(&store).await, [0, 1, 2], "written twice, stored once");
        task.shutdown().await;
        assert_eq!(writer.dropped(), 0);
    }

    #[tokio::test]
    async fn a_full_spool_drops_and_counts_what_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryUsage::default());
        store.fail(true);
        let line = serde_json::to_vec(&usage(0)).unwrap().len() as u64 + 1;
        let settings = UsageWriterSettings { spool_max_bytes: line * 2, ..spooling(dir.path(), 100, 100, LONG) };
        let (writer, task) = UsageWriter::spawn(store.clone(), settings);
        for at in 0..5 {
            writer.record(usage(at));
        }
        task.shutdown().await;
        let stats = writer.stats();
        assert_eq!((stats.spooled, stats.dropped), (2, 3), "{stats:?}");
        assert!(stats.spool_bytes <= line * 2);
    }

    #[tokio::test]
    async fn a_spool_that_cannot_be_written_keeps_records_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let store = Arc::new(MemoryUsage::default());
        store.fail(true);
        let (writer, task) = UsageWriter::spawn(store.clone(), spooling(&blocker, 100, 2, Duration::from_millis(20)));
        for at in 0..4 {
            writer.record(usage(at));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!((writer.stats().spooled, writer.dropped()), (0, 0));
        store.fail(false);
        eventually("the held records are written", || writer.written() == 4).await;
        assert_eq!(stored(&store).await, [0, 1, 2, 3]);
        task.shutdown().await;
    }
}
