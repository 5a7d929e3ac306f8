//! The usage writer's local spool: records the store could not take, kept on disk until it can.
//!
//! One append-only file of JSON lines (`usage-spool.jsonl`, a [`UsageRecord`] per line) in the
//! spool directory, created when first needed with mode 0600. Records are appended a batch at a
//! time, each batch followed by an `fsync`, and read back in order from a cursor; once every
//! record has been read back and stored, the file is emptied. A file left by an earlier run is
//! read from its start: records stored before a crash are written again, and the store skips
//! them by id.
//!
//! A crash mid-append can leave a torn last line (or zeros, on some file systems): opening cuts
//! the file back to its last complete line and counts what it cut; any other line that does not
//! parse is skipped and counted when read. The file never grows beyond `max_bytes`: a batch that
//! does not fit is appended as far as it fits, and the caller drops the rest.
//!
//! Blocking file I/O: the writer task runs it off the runtime's threads (`spawn_blocking`).

use crate::UsageRecord;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The spool file's name in its directory.
pub const SPOOL_FILE: &str = "usage-spool.jsonl";

/// Records read back from the spool: see [`UsageSpool::read`].
#[derive(Debug, Default)]
pub(crate) struct SpoolBatch {
    pub records: Vec<UsageRecord>,
    /// Lines that were not a record (torn or corrupt), skipped.
    pub skipped: u64,
    /// Where the batch ends: pass it to [`UsageSpool::consumed`] once the records are stored.
    pub end: u64,
}

/// The spool file and how far it has been read back.
#[derive(Debug)]
pub(crate) struct UsageSpool {
    dir: PathBuf,
    path: PathBuf,
    /// The file opened for appending, once it exists.
    file: Option<File>,
    /// Bytes in the file.
    len: u64,
    /// Bytes already read back and stored.
    read_at: u64,
    max_bytes: u64,
}

impl UsageSpool {
    /// Opens the spool in `dir` (the file is created on the first append). Returns it and the
    /// number of torn lines cut from the end of a file left by a crash (0 or 1).
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(UsageSpool, u64)> {
        let path = dir.join(SPOOL_FILE);
        let mut spool = UsageSpool { dir: dir.to_path_buf(), path, file: None, len: 0, read_at: 0, max_bytes };
        let file = match OpenOptions::new().read(true).append(true).open(&spool.path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok((spool, 0)),
            Err(error) => return Err(error),
        };
        spool.len = file.metadata()?.len();
        let torn = cut_torn_tail(&file, spool.len)?;
        spool.len = file.metadata()?.len();
        spool.file = Some(file);
        Ok((spool, torn))
    }

    /// Bytes in the spool file (records not yet read back, and those read back until the file
    /// is emptied).
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// Whether records wait to be read back.
    pub fn has_records(&self) -> bool {
        self.read_at < self.len
    }

    /// Appends `records` in order as far as they fit under the size bound, then syncs the file.
    /// Returns how many were appended (the rest did not fit); on an I/O error nothing is
    /// appended (the file is cut back to where it was).
    pub fn append(&mut self, records: &[UsageRecord]) -> io::Result<usize> {
        let mut lines = Vec::new();
        let mut fitting = 0;
        for record in records {
            let before = lines.len();
            serde_json::to_writer(&mut lines, record).map_err(io::Error::other)?;
            lines.push(b'\n');
            if self.len + lines.len() as u64 > self.max_bytes {
                lines.truncate(before);
                break;
            }
            fitting += 1;
        }
        if lines.is_empty() {
            return Ok(0);
        }
        let len = self.len;
        let file = self.file_for_append()?;
        let written = file.write_all(&lines).and_then(|()| file.sync_data());
        if let Err(error) = written {
            // Best effort: a part left behind is skipped as a corrupt line when read back.
            let _ = file.set_len(len);
            return Err(error);
        }
        self.len += lines.len() as u64;
        Ok(fitting)
    }

