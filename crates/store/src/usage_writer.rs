//! The usage batch writer. The inference plane hands each request's [`UsageRecord`] to a
//! [`UsageWriter`], which never blocks or awaits; a background task writes them to the store in
//! batches (when `max_batch` are waiting, and every `flush_every`).
//!
//! A record is pushed onto a short mutex-guarded queue without waking the task: the task wakes
//! when a full batch is waiting or at the next interval, not once per request (a wakeup per
//! record cost more than the record itself).
//!
//! Memory is bounded whatever the store does: the queue holds at most `capacity` records (a
//! record that finds it full is dropped and counted), and while the store fails the task keeps at
//! most `capacity` (or `max_batch`, if larger) unwritten records, dropping and counting the
//! oldest beyond that. Usage is metering, not billing-grade accounting: losing records under
//! overload is preferred to slowing requests down.

use crate::{UsageRecord, UsageStore};
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
}

impl Counters {
    fn add_dropped(&self, n: usize) {
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
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
    /// Wakes the task when a full batch is waiting.
    full: Notify,
    capacity: usize,
    max_batch: usize,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
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
        f.debug_struct("UsageWriter").field("written", &self.written()).field("dropped", &self.dropped()).finish()
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

    /// Starts the writer task on the current Tokio runtime. `capacity`, `max_batch` and
    /// `flush_every` are raised to at least 1 (record, record, millisecond).
    pub fn spawn(
        store: Arc<dyn UsageStore>,
        capacity: usize,
        max_batch: usize,
        flush_every: Duration,
    ) -> (UsageWriter, UsageWriterTask) {
        let capacity = capacity.max(1);
        let max_batch = max_batch.max(1);
        let flush_every = flush_every.max(Duration::from_millis(1));
        let (alive, writers_gone) = mpsc::channel(1);
        let (stop, stopped) = oneshot::channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { records: Vec::new(), closed: false }),
            full: Notify::new(),
            capacity,
            max_batch,
            counters: Counters::default(),
        });
        let batcher = Batcher {
            store,
            pending: VecDeque::new(),
            limit: capacity.max(max_batch),
            max_batch,
            failing: false,
            shared: shared.clone(),
        };
        let handle = tokio::spawn(batcher.run(writers_gone, stopped, flush_every));
        (UsageWriter { shared, _alive: alive }, UsageWriterTask { stop, handle })
    }

    /// Queues a record for writing; if the queue is full or the task has stopped, the record is
    /// dropped and counted in [`UsageWriter::dropped`].
    pub fn record(&self, record: UsageRecord) {
        let mut queue = self.shared.lock();
        if queue.closed || queue.records.len() >= self.shared.capacity {
            drop(queue);
            self.shared.counters.add_dropped(1);
            return;
        }
        queue.records.push(record);
        let batch_waiting = queue.records.len() == self.shared.max_batch;
        drop(queue);
        if batch_waiting {
            self.shared.full.notify_one();
        }
    }

    /// Records dropped so far (queue full, store failing too long, or writer stopped).
    pub fn dropped(&self) -> u64 {
        self.shared.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records written to the store so far.
    pub fn written(&self) -> u64 {
        self.shared.counters.written.load(Ordering::Relaxed)
    }
}

impl UsageWriterTask {
    /// Stops taking records, writes everything pending (one attempt; what fails is logged and
    /// counted as dropped), and returns when the task has ended.
    pub async fn shutdown(self) {
        // An error means the task already ended (every UsageWriter was dropped): nothing to stop.
        let _ = self.stop.send(());
        if let Err(error) = self.handle.await {
            tracing::warn!(%error, "the usage writer task ended abnormally");
        }
    }
}

/// The task's state: records taken from the queue and not yet written, oldest first.
struct Batcher {
    store: Arc<dyn UsageStore>,
    pending: VecDeque<UsageRecord>,
    /// Most records kept pending; beyond, the oldest are dropped.
    limit: usize,
    max_batch: usize,
    /// The last write failed: wait for the next tick instead of retrying on every full batch.
    failing: bool,
    shared: Arc<Shared>,
}