    /// Reads up to `max` records from the cursor, in the order they were appended.
    pub fn read(&self, max: usize) -> io::Result<SpoolBatch> {
        let mut batch = SpoolBatch { end: self.read_at, ..SpoolBatch::default() };
        if !self.has_records() {
            return Ok(batch);
        }
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.read_at))?;
        let mut reader = BufReader::new(file.take(self.len - self.read_at));
        let mut line = Vec::new();
        while batch.records.len() < max {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            batch.end += read as u64;
            match serde_json::from_slice(&line) {
                Ok(record) if line.ends_with(b"\n") => batch.records.push(record),
                _ => batch.skipped += 1,
            }
        }
        Ok(batch)
    }

    /// Records up to `end` are stored: moves the cursor there, and empties the file once
    /// everything in it is.
    pub fn consumed(&mut self, end: u64) -> io::Result<()> {
        self.read_at = end.min(self.len);
        if self.read_at == self.len && self.len > 0 {
            if let Some(file) = &self.file {
                file.set_len(0)?;
                file.sync_data()?;
            }
            self.len = 0;
            self.read_at = 0;
        }
        Ok(())
    }

    fn file_for_append(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let mut dir = std::fs::DirBuilder::new();
            dir.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
            dir.create(&self.dir)?;
            let mut options = OpenOptions::new();
            options.read(true).append(true).create(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(&self.path)?;
            // The new file's name must survive a crash too.
            #[cfg(unix)]
            File::open(&self.dir)?.sync_all()?;
            self.len = file.metadata()?.len();
            self.file = Some(file);
        }
        self.file.as_mut().ok_or_else(|| io::Error::other("the spool file is not open"))
    }
}

/// Cuts `file` (of `len` bytes) back to the end of its last complete line; returns 1 if it cut a
/// torn line, else 0.
fn cut_torn_tail(file: &File, len: u64) -> io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut reader = file;
    let mut end = len;
    let mut chunk = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        chunk.resize((end - start) as usize, 0);
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(&mut chunk)?;
        if let Some(newline) = chunk.iter().rposition(|&byte| byte == b'\n') {
            end = start + newline as u64 + 1;
            break;
        }
        end = start;
    }
    if end == len {
        return Ok(0);
    }
    file.set_len(end)?;
    file.sync_data()?;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UsageRecordId;

    fn usage(at: i64) -> UsageRecord {
        UsageRecord { id: Some(UsageRecordId::next()), at, workspace: "ws".into(), status: 200, ..Default::default() }
    }

    fn read_all(spool: &UsageSpool) -> SpoolBatch {
        spool.read(usize::MAX).unwrap()
    }

    fn ats(records: &[UsageRecord]) -> Vec<i64> {
        records.iter().map(|r| r.at).collect()
    }

    #[test]
    fn records_are_read_back_in_order_and_the_file_is_emptied_once_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, torn) = UsageSpool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!((torn, spool.bytes(), spool.has_records()), (0, 0, false));
        assert!(!dir.path().join(SPOOL_FILE).exists(), "created only when needed");
        let records: Vec<UsageRecord> = (0..5).map(usage).collect();
        assert_eq!(spool.append(&records[..3]).unwrap(), 3);
        assert_eq!(spool.append(&records[3..]).unwrap(), 2);
        assert!(spool.has_records());

        let first = spool.read(2).unwrap();
        assert_eq!(first.records, records[..2]);
        spool.consumed(first.end).unwrap();
        let rest = read_all(&spool);
        assert_eq!((rest.records.as_slice(), rest.skipped), (&records[2..], 0));
        assert_eq!(spool.bytes(), std::fs::metadata(dir.path().join(SPOOL_FILE)).unwrap().len());
        spool.consumed(rest.end).unwrap();
        assert_eq!((spool.bytes(), spool.has_records()), (0, false));
        assert_eq!(std::fs::metadata(dir.path().join(SPOOL_FILE)).unwrap().len(), 0, "emptied");
        assert_eq!(spool.append(&records[..1]).unwrap(), 1, "appends after emptying");
        assert_eq!(read_all(&spool).records, records[..1]);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = UsageSpool::open(&dir.path().join("new"), 1 << 20).unwrap();
        spool.append(&[usage(1)]).unwrap();
        let mode = std::fs::metadata(dir.path().join("new").join(SPOOL_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_spool_left_by_an_earlier_run_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<UsageRecord> = (0..4).map(usage).collect();
        {
            let (mut spool, _) = UsageSpool::open(dir.path(), 1 << 20).unwrap();
            spool.append(&records).unwrap();
            // Half read back and stored before the crash: read again, the store skips them by id.
            let half = spool.read(2).unwrap();
            spool.consumed(half.end).unwrap();
        }
        let (spool, torn) = UsageSpool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(torn, 0);
        assert_eq!(read_all(&spool).records, records);
    }

    #[test]
    fn a_torn_last_line_is_cut_and_counted_and_appends_go_on_after_it() {
        for tail in [&b"{\"id\":\"00"[..], b"\0\0\0\0", b"{"] {
            let dir = tempfile::tempdir().unwrap();
            let records: Vec<UsageRecord> = (0..3).map(usage).collect();
            let (mut spool, _) = UsageSpool::open(dir.path(), 1 << 20).unwrap();
            spool.append(&records[..2]).unwrap();
            let whole = spool.bytes();
            drop(spool);
            let mut file = OpenOptions::new().append(true).open(dir.path().join(SPOOL_FILE)).unwrap();
            file.write_all(tail).unwrap();

            let (mut spool, torn) = UsageSpool::open(dir.path(), 1 << 20).unwrap();
            assert_eq!((torn, spool.bytes()), (1, whole), "{tail:?}");
            spool.append(&records[2..]).unwrap();
            let read = read_all(&spool);
            assert_eq!((ats(&read.records), read.skipped), (vec![0, 1, 2], 0), "{tail:?}");
        }
    }

    #[test]
    fn a_file_of_one_torn_line_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SPOOL_FILE), b"{\"at\":1").unwrap();
        let (spool, torn) = UsageSpool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!((torn, spool.bytes(), spool.has_records()), (1, 0, false));
    }

    #[test]
    fn corrupt_lines_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let good = serde_json::to_string(&usage(7)).unwrap();
        let text = format!("not json\n{good}\n{{\"at\":\"x\"}}\n\0\0\n{good}\n");
        std::fs::write(dir.path().join(SPOOL_FILE), text).unwrap();
        let (spool, torn) = UsageSpool::open(dir.path(), 1 << 20).unwrap();
        let read = read_all(&spool);
        assert_eq!((torn, ats(&read.records), read.skipped), (0, vec![7, 7], 3));
    }

    #[test]
    fn the_size_bound_holds_and_what_does_not_fit_is_left_to_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let line = serde_json::to_vec(&usage(1)).unwrap().len() as u64 + 1;
        let (mut spool, _) = UsageSpool::open(dir.path(), line * 3 + line / 2).unwrap();
        let records: Vec<UsageRecord> = (0..5).map(usage).collect();
        assert_eq!(spool.append(&records[..2]).unwrap(), 2);
        assert_eq!(spool.append(&records[2..]).unwrap(), 1, "one more fits");
        assert_eq!(spool.append(&records[4..]).unwrap(), 0, "full");
        assert!(spool.bytes() <= line * 3 + line / 2);
        assert_eq!(ats(&read_all(&spool).records), [0, 1, 2]);
        spool.consumed(read_all(&spool).end).unwrap();
        assert_eq!(spool.append(&records[3..]).unwrap(), 2, "room again once replayed");
    }

    #[test]
    fn an_unusable_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        assert!(UsageSpool::open(&blocker.join("spool"), 1 << 20).is_err());
        // A directory that is missing at start and cannot be made when first needed.
        let later = dir.path().join("later");
        let (mut spool, _) = UsageSpool::open(&later, 1 << 20).unwrap();
        std::fs::write(&later, b"x").unwrap();
        assert!(spool.append(&[usage(1)]).is_err());
        assert_eq!((spool.bytes(), spool.has_records()), (0, false));
    }
}