impl Batcher {
    async fn run(
        mut self,
        mut writers_gone: mpsc::Receiver<()>,
        mut stop: oneshot::Receiver<()>,
        flush_every: Duration,
    ) {
        let mut ticker = tokio::time::interval(flush_every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        let mut taken = Vec::new();
        let mut stop_pending = true;
        loop {
            tokio::select! {
                stopped = &mut stop, if stop_pending => match stopped {
                    Ok(()) => break,
                    // The UsageWriterTask was dropped: keep running until the writers go.
                    Err(_) => stop_pending = false,
                },
                _ = writers_gone.recv() => break, // every UsageWriter is gone
                _ = self.shared.full.notified() => {
                    self.take(&mut taken, false);
                    if !self.failing {
                        self.write(true).await;
                    }
                }
                _ = ticker.tick() => {
                    self.take(&mut taken, false);
                    self.write(false).await;
                }
            }
        }
        self.take(&mut taken, true);
        self.write(false).await;
        if !self.pending.is_empty() {
            tracing::warn!(lost = self.pending.len(), "usage records could not be written before shutdown");
            self.shared.counters.add_dropped(self.pending.len());
        }
    }

    /// Moves the queued records to `pending` (swapping buffers, so neither side reallocates);
    /// `close` makes later records be dropped.
    fn take(&mut self, spare: &mut Vec<UsageRecord>, close: bool) {
        {
            let mut queue = self.shared.lock();
            queue.closed |= close;
            std::mem::swap(&mut queue.records, spare);
        }
        for record in spare.drain(..) {
            self.push(record);
        }
    }

    fn push(&mut self, record: UsageRecord) {
        self.pending.push_back(record);
        if self.pending.len() > self.limit {
            self.pending.pop_front();
            self.shared.counters.add_dropped(1);
        }
    }

    /// Writes pending records in batches of `max_batch`: only full batches if `full_only`,
    /// else everything. Stops at the first failure, keeping the batch for the next try.
    async fn write(&mut self, full_only: bool) {
        let min = if full_only { self.max_batch } else { 1 };
        while self.pending.len() >= min {
            let n = self.pending.len().min(self.max_batch);
            let batch = &self.pending.make_contiguous()[..n];
            match self.store.insert_usage(batch).await {
                Ok(()) => {
                    self.pending.drain(..n);
                    self.shared.counters.written.fetch_add(n as u64, Ordering::Relaxed);
                    self.failing = false;
                }
                Err(error) => {
                    tracing::warn!(
                        %error,
                        pending = self.pending.len(),
                        dropped = self.shared.counters.dropped.load(Ordering::Relaxed),
                        "writing usage records failed; they are kept for the next try"
                    );
                    self.failing = true;
                    return;
                }
            }
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

    /// Usage kept in memory, whose writes fail while [`MemoryUsage::fail`] says so: the writer's
    /// logic is engine-neutral, and this stands in for a database whose usage table is gone.
    #[derive(Default)]
    struct MemoryUsage {
        records: Mutex<Vec<UsageRecord>>,
        failing: AtomicBool,
    }

    impl MemoryUsage {
        fn fail(&self, failing: bool) {
            self.failing.store(failing, Ordering::Relaxed);
        }
    }

    #[async_trait]
    impl UsageStore for MemoryUsage {
        async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
            if self.failing.load(Ordering::Relaxed) {
                return Err(StoreError::Database("no such table: usage_records".into()));
            }
            self.records.lock().unwrap().extend_from_slice(records);
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

    fn usage(at: Micros) -> UsageRecord {
        UsageRecord {
            id: None,
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
        let (writer, task) = UsageWriter::spawn(store.clone(), 100, 3, LONG);
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
        let (writer, task) = UsageWriter::spawn(store.clone(), 100, 100, Duration::from_millis(30));
        writer.record(usage(1));
        writer.record(usage(2));
        eventually("the interval flushes", || writer.written() == 2).await;
        assert_eq!(stored(&store).await, [1, 2]);
        task.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_flushes_everything_and_later_records_are_dropped() {
        let store = Arc::new(MemoryUsage::default());
        let (writer, task) = UsageWriter::spawn(store.clone(), 100, 100, LONG);
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
        let (writer, task) = UsageWriter::spawn(store.clone(), 100, 100, LONG);
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
        let (writer, task) = UsageWriter::spawn(store.clone(), 2, 100, LONG);
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
        let (writer, task) = UsageWriter::spawn(store.clone(), 100, 2, Duration::from_millis(20));
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
        let (writer, task) = UsageWriter::spawn(store.clone(), 3, 2, Duration::from_millis(20));
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
        let (writer, task) = UsageWriter::spawn(store.clone(), 100, 100, LONG);
        writer.record(usage(1));
        writer.record(usage(2));
        task.shutdown().await;
        assert_eq!((writer.written(), writer.dropped()), (0, 2));
    }
}
